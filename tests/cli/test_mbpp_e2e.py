"""MBPP end to end on the real embedded model: eval runs the generated code in the sandbox only
with --allow-code-execution, and every stage that grades refuses without it, before any model."""

import json

import pytest

from tests.cli.test_bad_input import assert_clean_error
from tests.conftest import HF, run_qstar


def test_stages_refuse_to_run_code_without_the_flag(data_dir, tmp_path):
    for args in (("collect-rollouts", "--split", "train"), ("eval", "--split", "test", "--search", "greedy")):
        out = tmp_path / args[0]
        result = run_qstar(*args, "--dataset", "mbpp", "--limit", "1", "--out", str(out), timeout=120)
        assert_clean_error(result, "runs model-written code", "--allow-code-execution")
        assert "loading the policy" not in result.stdout + result.stderr and not out.exists()


@pytest.mark.slow
def test_eval_greedy_on_mbpp_runs_the_code(data_dir, embedded_model, tmp_path):
    out = tmp_path / "eval"
    result = run_qstar(
        "eval",
        "--dataset",
        "mbpp",
        "--split",
        "test",
        "--limit",
        "2",
        "--search",
        "greedy",
        "--num-shots",
        "1",
        *HF,
        "--set",
        "sampling.max_tokens=64",
        "--allow-code-execution",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "sandbox" in result.stdout + result.stderr
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["mbpp/test/11", "mbpp/test/12"]
    statuses = {
        "passed",
        "assertion",
        "exception",
        "syntax",
        "timeout",
        "memory",
        "output_limit",
        "killed",
        "early_exit",
        "no_code",
    }
    for rec in records:
        assert rec["status"] in statuses and rec["correct"] == (rec["status"] == "passed")
        assert rec["reference"].startswith("assert ")
        assert all(t["status"] in statuses for t in rec["terminals"])
    config = (out / "config.yaml").read_text()
    assert "step_format: null" in config and "allow_code: true" in config
