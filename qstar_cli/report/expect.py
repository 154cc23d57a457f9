"""Expected results of a reproduction (`qstar repro --expect FILE`): reading, checking, recording.

An expect file is JSON:

    {"recipe": "recipes/cpu/repro.yaml", "note": "...",
     "metrics": {"eval.accuracy": {"value": 0.25, "ci95": [0.0, 0.5], "tolerance": 0.0},
                 "eval.tokens_per_question": {"value": 61.4, "rel_tolerance": 0.05}}}

Each metric is STAGE.KEY of that stage's metrics.json. A reproduced value passes when it lies
in every range its entry states: the recorded 95% CI, value ± tolerance, value ± rel_tolerance ×
|value|. Each entry must state at least one, so no number is recorded without saying how far a
rerun may move it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from qstar_cli.errors import QstarError

ENTRY_KEYS = {"value", "ci95", "tolerance", "rel_tolerance", "note", "source"}
EPS = 1e-9  # values written as JSON decimals must still compare equal to themselves
# What `--record` writes for eval runs: accuracy with its CI, exact counts, costs within 10%.
RECORDED = {
    "accuracy": None,
    "questions": 0.0,
    "tokens_per_question": 0.1,
    "policy_calls_per_question": 0.1,
    "qvm_calls_per_question": 0.1,
    "expansions_per_question": 0.1,
}


@dataclass
class Check:
    metric: str
    expected: float
    lo: float
    hi: float
    got: float | None = None

    @property
    def ok(self) -> bool:
        return self.got is not None and self.lo - EPS <= self.got <= self.hi + EPS


def _number(x, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise QstarError(f"{where} must be a finite number, got {x!r}")
    return float(x)


def load(path: str | Path, stages: list[str]) -> list[Check]:
    """The checks of an expect file; `stages` are the stages the recipe runs (metrics must name one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QstarError(f"expect file not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise QstarError(f"{path} is not valid JSON ({exc})") from None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise QstarError(f'{path}: expected {{"metrics": {{"STAGE.KEY": {{"value": ..., "ci95": [lo, hi]}}, ...}}}}')
    checks = []
    for name, entry in metrics.items():
        where = f"{path}: metric {name!r}"
        stage, dot, key = name.partition(".")
        if not dot or not key or stage not in stages:
            raise QstarError(f"{where} must be STAGE.KEY with STAGE one of the recipe's stages ({', '.join(stages)})")
        if not isinstance(entry, dict) or "value" not in entry:
            raise QstarError(f'{where} needs a recorded "value"')
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise QstarError(
                f"{where} has unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(ENTRY_KEYS))}"
            )
        value = _number(entry["value"], f"{where} value")
        lo, hi = -math.inf, math.inf
        if "ci95" in entry:
            ci = entry["ci95"]
            if not isinstance(ci, list) or len(ci) != 2:
                raise QstarError(f"{where} ci95 must be [low, high]")
            a, b = (_number(v, f"{where} ci95") for v in ci)
            if a > b:
                raise QstarError(f"{where} ci95 {ci} has its low end above its high end")
            lo, hi = max(lo, a), min(hi, b)
        for field, scale in (("tolerance", 1.0), ("rel_tolerance", abs(value))):
            if field in entry:
                t = _number(entry[field], f"{where} {field}")
                if t < 0:
                    raise QstarError(f"{where} {field} must be >= 0")
                lo, hi = max(lo, value - t * scale), min(hi, value + t * scale)
        if math.isinf(lo) and math.isinf(hi):
            raise QstarError(f"{where} states no range: give ci95, tolerance or rel_tolerance")
        checks.append(Check(name, value, lo, hi))
    return checks


def compare(checks: list[Check], metrics_by_stage: dict[str, dict]) -> list[Check]:
    for c in checks:
        stage, _, key = c.metric.partition(".")
        got = metrics_by_stage.get(stage, {}).get(key)
        c.got = None if isinstance(got, bool) or not isinstance(got, (int, float)) else float(got)
    return checks


def record(path: str | Path, recipe: str, metrics_by_stage: dict[str, dict]) -> dict:
    """Write an expect file from a run: the eval metrics the report shows, each with its range."""
    eval_metrics = metrics_by_stage.get("eval")
    if not eval_metrics:
        raise QstarError("--record needs a recipe with an eval stage (its metrics are what is recorded)")
    entries = {}
    for key, rel in RECORDED.items():
        if key not in eval_metrics:
            continue
        value = eval_metrics[key]
        if key == "accuracy":
            entries["eval.accuracy"] = {"value": value, "ci95": list(eval_metrics["accuracy_ci95"])}
        elif rel == 0.0:
            entries[f"eval.{key}"] = {"value": value, "tolerance": 0}
        else:
            entries[f"eval.{key}"] = {"value": round(value, 4), "rel_tolerance": rel}
    data = {"recipe": recipe, "metrics": entries}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data
