"""Pipeline fixtures on the real embedded model, built once per test session (hf backend), and
the in-process vLLM engine's greedy answers that the served policy and `qstar serve` must equal."""

import json

import pytest

from tests.conftest import run_qstar


@pytest.fixture
def shell_env(monkeypatch):
    """The environment of a user's shell: the in-process `embedded_model` fixture quieted the
    libraries of this test process (ui.quiet_libraries), and its children would inherit that."""
    from qstar_cli import ui

    for name in (*ui.QUIET_ENV, ui.VERBOSE_ENV):
        monkeypatch.delenv(name, raising=False)


def ok(result):
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    return result


@pytest.fixture(scope="session")
def rollouts(tmp_path_factory, data_dir, embedded_model):
    out = tmp_path_factory.mktemp("pipeline") / "rollouts"
    ok(
        run_qstar(
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
            "40",
            "--temperature",
            "0.8",
            "--backend",
            "hf",
            "--out",
            str(out),
        )
    )
    return out


@pytest.fixture(scope="session")
def rollout_labels(rollouts):
    out = rollouts.parent / "labels"
    result = ok(
        run_qstar(
            "label",
            "--input",
            str(rollouts),
            "--method",
            "rollout",
            "--num-rollouts",
            "2",
            "--backend",
            "hf",
            "--set",
            "label.max_tokens=40",
            "--out",
            str(out),
        )
    )
    return out, result


@pytest.fixture(scope="session")
def trained_qvm(rollout_labels):
    labels, _ = rollout_labels
    out = labels.parent / "qvm"
    args = (
        "train-q",
        "--labels",
        str(labels),
        "--backbone",
        "minilm",
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--set",
        "train.heldout_fraction=0.34",
        "--out",
        str(out),
    )
    return out, ok(run_qstar(*args)), args


GREEDY_QUESTIONS = ("--dataset", "mawps", "--split", "test", "--num-shots", "4", "--limit", "4")
GREEDY_MAX_TOKENS = 128


@pytest.fixture(scope="session")
def vllm_greedy_eval(data_dir, tmp_path_factory):
    """`qstar eval`'s greedy run of the first MAWPS test questions on the in-process vLLM engine:
    its folder and its records in question order."""
    pytest.importorskip("vllm")
    out = tmp_path_factory.mktemp("vllm-greedy") / "eval"
    ok(
        run_qstar(
            "eval",
            *GREEDY_QUESTIONS,
            "--search",
            "greedy",
            "--backend",
            "vllm",
            "--set",
            f"sampling.max_tokens={GREEDY_MAX_TOKENS}",
            "--out",
            str(out),
        )
    )
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return out, sorted(records, key=lambda r: int(r["id"].rsplit("/", 1)[-1]))
