"""collect-rollouts -> label (rollout, completion, fqi) -> train-q through the CLI, real model."""

import hashlib
import json
import shutil

import pytest
import yaml

from tests.cli.conftest import ok
from tests.cli.test_bad_input import assert_clean_error
from tests.conftest import HF, run_qstar

pytestmark = pytest.mark.slow


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_labels(out, rollouts_dir, method):
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    records = read(out / "qlabels.jsonl")
    sources = {r["id"]: r for r in read(rollouts_dir / "rollouts.jsonl")}
    assert [r["id"] for r in records] == list(sources)
    for rec in records:
        assert rec["method"] == method and rec["nodes"]
        distinct = {
            tuple(s["text"] for s in t["steps"][: i + 1])
            for t in sources[rec["id"]]["trajectories"]
            for i in range(len(t["steps"]))
        }
        assert len(rec["nodes"]) == len(distinct)  # one node per distinct (s_t, a_t)
        for node in rec["nodes"]:
            assert 0.0 <= node["y"] <= 1.0
    return records


def test_rollout_labels_then_train_q(rollouts, rollout_labels, trained_qvm, tmp_path):
    labels, result = rollout_labels
    assert "labelled (s, a) pairs" in result.stdout
    records = check_labels(labels, rollouts, "rollout")
    for node in (n for r in records for n in r["nodes"] if not n["terminal"]):
        assert node["n"] >= 3  # 2 rollouts + at least one own ending
    config = yaml.safe_load((labels / "config.yaml").read_text())
    assert config["data"]["name"] == "mawps" and config["sampling"]["temperature"] == 0.8  # inherited

    qvm, result, args = trained_qvm
    assert "held-out ROC-AUC" in result.stdout
    metrics = json.loads((qvm / "metrics.json").read_text())
    assert metrics["train_steps"] == 3 and metrics["labels"][0]["dataset"] == "mawps"
    meta = json.loads((qvm / "qvm" / "qstar_qvm.json").read_text())
    assert meta["step_format"] == "line" and meta["policy"] == "embedded" and meta["label_method"] == "rollout"
    again = run_qstar(*args)
    assert again.returncode == 0 and "already trained" in again.stderr

    # bad input: labels of another policy, an empty label set, a backbone that cannot be loaded
    other = tmp_path / "other-policy"
    shutil.copytree(labels, other)
    config["policy"]["model"] = "some/other-model"
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    assert_clean_error(
        run_qstar("train-q", "--labels", str(labels), "--labels", str(other), "--out", str(tmp_path / "x")),
        "different policies",
    )
    empty = tmp_path / "empty"
    shutil.copytree(labels, empty)
    (empty / "qlabels.jsonl").write_text("")
    # emptied by hand: the manifest's hash of the records no longer holds
    assert_clean_error(
        run_qstar("train-q", "--labels", str(empty), "--out", str(tmp_path / "y")),
        "qlabels.jsonl changed after its run completed (0 records, 3 expected",
    )
    manifest = json.loads((empty / "manifest.json").read_text())
    manifest["records_sha256"] = hashlib.sha256(b"").hexdigest()  # a label run that truly labelled nothing
    (empty / "manifest.json").write_text(json.dumps(manifest))
    assert_clean_error(
        run_qstar("train-q", "--labels", str(empty), "--out", str(tmp_path / "y")), "no labelled questions"
    )
    assert_clean_error(
        run_qstar(
            "train-q", "--labels", str(labels), "--backbone", str(tmp_path / "nope"), "--out", str(tmp_path / "z")
        ),
        "not found",
    )
    assert_clean_error(
        run_qstar("train-q", "--labels", str(rollouts), "--out", str(tmp_path / "w")), "expected the output of 'label'"
    )


def test_completion_labels_with_the_small_model_standing_in(rollouts, tmp_path, embedded_model):
    out = tmp_path / "completion"
    result = run_qstar(
        "label",
        "--input",
        str(rollouts),
        "--method",
        "completion",
        "--strong-model",
        embedded_model,
        "--strong-backend",
        "hf",
        "--set",
        "label.max_tokens=40",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = check_labels(out, rollouts, "completion")
    inner = [n for r in records for n in r["nodes"] if not n["terminal"]]
    assert inner and all(n["n"] == 1 for n in inner)  # one greedy completion each, no own endings


def test_fqi_two_iterations(rollouts, tmp_path):
    out = tmp_path / "fqi"
    args = (
        "label",
        "--input",
        str(rollouts),
        "--method",
        "fqi",
        "--iterations",
        "2",
        "--candidates",
        "2",
        *HF,
        "--backbone",
        "minilm",
        "--set",
        "train.max_steps=2",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.max_length=128",
        "--set",
        "train.heldout_fraction=0",
        "--out",
        str(out),
    )
    result = run_qstar(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    records = check_labels(out, rollouts, "fqi")
    metrics = json.loads((out / "metrics.json").read_text())
    assert [it["iteration"] for it in metrics["iterations"]] == [1, 2]
    assert all((out / f"iter_{i}" / "qvm" / "qstar_qvm.json").exists() for i in (1, 2))
    candidates = read(out / "candidates.jsonl")
    assert [c["id"] for c in candidates] == [r["id"] for r in records]
    for cand, rec in zip(candidates, records):
        for node, cands in zip(rec["nodes"], cand["nodes"]):
            assert (len(cands) == 0) == node["terminal"] and len(cands) <= 2
            if node["terminal"]:
                assert node["y"] in (0.0, 1.0)
    # the candidates are FQI's generation: every one is at least one token, and the run counts them
    # (it said 0 before)
    proposed = sum(len(c) for cand in candidates for c in cand["nodes"])
    assert proposed > 0 and metrics["generated_tokens"] >= proposed
    again = run_qstar(*args)  # resume: candidates and both iterations are reused, nothing generated
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already trained") == 2
    assert json.loads((out / "metrics.json").read_text())["generated_tokens"] == metrics["generated_tokens"]


def same_records(a, b, rel=1e-5) -> bool:
    """Equal, floats up to `rel`: another batch's padding may move a logprob in its last bits."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= rel * max(1.0, abs(a), abs(b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_records(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_records(x, y, rel) for x, y in zip(a, b))
    return a == b


def test_label_shards_merge_into_the_unsharded_labels(rollouts, tmp_path):
    """label --shard i/2 twice, then qstar merge: the same records as one label run of every question
    (labels from the trajectories' own endings: no model, so this stays fast; that sampled labels do
    not depend on their shard is the hf backend's per-question seeds, tested with collect on Ray)."""
    label = ("label", "--input", str(rollouts), "--num-rollouts", "0")
    shards = []
    for i in range(2):
        shards.append(str(tmp_path / f"shard{i}"))
        ok(run_qstar(*label, "--shard", f"{i}/2", "--out", shards[-1]))
    assert len(read(tmp_path / "shard1" / "qlabels.jsonl")) == 1  # questions 1 of 0, 1, 2
    ok(run_qstar("merge", *shards, "--out", str(tmp_path / "merged")))
    ok(run_qstar(*label, "--out", str(tmp_path / "whole")))
    assert read(tmp_path / "merged" / "qlabels.jsonl") == read(tmp_path / "whole" / "qlabels.jsonl")
    metrics = json.loads((tmp_path / "merged" / "metrics.json").read_text())
    assert metrics["questions"] == 3
    assert_clean_error(
        run_qstar(
            "label", "--input", str(rollouts), "--method", "fqi", "--shard", "0/2", "--out", str(tmp_path / "fqi")
        ),
        "cannot be sharded",
    )
