"""A served policy that fails at random: collect-rollouts and eval through the openai backend against a
local server that drops connections, stalls past the timeout, answers 5xx, cuts its body short and
sends malformed JSON (seeded). The runs complete with every question exactly once, the same records
as against a server that never fails, and every retry counted in the metrics."""

import json
import random
import re
import threading
import time

import pytest

from tests.cli.conftest import ok
from tests.cli.test_qlearning_e2e import read, same_records
from tests.conftest import run_qstar
from tests.fakes import JSONHandler, LocalHTTP

FAULTS = ("drop", "stall", "500", "503", "cut", "garbage", "no_choices")
TIMEOUT = 1.0  # the client's request_timeout; a stall lasts longer


def toy_choice(body: dict, i: int) -> dict:
    """A deterministic stand-in for a model, shaped as vLLM serve answers (token texts hold the stop
    string and the end-of-sequence token; the text holds neither)."""
    seed = sum(map(ord, body["prompt"][-40:])) + 7 * i + len(body["prompt"])
    a, b = seed % 9 + 1, seed % 7 + 1
    steps = [f"{a} + {b} = {a + b}\n", f"The answer is {a + b}."]
    if body.get("stop"):  # one step
        depth = body["prompt"].count(" = ")
        text = steps[min(depth, 1)]
        stop = "\n" if text.endswith("\n") else None
        text = text.rstrip("\n")
        pieces = re.findall(r"\s*\S+", text) + (["\n"] if stop else ["<|im_end|>"])
        reason = {"finish_reason": "stop", "stop_reason": stop}
    else:
        text = "".join(steps)
        pieces = re.findall(r"\s*\S+|\n", text) + ["<|im_end|>"]
        reason = {"finish_reason": "stop", "stop_reason": None}
    logprobs = [-0.1 * (k % 5 + 1) for k in range(len(pieces))]
    return {
        "index": i,
        "text": text,
        **reason,
        "logprobs": {
            "tokens": pieces,
            "token_logprobs": logprobs,
            "top_logprobs": [{p: lp} for p, lp in zip(pieces, logprobs)],
        }
        if "logprobs" in body
        else None,
    }


class FlakyServer(LocalHTTP):
    def __init__(self, fault_rate: float, seed: int = 0):
        self.rng, self.lock = random.Random(seed), threading.Lock()
        self.faults: dict[str, int] = {}
        server = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.json_body()
                with server.lock:
                    fault = server.rng.choice(FAULTS) if server.rng.random() < fault_rate else None
                    if fault:
                        server.faults[fault] = server.faults.get(fault, 0) + 1
                if fault == "drop":
                    self.close_connection = True
                    return  # no answer at all: the client sees the connection closed
                if fault == "stall":
                    time.sleep(TIMEOUT + 0.5)
                if fault in ("500", "503"):
                    return self._send(int(fault), b'{"error": "overloaded"}')
                reply = json.dumps(
                    {"choices": [toy_choice(body, i) for i in range(body["n"])], "usage": {"completion_tokens": 0}}
                ).encode()
                if fault == "cut":  # the headers promise more than the body holds
                    return self._send(200, reply[: len(reply) // 2], length=len(reply))
                if fault == "garbage":
                    return self._send(200, b"<html>502 Bad Gateway</html>")
                if fault == "no_choices":
                    return self._send(200, b'{"object": "error", "message": "try again"}')
                self._send(200, reply)

            def _send(self, code, data, length=None):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(length or len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # a stalled request's client has gone

        self.serve(Handler)


@pytest.fixture
def servers():
    made = []

    def make(rate):
        made.append(FlakyServer(rate, seed=len(made)))
        return made[-1]

    yield make
    for s in made:
        s.close()


def served(server, *args):
    return (
        *args,
        "--backend",
        "openai",
        "--model",
        "toy",
        "--set",
        f"policy.options.openai.base_url={server.url}",
        "--set",
        f"policy.options.openai.request_timeout={TIMEOUT}",
        "--set",
        "policy.options.openai.max_retries=30",
        "--set",
        "policy.options.openai.backoff_seconds=0.01",
        "--set",
        "policy.options.openai.concurrency=4",
    )


@pytest.mark.parametrize(
    "stage, records",
    [
        (("collect-rollouts", "--num-rollouts", "2"), "rollouts.jsonl"),
        (("eval", "--search", "self-consistency", "-n", "3"), "predictions.jsonl"),
        (
            ("eval", "--search", "mcts", "--iterations", "3", "-K", "2", "--set", "eval.max_depth=3"),
            "predictions.jsonl",
        ),
    ],
)
def test_a_flaky_server_changes_nothing_but_the_retries(servers, tmp_path, data_dir, stage, records):
    common = ("--dataset", "mawps", "--split", "test", "--limit", "8", "--set", "sampling.max_tokens=48")
    flaky, steady = servers(0.5), servers(0.0)
    ok(run_qstar(*served(flaky, *stage, *common, "--out", str(tmp_path / "flaky")), timeout=600))
    ok(run_qstar(*served(steady, *stage, *common, "--out", str(tmp_path / "steady")), timeout=600))
    assert sum(flaky.faults.values()) >= 3 and not steady.faults, flaky.faults
    got, want = read(tmp_path / "flaky" / records), read(tmp_path / "steady" / records)
    assert [r["id"] for r in got] == [f"mawps/test/{i}" for i in range(8)]  # every question once, in order
    drop = lambda rs: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rs]  # noqa: E731
    assert same_records(drop(got), drop(want))
    metrics = json.loads((tmp_path / "flaky" / "metrics.json").read_text())
    assert metrics["backend_retries"] == sum(flaky.faults.values())  # each fault cost exactly one retry
    assert json.loads((tmp_path / "steady" / "metrics.json").read_text())["backend_retries"] == 0
