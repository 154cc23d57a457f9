"""The stages' table: `STAGES`, one row per stage that writes a run folder, read by the CLI, the
launchers, merge, repro and report.

A stage has one row: its recipe section (also its key in `config.STAGE_CONFIGS`), its command
(also the `stage` its manifests record), its module, the records file and record kind it writes
(train-q writes a model, not records), the folder `qstar repro` gives it, and the function that
computes its metrics from records (what `qstar merge` recomputes over joined shards). It is
run-folder metadata, so it sits beside the run folders, below the stages, the report and the
launchers that read it; a row names its module, which is imported only when it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from qstar_cli.artifacts.rundir import RunDir, open_input


@dataclass(frozen=True)
class Stage:
    section: str
    command: str
    module: str
    records: str | None
    kind: str | None
    folder: str
    metrics: str | None = None  # name of the module's metrics(records, sessions) function

    def load(self):
        return importlib.import_module(self.module)

    def open(self, path, **manifest) -> RunDir:
        """This stage's run dir at `path` (created, or resumed when it holds the same run)."""
        return RunDir.open(path, stage=self.command, kind=self.kind, records_name=self.records, **manifest)

    def read(self, path) -> tuple[dict, list[dict]]:
        """(manifest, records) of a complete run of this stage: the input of the next one."""
        return open_input(path, stage=self.command, kind=self.kind, records_name=self.records)


STAGES = {
    stage.section: stage
    for stage in (
        Stage(
            "collect",
            "collect-rollouts",
            "qstar_cli.stages.collect",
            "rollouts.jsonl",
            "rollouts",
            "rollouts",
            "compute_metrics",
        ),
        Stage("label", "label", "qstar_cli.stages.label", "qlabels.jsonl", "qlabels", "labels", "label_metrics"),
        Stage("train", "train-q", "qstar_cli.stages.train_q", None, None, "qvm"),
        Stage("eval", "eval", "qstar_cli.stages.eval", "predictions.jsonl", "predictions", "eval", "eval_metrics"),
    )
}


def by_command(command: str | None) -> Stage | None:
    """The stage a manifest's `stage` names."""
    return next((stage for stage in STAGES.values() if stage.command == command), None)
