"""The eval runs a report compares: each run's recorded config, metrics and (lazily) records.

Everything shown is read from what `qstar eval` recorded (config.yaml, metrics.json,
predictions.jsonl); runs made before metrics.json carried a field fall back to config.yaml, never
to logs. A run that is not a complete eval run is refused with one clear message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qstar_cli.artifacts.rundir import read_manifest, read_stage_run, verify_complete
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.search import SEARCHERS
from qstar_cli.search.oracle import ORACLE


@dataclass
class EvalRun:
    path: Path
    name: str
    config: dict
    metrics: dict
    manifest: dict
    _records: list[dict] | None = field(default=None, repr=False)

    # ---- what the report shows ---------------------------------------------------------------
    def get(self, key: str, section: str):
        """A recorded field: metrics.json first, the run's resolved config second."""
        if self.metrics.get(key) is not None:
            return self.metrics[key]
        return self.config.get(section, {}).get(key)

    @property
    def search(self) -> str:
        return self.metrics.get("search") or self.config.get("eval", {}).get("search", "?")

    @property
    def dataset(self) -> str:
        return self.metrics.get("dataset_name") or self.config.get("data", {}).get("name", "?")

    @property
    def split(self) -> str:
        return self.get("split", "data")

    @property
    def subset(self) -> str | None:
        return self.get("subset", "data")

    @property
    def data_label(self) -> str:
        return self.dataset + (f"-{self.subset}" if self.subset else "")

    @property
    def model(self) -> str:
        """The policy and, where recorded, its backend: the same weights decode differently in vLLM
        and transformers, so runs from different backends must not pass for one another."""
        name = self.metrics.get("model") or self.config.get("policy", {}).get("model") or "embedded"
        backend = self.metrics.get("backend")
        return f"{name} ({backend})" if backend else name

    @property
    def settings(self) -> dict:
        return self.metrics.get("settings") or self.config.get("eval", {})

    @property
    def method(self) -> str:
        """e.g. "A* K=6 N=6 budget=64", "beam w=4 K=4", "best-of-N n=8 by=qvm"."""
        method = SEARCHERS.get(self.search)
        parts = [method.label if method else self.search]
        parts += [
            f"{label}={self.settings[key]}" for key, label in (method.shown if method else ()) if key in self.settings
        ]
        parts += method.describe(self.settings) if method else []
        if self.settings.get("answer", "best_f") != "best_f":  # a vote (A*, beam, best-of-N)
            parts.append(f"answer={self.settings['answer']}")
        if self.oracle is not None:  # not a method: its heuristic read the reference answers
            parts.append(f"with oracle noise={self.oracle.get('noise', '?')} (uses the reference answers)")
        return " ".join(parts)

    @property
    def oracle(self) -> dict | None:
        """The oracle heuristic's settings (rollouts, noise, ...) when the run used it, else None."""
        if self.metrics.get("uses_reference_answers") or self.qvm_path == ORACLE:
            return self.metrics.get("oracle") or {}
        return None

    @property
    def qvm(self) -> str:
        """The QVM's folder, cut to its last two parts, and its backbone when recorded."""
        path = self.qvm_path
        if not path:
            return "-"
        if self.oracle is not None:
            return (
                f"oracle M={self.oracle.get('rollouts', '?')} noise={self.oracle.get('noise', '?')} "
                f"(uses the reference answers)"
            )
        name = "/".join(Path(path).parts[-2:]) or path
        backbone = self.metrics.get("qvm_backbone")
        if backbone and Path(backbone).is_absolute():
            backbone = Path(backbone).name  # a local folder: its name, not the machine's path
        return f"{name} ({backbone})" if backbone and backbone not in name else name

    @property
    def qvm_path(self) -> str | None:
        return self.metrics.get("qvm") or self.config.get("eval", {}).get("qvm")

    # ---- records ----------------------------------------------------------------------------
    @property
    def records(self) -> list[dict]:
        if self._records is None:
            _, self._records = read_stage_run(STAGES["eval"], self.path)
        return self._records

    def correct_by_id(self) -> dict[str, bool]:
        return {r["id"]: bool(r["correct"]) for r in self.records}


def qvm_training(path: str) -> dict | None:
    """The train-q metrics of a QVM (its run folder or the run's qvm/ folder), if still on disk."""
    if path == ORACLE:
        return None  # the oracle heuristic was never trained
    for folder in (Path(path), Path(path).parent):
        try:
            if read_manifest(folder).get("stage") == STAGES["train"].command:
                return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (QstarError, OSError, ValueError):
            continue
    return None


def load_run(path: str | Path) -> EvalRun:
    path = Path(path)
    if not path.is_dir():
        raise QstarError(f"run directory not found: {path}")
    manifest = read_manifest(path)
    if manifest.get("stage") != "eval":
        raise QstarError(f"{path} is a {manifest.get('stage')!r} run; qstar report compares eval runs")
    if manifest.get("complete") is not True:
        raise QstarError(f"{path} is not complete; rerun its eval command to finish it")
    verify_complete(path, manifest, path / STAGES["eval"].records)
    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise QstarError(f"{path} has no {Path(exc.filename).name}; rerun its eval command") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise QstarError(f"{path}: cannot read its metrics or config ({str(exc).splitlines()[0]})") from None
    for key in ("accuracy", "accuracy_ci95", "questions", "tokens_per_question"):
        if key not in metrics:
            raise QstarError(f"{path / 'metrics.json'} has no {key!r}; rerun its eval with this qstar version")
    return EvalRun(path, path.name, config, metrics, manifest)


def load_runs(paths: list[str]) -> list[EvalRun]:
    if not paths:
        raise QstarError("qstar report needs at least one eval run directory")
    runs = [load_run(p) for p in paths]
    seen: dict[Path, str] = {}
    for run, given in zip(runs, paths):
        resolved = run.path.resolve()
        if resolved in seen:
            raise QstarError(f"{given} is given twice (also as {seen[resolved]})")
        seen[resolved] = given
    # two runs named alike (runs/a/astar, runs/b/astar) are told apart by their parent folder
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            run.name = f"{run.path.parent.name}/{run.path.name}"
    return runs
