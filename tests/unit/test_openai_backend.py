"""The OpenAI-compatible backend against a small local HTTP server started by the test."""

import json

import pytest

from qstar_cli.backends.base import GenParams
from qstar_cli.backends.openai_backend import OpenAIBackend
from qstar_cli.errors import QstarError
from tests.fakes import JSONHandler, LocalHTTP


class Server(LocalHTTP):
    """Scripted /v1/completions: `failures` answers first (status codes), then echoes."""

    def __init__(self, failures=(), stop_reason=True, reply=None):
        self.failures = list(failures)
        self.reply = reply  # (body, i) -> the fields of choice i, instead of the echo
        self.requests = []
        self.stop_reason = stop_reason
        server = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.json_body()
                server.requests.append((self.path, dict(self.headers), body))
                if server.failures:
                    code = server.failures.pop(0)
                    self.send_response(code)
                    if code == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(b'{"error": "try later"}')
                    return
                choices = []
                for i in range(body["n"]):
                    if server.reply is not None:
                        choices.append({"index": i, **server.reply(body, i)})
                        continue
                    choice = {"index": i, "text": f"{body['prompt']}|{i}", "finish_reason": "stop"}
                    if body.get("stop"):
                        if server.stop_reason:
                            choice["stop_reason"] = body["stop"][0]
                    elif server.stop_reason:
                        choice["stop_reason"] = None
                    choices.append(choice)
                reply = {"choices": choices, "usage": {"completion_tokens": 4 * body["n"]}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.serve(Handler)


@pytest.fixture
def server(request):
    s = Server(**getattr(request, "param", {}))
    yield s
    s.close()


def backend(url, **kw):
    return OpenAIBackend("strong-model", base_url=url, backoff_seconds=0.01, **kw)


def test_batched_prompts_keep_order_and_counts(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    b = backend(server.url, concurrency=4)
    out = b.generate(["p0", "p1", "p2"], GenParams(n=2, temperature=0.0, max_tokens=16))
    assert [[g.text for g in o] for o in out] == [["p0|0", "p0|1"], ["p1|0", "p1|1"], ["p2|0", "p2|1"]]
    assert all(g.finish_reason == "eos" and g.num_tokens == 4 for o in out for g in o)
    path, headers, body = server.requests[0]
    assert path == "/v1/completions" and headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "strong-model" and body["max_tokens"] == 16
    assert b.usage.calls == 1 and b.usage.sequences == 6


def test_stop_string_is_restored(server):
    out = backend(server.url).generate(["p"], GenParams(n=1, stop=("\n",)))
    assert out[0][0].text == "p|0\n" and out[0][0].finish_reason == "stop"


@pytest.mark.parametrize("server", [{"failures": [500, 429, 503]}], indirect=True)
def test_retries_with_backoff_then_succeeds(server):
    b = backend(server.url, max_retries=5)
    out = b.generate(["p"], GenParams(n=1))
    assert out[0][0].text == "p|0" and b.retries == 3 and len(server.requests) == 4


@pytest.mark.parametrize("server", [{"failures": [500] * 10}], indirect=True)
def test_gives_up_with_a_clear_message(server):
    with pytest.raises(QstarError, match="kept failing after 2 retries.*rerun the same command to resume"):
        backend(server.url, max_retries=2).generate(["p"], GenParams(n=1))
    assert len(server.requests) == 3


@pytest.mark.parametrize("server", [{"failures": [400]}], indirect=True)
def test_client_errors_are_not_retried(server):
    with pytest.raises(QstarError, match="HTTP 400"):
        backend(server.url, max_retries=5).generate(["p"], GenParams(n=1))
    assert len(server.requests) == 1


def test_unreachable_server_and_missing_url(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(QstarError, match="needs a server"):
        OpenAIBackend("m")
    with pytest.raises(QstarError, match="kept failing"):
        backend("http://127.0.0.1:9/v1", max_retries=1, request_timeout=2).generate(["p"], GenParams(n=1))


def test_rate_limit_spaces_requests(server):
    import time

    b = backend(server.url, requests_per_minute=600, concurrency=4)  # 0.1 s apart
    start = time.monotonic()
    b.generate(["a", "b", "c", "d"], GenParams(n=1))
    assert time.monotonic() - start >= 0.3


def test_the_stronger_labeller_is_configured_like_the_policy():
    from qstar_cli.backends import load_backend
    from qstar_cli.config import LabelConfig, resolve
    from qstar_cli.labelers import LABELERS
    from qstar_cli.labelers.completion import strong_policy

    def _strong_backend(config):
        return load_backend(strong_policy(config.policy, LABELERS["completion"].configure(config.label)))

    flags = {
        "label.method": "completion",
        "label.strong_backend": "openai",
        "label.strong_model": "big",
        "label.strong_options": {"openai": {"base_url": "http://127.0.0.1:9/v1"}},
    }
    config = resolve(LabelConfig, None, ["label.strong_options.openai.concurrency=3"], flags)
    b = _strong_backend(config)
    assert (b.url, b.model_name, b.concurrency) == ("http://127.0.0.1:9/v1/completions", "big", 3)
    with pytest.raises(QstarError, match="the openai backend takes: api_key_env, backoff_seconds, base_url"):
        resolve(LabelConfig, None, ["label.strong_options.openai.url=http://x"], flags)
    with pytest.raises(QstarError, match="needs --strong-model"):
        resolve(LabelConfig, None, [], {**flags, "label.strong_model": None})


def test_a_questions_requests_stay_on_one_replica():
    from qstar_cli.datasets.registry import get_dataset
    from qstar_cli.environment import Policy, PolicySearchEnv
    from qstar_cli.search.base import Question
    from qstar_cli.steps import StepFormat

    replicas = [Server(), Server()]
    try:
        b = OpenAIBackend("m", base_url=[r.url for r in replicas], backoff_seconds=0.01)
        # two questions the hash sends to different replicas, and a third that shares one
        ids = [f"q{i}" for i in range(20)]
        first, second = next(i for i in ids if b.route(i) == b.urls[0]), next(i for i in ids if b.route(i) == b.urls[1])
        third = next(i for i in ids if i not in (first, second) and b.route(i) == b.urls[0])
        questions = [Question(q, q, f"<{q}>") for q in (first, second, third)]
        env = PolicySearchEnv(b, get_dataset("gsm8k"), StepFormat.parse("line"), max_tokens=8)
        env.propose([(q, ["s1\n"]) for q in questions], 2, 0.7)  # one batched call
        for q in questions:  # streamed requests, as the search driver makes them
            env.submit("complete", q, ["s1\n", "s2\n"], 1, 0.7)
        env.collect()
        Policy(b, StepFormat.parse("line")).complete([f"<{first}>x"], 1, 0.7, 8, keys=[first])
        seen = [{body["prompt"][: len(q.prompt)] for _, _, body in r.requests} for r in replicas]
        assert seen == [{f"<{first}>", f"<{third}>"}, {f"<{second}>"}]
        assert sum(len(r.requests) for r in replicas) == 3 + 3 + 1
    finally:
        for r in replicas:
            r.close()


STEPS = ["a", " =", " 1", "\n", "The", " answer", " is", " 1", "."]
LPS = [-0.5, -0.25, -1.0, -0.125, -0.5, -0.25, -0.25, -0.75, -0.5]


EOS, EOS_LP = "<|im_end|>", -0.0625


def _vllm_token_texts(body, i):
    """What vLLM serve 0.32 sends (seen with the embedded model): the text lacks the stop string and
    the end-of-sequence token, the token texts hold both."""
    asked = "logprobs" in body  # a server sends token detail only when asked
    if body.get("stop"):
        return {
            "text": "a = 1",
            "finish_reason": "stop",
            "stop_reason": "\n",
            "logprobs": {"tokens": STEPS[:4], "token_logprobs": LPS[:4], "top_logprobs": None} if asked else None,
        }
    return {
        "text": "".join(STEPS),
        "finish_reason": "stop",
        "stop_reason": None,
        "logprobs": {
            "tokens": STEPS + [EOS],
            "token_logprobs": LPS + [EOS_LP],
            "top_logprobs": [{t: lp, "x": lp - 1.0} for t, lp in zip(STEPS + [EOS], LPS + [EOS_LP])],
        }
        if asked
        else None,
    }


def _stripped_token_texts(body, i):
    """A server whose token texts are exactly its text: the stop string cut from both, no EOS token."""
    asked = "logprobs" in body
    if body.get("stop"):
        return {
            "text": "a = 1",
            "finish_reason": "stop",
            "stop_reason": "\n",
            "logprobs": {"tokens": STEPS[:3], "token_logprobs": LPS[:3], "top_logprobs": None} if asked else None,
        }
    return {
        "text": "".join(STEPS),
        "finish_reason": "stop",
        "stop_reason": None,
        "logprobs": {
            "tokens": STEPS,
            "token_logprobs": LPS,
            "top_logprobs": [{t: lp, "x": lp - 1.0} for t, lp in zip(STEPS, LPS)],
        }
        if asked
        else None,
    }


# by hand: "a = 1\n" is tokens 0-3 (logprobs -0.5 - 0.25 - 1 - 0.125), "The answer is 1." tokens 4-8
# (-0.5 - 0.25 - 0.25 - 0.75 - 0.5), plus vLLM's end-of-sequence token (-0.0625), which has no text;
# a server that cuts the stop string from its token texts gets it back as a token of logprob 0.
@pytest.mark.parametrize(
    "server, eos, stop_lp",
    [({"reply": _vllm_token_texts}, True, -0.125), ({"reply": _stripped_token_texts}, False, 0.0)],
    indirect=["server"],
)
def test_a_servers_token_texts_cut_steps_and_carry_logprobs(server, eos, stop_lp):
    from qstar_cli.steps import StepFormat

    b = backend(server.url)
    (gen,) = b.generate(["p"], GenParams(n=1, logprobs=2))[0]
    assert server.requests[-1][2]["logprobs"] == 2 and gen.text == "".join(STEPS)
    assert gen.pieces == STEPS + [""] * eos and gen.num_tokens == 9 + eos
    assert gen.top_logprobs[0] == [-0.5, -1.5]
    first, second = b.split_steps(gen, StepFormat.parse("line"))
    assert (first.text, first.tokens, first.logprob) == ("a = 1\n", 4, -1.875)
    assert (second.text, second.tokens, second.logprob) == ("The answer is 1.", 5 + eos, -2.25 + EOS_LP * eos)
    (step,) = b.generate(["p"], GenParams(n=1, stop=("\n",), logprobs=0))[0]
    assert (step.text, step.pieces, step.finish_reason) == ("a = 1\n", STEPS[:4], "stop")
    assert step.token_logprobs == LPS[:3] + [stop_lp]
    (plain,) = b.generate(["p"], GenParams(n=1))[0]  # no logprobs asked: none sent back, steps can't be cut
    assert plain.pieces is None and "logprobs" not in server.requests[-1][2]
    with pytest.raises(QstarError, match="no token texts"):
        b.split_steps(plain, StepFormat.parse("line"))


def test_a_served_model_is_a_policy_for_every_stage():
    from qstar_cli.config import CollectConfig, EvalConfig, resolve

    sets = [
        "policy.backend=openai",
        "policy.model=served",
        "policy.options.openai.base_url=[http://a:8000/v1, http://b:8000/v1]",
    ]
    assert resolve(CollectConfig, None, sets, {}).policy.options["openai"]["base_url"] == [
        "http://a:8000/v1",
        "http://b:8000/v1",
    ]
    config = resolve(EvalConfig, None, sets + ["eval.search=greedy"], {})
    from qstar_cli.backends import load_backend, model_reference

    assert model_reference(config.policy) == "served"
    assert load_backend(config.policy).urls == ["http://a:8000/v1/completions", "http://b:8000/v1/completions"]
    with pytest.raises(QstarError, match="needs the served model's name"):
        model_reference(resolve(EvalConfig, None, sets[:1] + sets[2:] + ["eval.search=greedy"], {}).policy)
