"""Resolving a stage config: dataclass defaults < the dataset's defaults (code: temperature 0.2)
< input run < recipe YAML < --set < flags.

Every key is typed and checked; an unknown key is an error that names it (with a close match when
there is one). A recipe may `extends: other.yaml` (a path relative to the recipe; its keys are
overridden by the recipe's own) and may hold `stages: {STAGE: {section: {...}}}`, overrides that
only STAGE reads (e.g. rollouts on the train split, eval on the test split). Also: YAML loading
with file:line errors, and the semantic view and diff used to decide whether an existing run
directory may be resumed.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any

import yaml

from qstar_cli.config.fields import coerce
from qstar_cli.config.sections import EXECUTION_KEYS, SECTIONS, STAGE_CONFIGS, dataset_defaults
from qstar_cli.errors import QstarError


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QstarError(f"recipe not found: {path}") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise QstarError(f"cannot read recipe {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise QstarError(f"{path}{where}: invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise QstarError(f"{path}: a recipe must be a YAML mapping of sections, got {type(data).__name__}")
    return data


def load_recipe(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """A recipe with its `extends` chain merged in (the recipe's own keys win)."""
    path = Path(path)
    if path.resolve() in _chain:
        raise QstarError(f"recipe {path} extends itself (through {' -> '.join(str(p) for p in _chain)})")
    data = load_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise QstarError(f"{path}: extends must be the path of another recipe, got {parent!r}")
    base = load_recipe(path.parent / parent, _chain + (path.resolve(),))
    return _merge(base, data)


def recipe_layers(recipe: str | Path, stage: str | None) -> list[tuple[str, dict]]:
    """The recipe's shared sections, then the overrides of `stage` (all stages' overrides checked)."""
    data = load_recipe(recipe)
    stages = data.pop("stages", None) or {}
    if not isinstance(stages, dict):
        raise QstarError(f"{recipe}: stages must map a stage ({', '.join(STAGE_CONFIGS)}) to its overrides")
    for name, override in stages.items():
        if name not in STAGE_CONFIGS:
            raise _unknown(f"stages.{name}", [f"stages.{s}" for s in STAGE_CONFIGS], str(recipe))
        if not isinstance(override, dict):
            raise QstarError(f"{recipe}: stages.{name} must be a mapping of sections, got {override!r}")
        _check_layer(override, f"{recipe} (stages.{name})")
    layers = [(str(recipe), data)]
    if stage in stages:
        layers.append((f"{recipe} (stages.{stage})", stages[stage]))
    return layers


def _check_layer(layer: dict, where: str) -> dict:
    """Each section of a layer, its keys checked and typed."""
    checked = {}
    for section, values in layer.items():
        if section not in SECTIONS:
            raise _unknown(str(section), list(SECTIONS), where)
        if not isinstance(values, dict):
            raise QstarError(f"{where}: section {section!r} must be a mapping of keys, got {values!r}")
        checked[section] = build_section(SECTIONS[section], values, f"{section}.", where)
    return checked


def parse_set(item: str) -> tuple[str, Any]:
    """`a.b=value` -> ("a.b", value), the value parsed as YAML (so 3 is an int, null is None)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise QstarError(f"--set expects key=value (e.g. sampling.temperature=0.7), got {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict) and value and all(v is None for v in value.values()):
        value = raw  # "{Body}" is a format template (data.question_template), not a YAML set of names
    return key.strip(), value


def _unknown(key: str, known: list[str], where: str) -> QstarError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
    return QstarError(f"unknown config key {key!r} in {where}{hint}")


def build_section(cls: type, values: dict, prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise _unknown(f"{prefix}{key}", [f"{prefix}{k}" for k in fields], where)
        kwargs[key] = coerce(value, hints[key], f"{prefix}{key}")
    return kwargs


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def resolve(
    cls: type,
    recipe: str | Path | None = None,
    sets: list[str] | None = None,
    flags: dict[str, Any] | None = None,
    base: dict | None = None,
) -> Any:
    """Build a stage config: dataclass defaults < base < recipe < --set < explicit flags.

    `base` holds sections inherited from an input run (e.g. `label` reuses the policy and data
    settings its rollouts were collected with), so they need not be repeated.
    """
    layers: list[tuple[str, dict]] = [("the input run's config", base)] if base else []
    if recipe is not None:
        stage = next((name for name, c in STAGE_CONFIGS.items() if c is cls), None)
        layers += recipe_layers(recipe, stage)
    if sets:
        nested: dict = {}
        for item in sets:
            key, value = parse_set(item)
            section, dot, name = key.partition(".")
            if not dot:
                raise _unknown(key, [f"{s}.<key>" for s in SECTIONS], "--set")
            *path, last = name.split(".")  # policy.options.vllm.block_size: a key of a mapping key
            target = nested.setdefault(section, {})
            for part in path:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise QstarError(f"--set {key}: {section}.{part} is set to a value and used as a mapping")
            target[last] = value
        layers.append(("--set", nested))
    if flags:
        nested = {}
        for key, value in flags.items():
            if value is not None:
                section, _, name = key.partition(".")
                nested.setdefault(section, {})[name] = value
        layers.append(("flags", nested))

    default = cls()
    merged = to_dict(default)
    explicit: set[str] = set()
    for where, layer in layers:
        for section, checked in _check_layer(layer, where).items():
            merged[section] = _merge(merged.get(section, {}), checked) if section in merged else checked
            explicit.update(f"{section}.{key}" for key in checked)
    for section, values in dataset_defaults(merged, explicit).items():
        merged[section] = _merge(merged[section], values)
    kwargs = {}
    for f in dataclasses.fields(cls):
        kwargs[f.name] = SECTIONS[f.name](**merged[f.name])
    config = cls(**kwargs)
    for f in dataclasses.fields(cls):
        getattr(config, f.name).validate()
    return config


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def semantic_view(config_dict: dict) -> dict:
    """The part of a config that defines a run's results (drops EXECUTION_KEYS)."""
    out = {}
    for section, values in config_dict.items():
        if isinstance(values, dict):
            out[section] = {k: v for k, v in values.items() if f"{section}.{k}" not in EXECUTION_KEYS}
        else:
            out[section] = values
    return out


def config_diff(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two semantic views.

    A key (or section) the old config lacks and the new one holds at its default is no difference:
    the old run was written by a qstar that had no such setting, and the default keeps its behaviour,
    so upgrading qstar does not strand a half-finished run.
    """
    keys = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        if not isinstance(a, dict) or not isinstance(b, dict):
            if a != b:
                keys.append(section)
            continue
        defaults = _section_defaults(section)
        keys += [
            f"{section}.{k}: {a.get(k)!r} -> {b.get(k)!r}"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not (k not in a and k in defaults and b.get(k) == defaults[k])
        ]
    return keys


def _section_defaults(section: str) -> dict:
    cls = SECTIONS.get(section)
    return dataclasses.asdict(cls()) if cls is not None else {}
