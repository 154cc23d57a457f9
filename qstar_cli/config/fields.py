"""The typing and checking every config section shares: values coerced to a field's annotation,
`Literal` choices and `min` / `max` bounds checked, and a backend's own options checked against its
constructor."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from qstar_cli.errors import QstarError


def check_backend_options(options: dict, where: str) -> dict:
    """{backend: {option: value}} checked against each backend's constructor and its own
    `check_options`; values typed like any config key. Reads no model."""
    from qstar_cli.backends import BACKENDS, backend_class, option_specs

    checked = {}
    for name, values in options.items():
        if name not in BACKENDS:
            raise QstarError(f"unknown backend {name!r} in {where}; choose one of: {', '.join(BACKENDS)}")
        if not isinstance(values, dict):
            raise QstarError(f"{where}.{name} must be a mapping of options, got {values!r}")
        specs = option_specs(name)
        for key in values:
            if key not in specs:
                raise QstarError(
                    f"unknown option {where}.{name}.{key}; the {name} backend takes: "
                    f"{', '.join(sorted(specs)) or 'no options'}"
                )
        checked[name] = {key: coerce(value, specs[key][0], f"{where}.{name}.{key}") for key, value in values.items()}
        backend_class(name).check_options(checked[name], f"{where}.{name}")
    return checked


def check_fields(section: Any, prefix: str) -> None:
    """Each field's `Literal` choices, `metadata["min"]` / `["max"]` bounds and `["positive"]`, checked on the
    section's values."""
    hints = typing.get_type_hints(type(section))
    for f in dataclasses.fields(section):
        value, hint = getattr(section, f.name), hints[f.name]
        choices = literal_choices(hint)
        if choices and value not in choices:
            raise QstarError(f"unknown {prefix}{f.name} {value!r}; choose one of: {', '.join(map(str, choices))}")
        positive = f.metadata.get("positive")  # True: > 0; "or zero": >= 0, where 0 has a meaning of its own
        if positive and value is not None and (value < 0 or (value == 0 and positive != "or zero")):
            raise QstarError(f"{prefix}{f.name} must be positive, got {value}")
        low, high = f.metadata.get("min"), f.metadata.get("max")
        if low is not None and value is not None and value < low:
            raise QstarError(f"{prefix}{f.name} must be at least {low}, got {value}")
        if high is not None and value is not None and value > high:
            raise QstarError(f"{prefix}{f.name} must be at most {high}, got {value}")


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check (and lightly convert) a value against a field's type annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value in choices:
            return value
        raise QstarError(f"unknown {key} {value!r}; choose one of: {', '.join(map(str, choices))}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except QstarError as exc:
                errors.append(exc)
        raise errors[0]
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is list:
        if isinstance(value, list):
            return value
    elif origin is dict:
        if isinstance(value, dict):
            return value
    else:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise QstarError(f"config key {key!r} must be {name}, got {value!r}")


def literal_choices(hint: Any) -> tuple:
    """The allowed values of a `Literal[...]` (or `Literal[...] | None`) annotation; () otherwise."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(c for arg in typing.get_args(hint) for c in literal_choices(arg))
    return ()
