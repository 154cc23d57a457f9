"""qstar repro without a model: expect files, the range check, recording, and the stage wiring."""

import json
from pathlib import Path

import pytest

from qstar_cli.errors import QstarError
from qstar_cli.launch import repro
from qstar_cli.report import expect

METRICS = {
    "eval": {
        "accuracy": 0.5,
        "accuracy_ci95": [0.25, 0.75],
        "questions": 8,
        "tokens_per_question": 100.0,
        "policy_calls_per_question": 3.0,
        "qvm_calls_per_question": 2.0,
    }
}


def expect_file(tmp_path, metrics):
    path = tmp_path / "expect.json"
    path.write_text(json.dumps({"metrics": metrics}))
    return path


def test_ranges_intersect_and_decide(tmp_path):
    path = expect_file(
        tmp_path,
        {
            "eval.accuracy": {"value": 0.5, "ci95": [0.25, 0.75]},
            "eval.tokens_per_question": {"value": 110.0, "rel_tolerance": 0.1},  # [99, 121]
            "eval.questions": {"value": 8, "tolerance": 0},
            "eval.qvm_calls_per_question": {"value": 1.0, "ci95": [0.0, 3.0], "tolerance": 0.5},  # [0.5, 1.5]
            "eval.missing_metric": {"value": 1.0, "tolerance": 1},
        },
    )
    checks = {c.metric: c for c in expect.compare(expect.load(path, ["eval"]), METRICS)}
    assert (checks["eval.tokens_per_question"].lo, checks["eval.tokens_per_question"].hi) == pytest.approx((99, 121))
    assert checks["eval.accuracy"].ok and checks["eval.tokens_per_question"].ok and checks["eval.questions"].ok
    assert (checks["eval.qvm_calls_per_question"].lo, checks["eval.qvm_calls_per_question"].hi) == (0.5, 1.5)
    assert not checks["eval.qvm_calls_per_question"].ok  # 2.0 is in the CI but not within the tolerance
    assert not checks["eval.missing_metric"].ok and checks["eval.missing_metric"].got is None


def test_a_hand_edited_value_fails(tmp_path):
    ok = {"eval.accuracy": {"value": 0.5, "ci95": [0.25, 0.75], "tolerance": 0.0}}
    assert all(c.ok for c in expect.compare(expect.load(expect_file(tmp_path, ok), ["eval"]), METRICS))
    edited = {"eval.accuracy": {"value": 0.625, "ci95": [0.25, 0.75], "tolerance": 0.0}}
    (check,) = expect.compare(expect.load(expect_file(tmp_path, edited), ["eval"]), METRICS)
    assert not check.ok and check.got == 0.5


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({}, "expected"),
        ({"accuracy": {"value": 1, "tolerance": 0}}, "must be STAGE.KEY"),
        ({"train.loss": {"value": 1, "tolerance": 0}}, "STAGE one of the recipe's stages \\(eval\\)"),
        ({"eval.accuracy": {"ci95": [0, 1]}}, 'needs a recorded "value"'),
        ({"eval.accuracy": {"value": "high", "tolerance": 0}}, "must be a finite number"),
        ({"eval.accuracy": {"value": 0.5}}, "states no range"),
        ({"eval.accuracy": {"value": 0.5, "tolerence": 0.1}}, "unknown field\\(s\\) tolerence"),
        ({"eval.accuracy": {"value": 0.5, "ci95": [0.6, 0.4]}}, "low end above its high end"),
        ({"eval.accuracy": {"value": 0.5, "ci95": [0.4]}}, "ci95 must be \\[low, high\\]"),
        ({"eval.accuracy": {"value": 0.5, "tolerance": -1}}, "must be >= 0"),
    ],
)
def test_malformed_expect_files(tmp_path, metrics, message):
    with pytest.raises(QstarError, match=message):
        expect.load(expect_file(tmp_path, metrics), ["eval"])


def test_unreadable_expect_files(tmp_path):
    with pytest.raises(QstarError, match="not found"):
        expect.load(tmp_path / "none.json", ["eval"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(QstarError, match="not valid JSON"):
        expect.load(tmp_path / "bad.json", ["eval"])


def test_record_writes_a_file_that_checks_itself(tmp_path):
    data = expect.record(tmp_path / "r.json", "recipe.yaml", METRICS)
    assert data["metrics"]["eval.accuracy"] == {"value": 0.5, "ci95": [0.25, 0.75]}
    assert data["metrics"]["eval.questions"] == {"value": 8, "tolerance": 0}
    assert data["metrics"]["eval.tokens_per_question"] == {"value": 100.0, "rel_tolerance": 0.1}
    assert all(c.ok for c in expect.compare(expect.load(tmp_path / "r.json", ["eval"]), METRICS))
    with pytest.raises(QstarError, match="needs a recipe with an eval stage"):
        expect.record(tmp_path / "x.json", "recipe.yaml", {"collect": {}})


def test_wiring_sends_each_output_to_the_next_stage(tmp_path):
    work = Path("W")
    flags = repro.wiring(["collect", "label", "train", "eval"], work)
    assert flags["label"]["label.input"] == str(work / "rollouts")
    assert flags["train"]["train.labels"] == [str(work / "labels")]
    assert flags["eval"]["eval.qvm"] == str(work / "qvm") and flags["eval"]["eval.out"] == str(work / "eval")
    assert "eval.qvm" not in repro.wiring(["eval"], work)["eval"]  # an eval-only recipe keeps its own QVM


def test_stages_come_from_the_recipe_and_its_parents(tmp_path):
    (tmp_path / "base.yaml").write_text("data: {name: mawps}\ncollect: {num_rollouts: 2}\n")
    (tmp_path / "r.yaml").write_text("extends: base.yaml\neval: {search: greedy}\n")
    assert repro.stages_of(tmp_path / "r.yaml") == ["collect", "eval"]
    (tmp_path / "none.yaml").write_text("data: {name: mawps}\n")
    with pytest.raises(QstarError, match="defines no stage"):
        repro.stages_of(tmp_path / "none.yaml")


def test_refuses_a_used_work_folder_and_both_modes(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {name: mawps, split: test}\neval: {search: greedy}\n")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "eval").mkdir()
    with pytest.raises(QstarError, match="is not empty"):
        repro.run(str(recipe), out=str(tmp_path / "work"))
    with pytest.raises(QstarError, match="not both"):
        repro.run(str(recipe), expect_path="a.json", record_path="b.json")
