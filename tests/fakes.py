"""Test doubles: a scripted policy backend for labelling and search logic on hand-built problems, and a
local HTTP server for the served-policy fakes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler that reads a JSON body."""

    def log_message(self, *args):
        pass

    def json_body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))


class LocalHTTP:
    """A local HTTP server on a free port of 127.0.0.1, its handler class serving in a thread."""

    def serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


class ScriptedBackend(PolicyBackend):
    """Answers each prompt from a script: {prompt text: [continuation texts]} (cycled to n).

    A continuation may be a (text, finish reason) pair; a bare text finishes with "eos".
    """

    name = "scripted"

    def __init__(self, script: dict[str, list[str]]):
        super().__init__()
        self.script = script
        self.seen: list[tuple[list[str], GenParams]] = []

    def _generate_text(self, prompts, params, keys=None):
        self.seen.append((list(prompts), params))
        out = []
        for p in prompts:
            texts = self.script[p]
            gens = [texts[i % len(texts)] for i in range(params.n)]
            pairs = [t if isinstance(t, tuple) else (t, "eos") for t in gens]
            out.append([Generation(text, [0] * max(1, len(text.split())), finish) for text, finish in pairs])
        return out

    def piece_lengths(self, token_ids):
        return [1] * len(token_ids)
