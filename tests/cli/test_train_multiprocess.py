"""`train-q` under `accelerate launch` with two processes (gloo on this CPU): one run folder, one
saved model, and the same model as one process, up to numerical noise."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HF, data_env, run_qstar

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """MiniLM without dropout: dropout draws differ between one batch of 2 and two of 1, and would
    hide what this checks (the same examples in the same steps)."""
    from qstar_cli.backends.models import packaged_model

    path = tmp_path_factory.mktemp("backbone") / "minilm-nodrop"
    shutil.copytree(packaged_model("minilm"), path)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def train_args(labels, backbone, out, batch=2):
    # 4 steps of 2 examples stay inside the first epoch (>= 8 examples): an epoch's last, short batch
    # is the one place N processes differ, as accelerate evens it out by repeating first examples
    return [
        "train-q",
        "--labels",
        str(labels),
        "--backbone",
        backbone,
        "--max-steps",
        "4",
        "--batch-size",
        str(batch),
        "--max-length",
        "96",
        "--set",
        "train.heldout_fraction=0.34",
        "--out",
        str(out),
    ]


def launch(*args):
    """`accelerate launch --multi_gpu --num_processes 2 -m qstar_cli.cli ...`: without GPUs accelerate
    runs the processes on the CPU with gloo (its --cpu flag would want mpirun instead)."""
    accelerate = Path(sys.executable).parent / "accelerate"
    return subprocess.run(
        [
            str(accelerate),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "qstar_cli.cli",
            *args,
        ],
        env={**data_env(), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_two_processes_train_the_one_process_model(rollout_labels, backbone, tmp_path):
    labels, _ = rollout_labels
    one = run_qstar(*train_args(labels, backbone, tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = launch(*train_args(labels, backbone, tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("train-q ->") == 1 and two.stderr.count("training the QVM") == 1  # one process speaks

    a, b = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two"))
    assert (a["processes"], b["processes"]) == (1, 2) and a["train_examples"] >= 8
    assert a["train_steps"] == b["train_steps"] == 4  # train.batch_size is the batch of both processes together
    assert b["train_loss_last"] == pytest.approx(a["train_loss_last"], abs=1e-5)
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["sessions"]) == 1

    from safetensors.torch import load_file

    x, y = (load_file(tmp_path / run / "qvm" / "model.safetensors") for run in ("one", "two"))
    assert x.keys() == y.keys()
    assert (
        max((x[k] - y[k]).abs().max().item() for k in x) < 1e-5
    )  # 3 steps after warm-up at lr 5e-5 move weights by ~1e-4


def test_a_batch_the_processes_cannot_share_is_refused(rollout_labels, backbone, tmp_path):
    labels, _ = rollout_labels
    result = launch(*train_args(labels, backbone, tmp_path / "odd", batch=7))
    assert result.returncode != 0
    assert "train.batch_size (7) is the batch of all 2 processes together: make it a multiple of 2" in " ".join(
        result.stderr.split()
    )
    assert not (tmp_path / "odd" / "qvm").exists()


def test_fqi_fits_under_two_processes_equal_one(rollouts, backbone, tmp_path):
    """label --method fqi under accelerate launch: the first process samples the candidates (the
    hf backend seeds them per question, so both runs draw the same), both fit each iteration, and
    the labels equal one process's up to numerical noise; every model is saved once."""

    def args(out):
        return [
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
            backbone,
            "--set",
            "train.max_steps=2",
            "--set",
            "train.batch_size=2",
            "--set",
            "train.max_length=96",
            "--set",
            "train.heldout_fraction=0",
            "--out",
            str(out),
        ]

    one = run_qstar(*args(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = launch(*args(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("label ->") == 1 and two.stderr.count("fqi iteration 2/2") == 1  # one process speaks
    read = lambda run, name: [json.loads(line) for line in (tmp_path / run / name).read_text().splitlines()]  # noqa: E731
    assert read("one", "candidates.jsonl") == read("two", "candidates.jsonl")
    ys = [[[n["y"] for n in r["nodes"]] for r in read(run, "qlabels.jsonl")] for run in ("one", "two")]
    assert [y for r in ys[1] for y in r] == pytest.approx([y for r in ys[0] for y in r], abs=1e-4)
    a, b = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two"))
    assert [(it["train"]["train_steps"], it["train"]["processes"]) for it in b["iterations"]] == [(2, 2), (2, 2)]
    assert [it["train"]["processes"] for it in a["iterations"]] == [1, 1]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["sessions"]) == 1


def test_labels_other_than_fqi_are_refused_under_several_processes(rollouts, tmp_path):
    result = launch("label", "--input", str(rollouts), "--num-rollouts", "0", "--out", str(tmp_path / "l"))
    assert result.returncode != 0 and "only --method fqi's fits share the work" in " ".join(result.stderr.split())
    assert not (tmp_path / "l").exists()
