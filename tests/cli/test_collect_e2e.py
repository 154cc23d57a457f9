"""collect-rollouts end to end on the real embedded model, through vLLM-CPU and transformers."""

import json
import math

import pytest

from tests.cli.test_quiet_console import ANSI, quiet_console_problem
from tests.conftest import run_qstar

pytestmark = pytest.mark.slow


def check_run(out, n_questions, n_rollouts, backend):
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["stage"] == "collect-rollouts"
    assert manifest["packages"]["torch"] and manifest["inputs"]["questions_sha256"]
    records = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == manifest["expected_ids"] and len(records) == n_questions
    from qstar_cli.datasets.registry import get_dataset

    mawps = get_dataset("mawps")
    for rec in records:
        assert rec["schema"] == "rollouts/1" and rec["prompt"].startswith("<|im_start|>")
        assert len(rec["trajectories"]) == n_rollouts
        for t in rec["trajectories"]:
            assert "".join(s["text"] for s in t["steps"]) == t["text"]
            assert sum(s["tokens"] for s in t["steps"]) == t["tokens"] > 0
            assert math.isclose(sum(s["logprob"] for s in t["steps"]), t["logprob"], rel_tol=1e-6, abs_tol=1e-6)
            assert t["logprob"] < 0
            assert t["finish_reason"] in ("eos", "length")
            assert all(s["text"].strip() for s in t["steps"])
            # the stored reward is the dataset's grade of the stored text
            problem = type("P", (), {"reference": rec["reference"], "id": rec["id"], "question": rec["question"]})
            assert t["reward"] == float(mawps.is_correct(t["text"], problem))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["questions"] == n_questions and metrics["trajectories"] == n_questions * n_rollouts
    assert metrics["tokens"] == sum(t["tokens"] for r in records for t in r["trajectories"])
    assert 0 <= metrics["mean_sample_accuracy"] <= metrics["pass_at_m"] <= 1
    config = (out / "config.yaml").read_text()
    assert f"num_rollouts: {n_rollouts}" in config and f"backend: {backend}" in config
    return records


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_collect_rollouts_real_model(tmp_path, data_dir, embedded_model, shell_env, backend):
    out = tmp_path / f"rollouts-{backend}"
    args = (
        "collect-rollouts",
        "--dataset",
        "mawps",
        "--split",
        "test",
        "--limit",
        "3",
        "--num-rollouts",
        "2",
        "--max-tokens",
        "96",
        "--temperature",
        "0.7",
        "--backend",
        backend,
        "--out",
        str(out),
    )
    result = run_qstar(*args, env={"FORCE_COLOR": "1"})  # rich draws as on a terminal
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pass@M" in result.stdout and "trajectories" in result.stdout
    # a default run's console: the header, the progress bar and the summary, nothing from the libraries
    problem = quiet_console_problem(ANSI.sub("", result.stdout), ANSI.sub("", result.stderr), out, backend, 3)
    assert problem is None, problem
    before = (out / "rollouts.jsonl").read_bytes()
    check_run(out, 3, 2, backend)

    again = run_qstar(*args)  # everything done: resumes, generates nothing, loads no model
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 3 questions already done" in " ".join(again.stderr.split())
    assert "loading the policy" not in again.stderr
    assert (out / "rollouts.jsonl").read_bytes() == before
