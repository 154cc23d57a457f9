"""Corrupt inputs: each gives one clear error naming the file, and nothing is overwritten."""

import hashlib
import json
from pathlib import Path

import pytest

from qstar_cli.artifacts.rundir import open_input
from qstar_cli.errors import QstarError
from qstar_cli.stages import collect
from tests.unit.test_rundir import open_run, record


def snapshot(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def run(tmp_path) -> Path:
    """A complete rollouts run of three questions."""
    r = open_run(tmp_path / "run", ["q0", "q1", "q2"])
    for qid in ("q0", "q1", "q2"):
        r.append(record(qid))
    r.finish({})
    return tmp_path / "run"


def read_input(path):
    return open_input(path, stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)


def edit_line(path: Path, index: int, edit) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[index] = edit(lines[index])
    path.write_text("".join(lines))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda line: line[:40] + "\n", r"rollouts.jsonl:2: malformed JSON"),  # cut in the middle of a line
        (
            lambda line: line.replace('"rollouts/1"', '"rollouts/0"'),
            r"rollouts.jsonl:2: record schema 'rollouts/0' is "
            r"not the supported 'rollouts/1'",
        ),
        (
            lambda line: line.replace('"tokens":9', '"tokens":"nine"'),
            r"rollouts.jsonl:2: trajectory field 'tokens' has "
            r"the wrong type",
        ),
        (lambda line: line.replace('"reward":1.0', '"reward":0.0'), r"rollouts.jsonl changed after its run completed"),
    ],
)
def test_a_record_edited_in_the_middle_is_named_by_file_and_line(run, edit, message):
    edit_line(run / "rollouts.jsonl", 1, edit)
    before = snapshot(run)
    with pytest.raises(QstarError, match=message):
        read_input(run)  # as the next stage reads it
    assert snapshot(run) == before


def test_a_resume_refuses_a_corrupt_middle_record_and_writes_nothing(tmp_path):
    r = open_run(tmp_path / "run", ["q0", "q1", "q2"])
    r.append(record("q0"))
    r.append(record("q1"))
    r.close()
    edit_line(tmp_path / "run" / "rollouts.jsonl", 0, lambda line: line[:30] + "\n")
    before = snapshot(tmp_path / "run")
    with pytest.raises(QstarError, match=r"rollouts.jsonl:1: malformed JSON"):
        open_run(tmp_path / "run", ["q0", "q1", "q2"])
    after = snapshot(tmp_path / "run")
    assert {k: v for k, v in after.items() if k != "config.yaml"} == {
        k: v for k, v in before.items() if k != "config.yaml"
    }


def test_a_complete_manifest_with_short_records_is_refused(run):
    data = (run / "rollouts.jsonl").read_bytes()
    (run / "rollouts.jsonl").write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 1])  # the last record gone
    before = snapshot(run)
    with pytest.raises(QstarError, match=r"rollouts.jsonl changed after its run completed \(2 records, 3 expected"):
        read_input(run)
    assert snapshot(run) == before


def test_a_qvm_folder_without_weights_is_named_before_anything_loads(tmp_path):
    from qstar_cli.value.model import META_FILE, QVMMeta, read_meta

    qvm = tmp_path / "qvm"
    qvm.mkdir()
    from dataclasses import asdict

    (qvm / META_FILE).write_text(json.dumps(asdict(QVMMeta(step_format="line"))))
    with pytest.raises(QstarError, match=rf"{qvm} has no weights \(model.safetensors is missing\)"):
        read_meta(qvm)


def test_a_recipe_whose_extends_loops_is_named(tmp_path):
    from qstar_cli.config import EvalConfig, resolve

    (tmp_path / "a.yaml").write_text("extends: b.yaml\neval: {search: greedy}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(QstarError, match=r"recipe .*a.yaml extends itself"):
        resolve(EvalConfig, tmp_path / "a.yaml", [], {})
