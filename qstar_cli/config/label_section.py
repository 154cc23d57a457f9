"""The label section, built from the label-method registry: the keys every method shares, then each
method's own keys, derived from its config in `qstar_cli.labelers.LABELERS` so that a method's
settings are declared once, where the method is. Every method's keys are checked (a recipe shared
by several methods may set them), the chosen method's cross-field checks too."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from qstar_cli.config.fields import check_backend_options, check_fields
from qstar_cli.errors import QstarError


@dataclass
class _LabelShared:
    method: str = "rollout"  # a name in qstar_cli.labelers.LABELERS
    input: str | None = None  # a collect-rollouts run directory
    gamma: float = 1.0  # discount
    reuse: str | None = None  # a label run of the same rollouts: relabel from its recorded continuations
    limit: int = 0  # > 0: label only the first N questions of the input run (label methods compared on a subset)
    # questions whose states go to the backend in one call
    batch_questions: int = field(default=16, metadata={"positive": True})
    out: str | None = None


def _label_fields() -> list[tuple[str, Any, Any]]:
    from qstar_cli.labelers import LABELERS

    out, seen = [], set()
    for cls in (_LabelShared, *(m.config for m in LABELERS.values())):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in seen:  # methods sharing a key share its type and default
                continue
            seen.add(f.name)
            default = (
                {"default": f.default}
                if f.default_factory is dataclasses.MISSING
                else {"default_factory": f.default_factory}
            )
            out.append((f.name, hints[f.name], field(**default, metadata=f.metadata)))
    return out


def _validate_label(self) -> None:
    from qstar_cli.backends import BACKENDS, backend_class, choices
    from qstar_cli.labelers import LABELERS

    if self.method not in LABELERS:
        raise QstarError(f"unknown label.method {self.method!r}; choose one of: {', '.join(LABELERS)}")
    method = LABELERS[self.method]
    problems = method.configure(self).problems()
    if problems:  # the chosen method's own cross-field checks first: they say what the setting means
        raise QstarError(problems[0])
    check_fields(self, "label.")
    if not 0 < self.gamma <= 1:
        raise QstarError(f"label.gamma must be in (0, 1], got {self.gamma}")
    own = {f.name for f in dataclasses.fields(method.config)}
    for f in dataclasses.fields(self):
        value, model_key = getattr(self, f.name), f.metadata.get("backend")
        if model_key and value not in choices():
            raise QstarError(f"unknown label.{f.name} {value!r}; choose one of: {', '.join(choices())}")
        if (
            model_key
            and f.name in own
            and value in BACKENDS
            and backend_class(value).serves_by_name
            and not getattr(self, model_key)
        ):
            raise QstarError(
                f"--method {self.method} with the {value} backend needs --{model_key.replace('_', '-')} "
                f"(the served model name)"
            )
        if f.metadata.get("backend_options"):
            setattr(self, f.name, check_backend_options(value, f"label.{f.name}"))
    if self.limit < 0:
        raise QstarError(f"label.limit must be >= 0, got {self.limit}")
    if self.reuse and not method.reuses:
        raise QstarError(
            f"--reuse relabels from recorded continuations; --method {self.method} does not label "
            f"from continuations (methods that do: {', '.join(n for n, m in LABELERS.items() if m.reuses)})"
        )


def build_label_section() -> type:
    """The section's class from the registry as it is now (a test that registers a toy method rebuilds it)."""
    cls = dataclasses.make_dataclass(
        "LabelSection",
        _label_fields(),
        namespace={"validate": _validate_label},
    )
    cls.__module__ = __name__
    cls.__doc__ = "The label section: shared keys, and every label method's own keys."
    return cls


LabelSection = build_label_section()
