"""The OpenAI-compatible backend against a small local HTTP server started by the test."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qstar_cli.backends.base import GenParams
from qstar_cli.backends.openai_backend import OpenAIBackend
from qstar_cli.errors import QstarError


class Server:
    """Scripted /v1/completions: `failures` answers first (status codes), then echoes."""

    def __init__(self, failures=(), stop_reason=True):
        self.failures = list(failures)
        self.requests = []
        self.stop_reason = stop_reason
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
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

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


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
    from qstar_cli.config import LabelConfig, resolve
    from qstar_cli.stages.label import _strong_backend

    flags = {"label.method": "completion", "label.strong_backend": "openai", "label.strong_model": "big",
             "label.strong_options": {"openai": {"base_url": "http://127.0.0.1:9/v1"}}}
    config = resolve(LabelConfig, None, ["label.strong_options.openai.concurrency=3"], flags)
    b = _strong_backend(config)
    assert (b.url, b.model_name, b.concurrency) == ("http://127.0.0.1:9/v1/completions", "big", 3)
    # the keys older qstar versions wrote (label.openai_base_url, ...) still configure it
    old = resolve(LabelConfig, None, ["label.openai_base_url=http://127.0.0.1:8/v1", "label.max_retries=1"],
                  {k: v for k, v in flags.items() if k != "label.strong_options"})
    b = _strong_backend(old)
    assert (b.url, b.max_retries) == ("http://127.0.0.1:8/v1/completions", 1)
    with pytest.raises(QstarError, match="the openai backend takes: api_key_env, backoff_seconds, base_url"):
        resolve(LabelConfig, None, ["label.strong_options.openai.url=http://x"], flags)
    with pytest.raises(QstarError, match="needs --strong-model"):
        resolve(LabelConfig, None, [], {**flags, "label.strong_model": None})
