"""A label method is one module plus one registry entry: a toy one registered here gets its own
keys and their checks, a place in --method's help, the label stage's checks and run folder, and a
complete run; nothing else names it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from qstar_cli import labelers
from qstar_cli.artifacts import records as R
from qstar_cli.config import LabelConfig, resolve, sections
from qstar_cli.config.label_section import build_label_section
from qstar_cli.errors import QstarError
from qstar_cli.labelers.tree import build_tree, tree_to_records
from tests.unit.test_rundir import open_run, record


@dataclass
class ConstantConfig:
    """Every step is worth the same: a label method with one key of its own."""

    value: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    unit: str = "points"

    def problems(self) -> list[str]:
        return ["label.unit must be 'points' for a constant label"] if self.unit != "points" else []


def constant_run(job):
    rundir = job.open()
    todo = rundir.todo(job.records, lambda r: r["id"])
    with rundir.session() as session:
        labelled = []
        for rec in todo:
            nodes = build_tree(rec["trajectories"])
            labels = [{"y": job.cfg.value, "soft": job.cfg.value, "n": 0} for _ in nodes]
            labelled.append(
                R.qlabel_record(
                    source=rec,
                    method=job.config.label.method,
                    gamma=job.config.label.gamma,
                    nodes=tree_to_records(nodes, labels),
                )
            )
        job.save(rundir, session, [labelled])
    return job.finish(rundir)


@pytest.fixture
def constant(monkeypatch):
    monkeypatch.setitem(
        labelers.LABELERS,
        "constant",
        labelers.LabelMethod(constant_run, ConstantConfig, "y = label.value everywhere", shown=("label.value",)),
    )
    monkeypatch.setitem(sections.SECTIONS, "label", build_label_section())


@pytest.fixture
def rollouts(tmp_path):
    run = open_run(tmp_path / "rollouts", ["q0", "q1"])
    for qid in ("q0", "q1"):
        run.append(record(qid))
    run.finish({})
    return tmp_path / "rollouts"


def test_a_registered_label_method_has_its_keys_and_checks(constant):
    config = resolve(LabelConfig, None, ["label.method=constant", "label.value=0.25"], {})
    assert labelers.LABELERS["constant"].configure(config.label) == ConstantConfig(value=0.25)
    with pytest.raises(QstarError, match=r"label.value must be at most 1.0, got 2.0"):
        resolve(LabelConfig, None, ["label.method=constant", "label.value=2"], {})
    with pytest.raises(QstarError, match=r"label.unit must be 'points'"):
        resolve(LabelConfig, None, ["label.method=constant", "label.unit=miles"], {})
    with pytest.raises(
        QstarError,
        match=r"unknown label.method 'constan'; choose one of: rollout, fqi, completion, "
        r"constant",
    ):
        resolve(LabelConfig, None, ["label.method=constan"], {})


def test_a_registered_label_method_runs_through_the_label_stage(constant, rollouts, tmp_path):
    from qstar_cli.stages import label

    out = tmp_path / "labels"
    config = resolve(
        LabelConfig,
        None,
        ["label.method=constant", "label.value=0.25", f"label.input={rollouts}", f"label.out={out}"],
        {},
    )
    assert label.run(config) == out
    records = [json.loads(line) for line in (out / "qlabels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["q0", "q1"]
    # each record's two steps (1+1=2, then the answer) are one path of the tree, both worth 0.25
    assert [[n["y"] for n in r["nodes"]] for r in records] == [[0.25, 0.25], [0.25, 0.25]]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["questions"], metrics["labels"], metrics["mean_y"]) == (2, 4, 0.25)
    # it can be sharded (the registry says so), and --reuse is refused: it labels from no continuations
    with pytest.raises(QstarError, match=r"--method constant does not label from continuations"):
        resolve(LabelConfig, None, ["label.method=constant", f"label.reuse={out}"], {})


def test_without_the_entry_the_name_is_unknown():
    with pytest.raises(QstarError, match="unknown label.method 'constant'"):
        resolve(LabelConfig, None, ["label.method=constant"], {})
    with pytest.raises(QstarError, match="unknown config key 'label.value'|label.value"):
        resolve(LabelConfig, None, ["label.value=0.25"], {})


def test_the_method_help_and_header_come_from_the_registry():
    from qstar_cli.cli_flags import LABEL_HELP

    for name, method in labelers.LABELERS.items():
        assert f"{name}: {method.help}" in LABEL_HELP


def test_rollout_labels_run_through_the_job_with_a_scripted_policy(tmp_path, monkeypatch):
    """The rollout method end to end on the label stage, its policy a script: each first step's
    state is continued M = 2 times, once wrong and once right, and the own ending (reward 0) counts."""
    from qstar_cli.stages import label
    from tests.fakes import ScriptedBackend

    run = open_run(tmp_path / "rollouts", ["q0"])
    run.append(record("q0", reward=0.0))  # one trajectory: "1+1=2\n", "The answer is 2." graded 0 here
    run.finish({})
    backend = ScriptedBackend({"p1+1=2\n": ["The answer is 3.", "The answer is 2."]})
    monkeypatch.setattr(label.LabelJob, "backend", lambda job, policy: backend)
    out = tmp_path / "labels"
    config = resolve(
        LabelConfig, None, ["label.num_rollouts=2", f"label.input={tmp_path / 'rollouts'}", f"label.out={out}"], {}
    )
    label.run(config)
    [rec] = [json.loads(line) for line in (out / "qlabels.jsonl").read_text().splitlines()]
    first, last = rec["nodes"]
    # y = max(0, 1, own 0) = 1, soft = 1/3 over the two continuations and the own ending
    assert (first["y"], first["soft"], first["n"], first["n_correct"]) == (1.0, pytest.approx(1 / 3), 3, 1)
    assert (last["terminal"], last["y"]) == (True, 0.0)  # the end: its own reward
    assert backend.seen[0][1].n == 2  # one call, two continuations of the one open state
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["sessions"][-1]["generated_questions"] == 1
