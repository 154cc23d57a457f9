"""`qstar serve` of the embedded model (vLLM) behind real clients: the official `openai` client, sync
and async with many concurrent requests, and lm-evaluation-harness on local MAWPS rows. Greedy
answers equal `qstar eval`'s on the same questions, one for one; A* with a QVM returns its usage and
its record; bad requests are 4xx while the server keeps serving; a client that disconnects cancels
its question; SIGTERM lets the request in flight finish."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.cli.conftest import GREEDY_MAX_TOKENS
from tests.conftest import DATA_DIR, data_env, needs_local_data

pytestmark = [pytest.mark.slow, needs_local_data]  # the questions, for the clients and lm-eval
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

KEY = "sesame"
SHOTS = ("--dataset", "mawps", "--num-shots", "4")  # the prompts of vllm_greedy_eval's questions
LIMIT = 4
MAX_TOKENS = GREEDY_MAX_TOKENS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def greedy_eval(vllm_greedy_eval):
    """qstar eval's greedy records of the first questions (before the server holds the machine)."""
    return vllm_greedy_eval[1]


@pytest.fixture(scope="module")
def server(greedy_eval, trained_qvm, tmp_path_factory):
    qvm, _, _ = trained_qvm
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    cmd = [
        sys.executable, "-m", "qstar_cli.cli", "serve", *SHOTS, "--backend", "vllm", "--search", "greedy",
        "--qvm", str(qvm), "--port", str(port), "--api-key", KEY, "--grace", "60",
    ]  # fmt: skip
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=data_env(), text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    yield proc, url, log
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def client(url: str):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=300)


def questions(n: int) -> list[str]:
    rows = (DATA_DIR / "mawps" / "test.jsonl").read_text().splitlines()
    return [json.loads(row)["input"] for row in rows[:n]]


def test_served_greedy_answers_are_qstar_eval_s_one_for_one(server, greedy_eval):
    _, url, _ = server
    asks = [r["question"] for r in greedy_eval]

    async def ask_all():
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=300) as c:
            return await asyncio.gather(
                *(c.completions.create(model="qstar", prompt=q, max_tokens=MAX_TOKENS) for q in asks)
            )

    for record, response in zip(greedy_eval, asyncio.run(ask_all()), strict=True):
        [choice] = response.choices
        assert choice.text == record["solution"]
        assert choice.model_extra["qstar"]["answer"] == record["answer"]
        assert response.usage.completion_tokens == record["usage"]["generated_tokens"]


def test_many_concurrent_async_clients_chat_and_streams(server):
    _, url, _ = server
    asks = questions(24)

    async def one(c, i, q):
        if i % 3 == 0:
            r = await c.chat.completions.create(model="qstar", messages=[{"role": "user", "content": q}], max_tokens=48)
            return r.choices[0].message.content, r.usage.completion_tokens
        if i % 3 == 1:
            chunks = [
                ch async for ch in await c.completions.create(model="qstar", prompt=q, max_tokens=48, stream=True)
            ]
            [answer] = [ch.choices[0] for ch in chunks if ch.choices and ch.choices[0].finish_reason]
            return answer.text, chunks[-1].usage.completion_tokens
        r = await c.completions.create(model="qstar", prompt=q, max_tokens=48)
        return r.choices[0].text, r.usage.completion_tokens

    async def run():
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=300) as c:
            return await asyncio.gather(*(one(c, i, q) for i, q in enumerate(asks)))

    answers = asyncio.run(run())
    assert len(answers) == 24 and all(text and 0 < tokens <= 48 for text, tokens in answers)


def test_astar_with_the_qvm_returns_its_usage_and_record(server):
    _, url, _ = server
    r = client(url).completions.create(
        model="qstar",
        prompt=questions(1)[0],
        max_tokens=64,
        extra_body={"search": "astar", "K": 2, "N": 1, "budget": 2, "trees": True},
    )
    [choice] = r.choices
    record = choice.model_extra["qstar"]
    assert record["search"] == "astar" and record["settings"]["k"] == 2 and record["settings"]["budget"] == 2
    usage = record["usage"]
    assert usage["qvm_calls"] >= 1 and usage["expansions"] >= 1 and usage["scored"] >= 1
    # usage counts every candidate step generated, not only the answer's text
    assert r.usage.completion_tokens == usage["generated_tokens"] > 0
    assert record["terminals"] and all(isinstance(t["score"], float) for t in record["terminals"])
    assert record["tree"] and all({"f", "g", "h"} <= set(node) for node in record["tree"])


def test_bad_requests_are_4xx_and_the_server_keeps_serving(server):
    _, url, _ = server
    auth = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    post = lambda body, headers=auth: httpx.post(f"{url}/v1/completions", content=body, headers=headers, timeout=60)  # noqa: E731
    cases = [
        (post(b'{"model": "qstar", "prompt": '), 400, "not valid JSON"),
        (post(json.dumps({"model": "qstar", "prompt": "2+2?", "search": "astar", "budget": 0})), 400, "budget"),
        (post(json.dumps({"model": "qstar", "prompt": "2+2?", "max_tokens": -3})), 400, "max_tokens"),
        (post(json.dumps({"model": "qstar", "prompt": "2+2?", "beam_width": 3})), 400, "beam_width"),
        (post(json.dumps({"model": "qstar", "prompt": "2+2?"}), {"content-type": "application/json"}), 401, "API key"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError):
        client(url).completions.create(model="gpt-4", prompt="2+2?", max_tokens=8)
    assert client(url).completions.create(model="qstar", prompt="2+2?", max_tokens=16).choices[0].text


def test_lm_evaluation_harness_runs_a_task_against_the_server(server, greedy_eval, tmp_path):
    pytest.importorskip("lm_eval")
    _, url, _ = server
    rows = DATA_DIR / "mawps" / "test.jsonl"
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "qstar_mawps.yaml").write_text(
        "task: qstar_mawps\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {rows}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{input}}"\n'
        'doc_to_target: "{{target | int}}"\n'
        f"generation_kwargs:\n  until: ['Question:']\n  max_gen_toks: {MAX_TOKENS}\n  do_sample: false\n"
        "filter_list:\n  - name: answer\n    filter:\n"
        "      - function: regex\n        regex_pattern: 'The answer is (-?[0-9.,]+)'\n"
        "      - function: take_first\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
    )
    out = tmp_path / "lm-eval"
    model_args = (
        f"model=qstar,base_url={url}/v1/completions,tokenizer_backend=None,tokenized_requests=False,num_concurrent=4"
    )
    result = subprocess.run(
        [
            sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", model_args,
            "--tasks", "qstar_mawps", "--include_path", str(tasks), "--limit", str(LIMIT),
            "--output_path", str(out), "--log_samples",
        ],
        env={**os.environ, "OPENAI_API_KEY": KEY, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    [samples] = list(out.rglob("samples_qstar_mawps_*.jsonl"))
    served = {json.loads(line)["doc_id"]: json.loads(line) for line in samples.read_text().splitlines()}
    assert sorted(served) == list(range(LIMIT))
    for i, record in enumerate(greedy_eval):
        assert served[i]["resps"][0][0] == record["solution"].split("Question:")[0]


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_client_that_disconnects_cancels_its_question(server):
    _, url, _ = server
    body = {
        "model": "qstar", "prompt": questions(1)[0], "max_tokens": 256,
        "search": "astar", "K": 4, "N": 4, "budget": 40,
    }  # fmt: skip
    gone = 'qstar_requests_total{endpoint="/v1/completions",method="astar",status="499"}'
    before = metric(url, gone)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=3)
    deadline = time.time() + 30
    while metric(url, gone) == before or metric(url, "qstar_questions_in_flight") > 0:
        assert time.time() < deadline, "the disconnected client's question is still searched"
        time.sleep(0.5)


def test_sigterm_stops_taking_requests_and_finishes_those_in_flight(server):
    proc, url, log = server
    answer = {}
    body = {
        "model": "qstar",
        "prompt": questions(2)[1],
        "max_tokens": 96,
        "search": "astar",
        "K": 2,
        "N": 1,
        "budget": 3,
    }
    asking = threading.Thread(
        target=lambda: answer.update(
            r=httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        )
    )
    asking.start()
    deadline = time.time() + 30
    while metric(url, "qstar_questions_in_flight") < 1:
        assert time.time() < deadline and "r" not in answer, answer.get("r") and answer["r"].text
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    asking.join(120)
    assert answer["r"].status_code == 200 and answer["r"].json()["choices"][0]["qstar"]["search"] == "astar"
    assert proc.wait(90) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=5)
    text = log.read_text()
    assert "Traceback" not in text and "requests" in text and "200:" in text
