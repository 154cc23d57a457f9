"""`qstar serve`'s app on a scripted policy: answers and their usage, every bad request a 4xx with
one message while the server goes on serving, the queue bound, the API key, streams, the metrics,
and the engine's cancel. The real model behind real clients: tests/cli/test_serve_e2e.py."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from qstar_cli.config import EvalConfig, resolve
from qstar_cli.environment import PolicySearchEnv
from qstar_cli.search.base import Question
from qstar_cli.serve.app import create_app
from qstar_cli.serve.engine import Engine, Job
from qstar_cli.serve.main import RawText
from qstar_cli.serve.metrics import Metrics
from qstar_cli.serve.requests import Served
from qstar_cli.steps import StepFormat
from tests.fakes import ScriptedBackend

SCRIPT = {
    "What is 2+3?": ["2 plus 3 is 5.\nThe answer is 5.\n"],
    "user: What is 2+3?\n": ["It is 5.\n"],
    "Vote:": ["a\n1\n", "b\n2\n", "c\n1\n"],
}


class WordBackend(ScriptedBackend):
    """The scripted policy, with a word per token and a plain chat rendering."""

    def encode(self, text):
        return text.split()

    def render(self, messages):
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages)


ASK = {"model": "qstar", "prompt": "What is 2+3?"}


def server(*, max_queue=64, api_key=None, start=True, **settings):
    config = resolve(EvalConfig, flags={"eval.search": "greedy", **settings})
    backend = WordBackend(SCRIPT)
    env = PolicySearchEnv(backend, RawText(), StepFormat.parse("line"), max_tokens=64)
    engine = Engine(env, backend, window=8, max_queue=max_queue, max_model_len=100, lockstep_below=4)
    metrics = Metrics(engine)
    app = create_app(Served("qstar", config, None, backend.render, 100), engine, metrics, api_key=api_key)
    if start:
        engine.start()
    return TestClient(app), engine, backend


def error(response, status: int, *words: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"} and "Traceback" not in body["message"]
    assert all(w in body["message"] for w in words), body["message"]
    if param is not None:
        assert body["param"] == param
    return body


def test_a_completion_is_the_search_s_answer_with_every_generated_token_in_its_usage():
    client, engine, _ = server()
    r = client.post("/v1/completions", json={**ASK, "max_tokens": 50})
    assert r.status_code == 200, r.text
    body = r.json()
    [choice] = body["choices"]
    assert choice["text"] == "2 plus 3 is 5.\nThe answer is 5.\n" and choice["finish_reason"] == "stop"
    record = choice["qstar"]
    assert record["search"] == "greedy" and record["answer"] == "The answer is 5."
    assert record["usage"]["policy_calls"] == 1 and len(record["terminals"]) == 1
    # every token the search generated: one sample of 9 words
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}
    engine.stop()


def test_chat_messages_go_through_the_chat_template_and_n_is_the_sample_count():
    client, engine, backend = server()
    chat = {"model": "qstar", "messages": [{"role": "user", "content": "What is 2+3?"}]}
    r = client.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"] == {"role": "assistant", "content": "It is 5.\n"}
    # self-consistency over three samples: the majority answer (last lines 1, 2, 1), all counted
    r = client.post("/v1/completions", json={"model": "qstar", "prompt": "Vote:", "search": "self-consistency", "n": 3})
    assert r.status_code == 200, r.text
    [choice] = r.json()["choices"]
    assert choice["qstar"]["answer"] == "1" and len(choice["qstar"]["terminals"]) == 3
    assert r.json()["usage"]["completion_tokens"] == 6 and backend.seen[-1][1].n == 3
    engine.stop()


@pytest.mark.parametrize(
    "body, status, words, param",
    [
        (b"{not json", 400, ["not valid JSON"], None),
        (b"[1, 2]", 400, ["JSON object"], None),
        ({"prompt": "What is 2+3?"}, 400, ["'model' is required"], "model"),
        ({"model": "gpt-9", "prompt": "What is 2+3?"}, 404, ["'gpt-9' is not served"], "model"),
        ({"model": "qstar", "prompt": "  "}, 400, ["'prompt' is empty"], "prompt"),
        ({"model": "qstar", "prompt": [1, 2, 3]}, 400, ["token ids are not accepted"], "prompt"),
        ({"model": "qstar", "prompt": "x" * 7000}, 400, ["characters"], "prompt"),
        ({**ASK, "max_tokens": 0}, 400, ["'max_tokens' must be at least 1"], "max_tokens"),
        ({**ASK, "max_tokens": "9"}, 400, ["'max_tokens' must be int"], "max_tokens"),
        ({**ASK, "max_tokens": 100}, 400, ["no room"], "max_tokens"),
        ({**ASK, "temperature": 7}, 400, ["'temperature'"], "temperature"),
        ({**ASK, "serch": "beam"}, 400, ["'serch'", "did you mean 'search'"], "serch"),
        ({**ASK, "search": "dfs"}, 400, ["unknown search 'dfs'"], "search"),
        ({**ASK, "search": "astar"}, 400, ["needs a Q-value model", "--qvm"], "search"),
        ({"model": "qstar", "prompt": "Vote:", "search": "self-consistency", "n": 0}, 400, ["eval.n"], None),
        ({**ASK, "n": 2}, 400, ["'n'", "greedy"], "n"),
        ({**ASK, "K": 4}, 400, ["'K'", "does not use eval.k"], "K"),
        ({**ASK, "echo": True}, 400, ["'echo' is not supported"], "echo"),
        ({**ASK, "stop": ["a", "b", "c", "d", "e"]}, 400, ["'stop'"], "stop"),
        ({"model": "qstar", "messages": []}, 400, ["'messages'"], "messages"),
    ],
)
def test_a_bad_request_is_one_clear_4xx_and_the_next_request_is_served(body, status, words, param):
    client, engine, _ = server()
    path = "/v1/chat/completions" if isinstance(body, dict) and "messages" in body else "/v1/completions"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    error(client.post(path, content=raw, headers={"content-type": "application/json"}), status, *words, param=param)
    assert client.post("/v1/completions", json=ASK).status_code == 200
    engine.stop()


def test_a_prompt_longer_than_the_context_is_a_400_when_it_is_counted():
    client, engine, _ = server()
    r = client.post("/v1/completions", json={"model": "qstar", "prompt": "word " * 90, "max_tokens": 20})
    error(r, 400, "90 tokens", "context of 100", param="prompt")
    engine.stop()


def test_routes_and_methods_that_do_not_exist_are_openai_style_errors():
    client, engine, _ = server()
    error(client.get("/v1/nothing"), 404, "no route")
    error(client.get("/v1/completions"), 405, "GET is not allowed")
    assert client.get("/v1/models").json()["data"][0]["id"] == "qstar"
    assert client.get("/health").json()["status"] == "ok"
    engine.stop()


def test_the_api_key():
    client, engine, _ = server(api_key="sesame")
    body = ASK
    error(client.post("/v1/completions", json=body), 401, "API key")
    error(client.post("/v1/completions", json=body, headers={"Authorization": "Bearer nope"}), 401)
    assert client.post("/v1/completions", json=body, headers={"Authorization": "Bearer sesame"}).status_code == 200
    assert client.get("/health").status_code == 200  # a load balancer's probe needs no key
    engine.stop()


def test_a_full_queue_is_a_429_and_the_queued_request_is_answered_later():
    client, engine, _ = server(max_queue=1, start=False)
    body = ASK
    first = {}
    waiter = threading.Thread(target=lambda: first.update(r=client.post("/v1/completions", json=body)))
    waiter.start()
    while engine.queued == 0:
        time.sleep(0.01)
    r = client.post("/v1/completions", json=body)
    error(r, 429, "--max-queue")
    assert r.headers["retry-after"] == "1"
    engine.start()
    waiter.join(10)
    assert first["r"].status_code == 200
    metrics = client.get("/metrics").text
    assert 'qstar_requests_total{endpoint="/v1/completions",method="greedy",status="429"} 1.0' in metrics
    assert 'qstar_requests_total{endpoint="/v1/completions",method="greedy",status="200"} 1.0' in metrics
    assert "qstar_generated_tokens_total" in metrics and "qstar_queue_length 0.0" in metrics
    engine.stop()


def test_a_stream_sends_progress_then_the_answer_then_the_usage():
    client, engine, _ = server()
    with client.stream("POST", "/v1/completions", json={**ASK, "stream": True}) as r:
        assert r.status_code == 200
        data = [line[len("data: ") :] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    answers = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(answers) == 1 and answers[0]["choices"][0]["text"] == "2 plus 3 is 5.\nThe answer is 5.\n"
    assert answers[0]["choices"][0]["qstar"]["answer"] == "The answer is 5."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9
    assert all(c["object"] == "text_completion" for c in chunks)
    engine.stop()


def test_a_cancelled_question_is_dropped_in_the_engine_and_the_others_are_answered():
    backend = WordBackend(SCRIPT)
    env = PolicySearchEnv(backend, RawText(), StepFormat.parse("line"), max_tokens=64)
    engine = Engine(env, backend, window=8, max_queue=8, max_model_len=100, lockstep_below=4)
    config = resolve(EvalConfig, flags={"eval.search": "greedy"})
    from qstar_cli.search import SEARCHERS

    cfg = SEARCHERS["greedy"].configure(config)
    keep = Job(Question("a", "What is 2+3?", "What is 2+3?", max_tokens=20), "greedy", cfg)
    drop = Job(Question("b", "Vote:", "Vote:", max_tokens=20), "greedy", cfg)
    engine.submit([keep, drop])
    engine.cancel(drop)  # still queued: it never reaches the engine
    engine.start()
    assert keep.future.result(10).answer.text.startswith("2 plus 3")
    assert drop.future.cancelled() and all(prompts != ["Vote:"] for prompts, _ in backend.seen)
    assert engine.in_flight == 0 and engine.queued == 0
    engine.stop()


def test_the_schedule_follows_the_load():
    """Below `lockstep_below` questions in flight a round waits for all of them (refill 1); from
    there on the engine refills its batch as its own refill says."""
    backend = WordBackend(SCRIPT)
    backend.refill = 0.25
    env = PolicySearchEnv(backend, RawText(), StepFormat.parse("line"), max_tokens=64)
    engine = Engine(env, backend, window=8, max_queue=8, max_model_len=100, lockstep_below=3)
    seen = []
    collect = backend.collect
    backend.collect = lambda: (seen.append((engine.in_flight, backend.refill)), collect())[1]
    config = resolve(EvalConfig, flags={"eval.search": "greedy"})
    from qstar_cli.search import SEARCHERS

    cfg = SEARCHERS["greedy"].configure(config)

    def jobs(n):
        return [Job(Question(f"q{i}", "Vote:", "Vote:", max_tokens=20), "greedy", cfg) for i in range(n)]

    one = jobs(1)
    engine.submit(one)
    engine.start()
    one[0].future.result(10)
    three = jobs(3)
    engine.submit(three)
    for job in three:
        job.future.result(10)
    engine.stop()
    assert seen[0] == (1, 1.0) and (3, 0.25) in seen
    assert engine.env.rounds["lockstep"] >= 1 and engine.env.rounds["streamed"] >= 1


def test_a_question_cancelled_as_its_answer_arrives_leaves_the_engine_serving():
    """The client leaves in the round its question finishes: the driver still yields the result
    once, nobody is answered, and the next question is served (the engine did not fail)."""
    backend = WordBackend(SCRIPT)
    env = PolicySearchEnv(backend, RawText(), StepFormat.parse("line"), max_tokens=64)
    engine = Engine(env, backend, window=8, max_queue=8, max_model_len=100, lockstep_below=4)
    from qstar_cli.search import SEARCHERS

    cfg = SEARCHERS["greedy"].configure(resolve(EvalConfig, flags={"eval.search": "greedy"}))
    leaving = Job(Question("a", "Vote:", "Vote:", max_tokens=20), "greedy", cfg)
    collect = backend.collect

    def collect_then_leave():
        out = collect()
        engine.cancel(leaving)  # its answer is on its way back
        return out

    backend.collect = collect_then_leave
    engine.submit([leaving])
    engine.start()
    deadline = time.time() + 10
    while not leaving.future.done() and time.time() < deadline:
        time.sleep(0.01)
    assert leaving.future.cancelled()
    backend.collect = collect
    staying = Job(Question("b", "What is 2+3?", "What is 2+3?", max_tokens=20), "greedy", cfg)
    engine.submit([staying])
    assert staying.future.result(10).answer.text.startswith("2 plus 3") and engine.failure is None
    engine.stop()


def test_a_taken_port_is_one_clear_error_before_any_model_loads():
    import socket

    from qstar_cli.errors import QstarError
    from qstar_cli.serve.main import ServeOptions, check

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = resolve(EvalConfig, flags={"eval.search": "greedy"})
        with pytest.raises(QstarError, match=f"cannot listen on 127.0.0.1:{port}"):
            check(config, ServeOptions(port=port, raw=True))
    for bad in ({"port": 0}, {"port": 70000}, {"max_queue": 0}, {"lockstep_below": -1}, {"grace": -1.0}):
        with pytest.raises(QstarError, match="out of range|must be"):
            check(resolve(EvalConfig, flags={"eval.search": "greedy"}), ServeOptions(raw=True, **bad))
