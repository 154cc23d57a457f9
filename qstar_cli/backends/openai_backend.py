"""A policy served by any OpenAI-compatible completions server (vLLM serve, SGLang, hosted APIs).

Prompts go as text to `POST {base_url}/completions`, one request per prompt with `n` samples,
`concurrency` requests in flight and at most `requests_per_minute` started. Connection errors,
timeouts, 429 and 5xx answers are retried with exponential backoff and jitter (honouring
Retry-After); a 4xx answer is the caller's mistake and fails at once. Long labelling jobs survive
a flaky server because the stages resume: whatever was written before a final failure is kept.
Only the standard library is used, so this backend works wherever qstar is installed.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend
from qstar_cli.errors import QstarError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (0 = no limit)."""

    def __init__(self, requests_per_minute: float):
        self.interval = 60.0 / requests_per_minute if requests_per_minute > 0 else 0.0
        self.lock = threading.Lock()
        self.next_start = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(max(0.0, start - now))


class OpenAIBackend(PolicyBackend):
    name = "openai"
    serves_policy = False  # no tokenizer here to cut a completion into token-counted steps

    # the options (policy.options.openai.<key>, or label.strong_options.openai.<key>)
    def __init__(self, model: str, *, base_url: str | None = None,  # else $OPENAI_BASE_URL
                 api_key_env: str = "OPENAI_API_KEY",  # the variable that holds the key
                 requests_per_minute: float = 0.0,  # 0 = no limit
                 concurrency: int = 8,  # requests in flight
                 max_retries: int = 6, request_timeout: float = 120.0, backoff_seconds: float = 1.0):
        super().__init__()
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise QstarError("the openai backend needs a server: --base-url http://host:port/v1 "
                             "(label.strong_options.openai.base_url) or OPENAI_BASE_URL")
        self.url = base_url.rstrip("/") + "/completions"
        self.api_key = os.environ.get(api_key_env, "")
        self.model_name = model
        self.model_path = f"{base_url}#{model}"
        self.limiter = RateLimiter(requests_per_minute)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = request_timeout
        self.backoff = backoff_seconds
        self.retries = 0  # how many retries this backend needed, for the run's record

    @staticmethod
    def check_options(options: dict, where: str) -> None:
        for key in ("concurrency",):
            if options.get(key, 1) <= 0:
                raise QstarError(f"{where}.{key} must be positive, got {options[key]}")
        for key in ("requests_per_minute", "max_retries", "backoff_seconds"):
            if options.get(key, 0) < 0:
                raise QstarError(f"{where}.{key} must be >= 0, got {options[key]}")
        if options.get("request_timeout", 1.0) <= 0:
            raise QstarError(f"{where}.request_timeout must be positive")

    def render(self, messages: list[dict]) -> str:
        # no tokenizer here: the caller passes already-rendered prompt text
        return "".join(m["content"] + ("\n\n" if m["role"] == "assistant" else "\n") for m in messages)

    def _generate_text(self, prompts: list[str], params: GenParams) -> list[list[Generation]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda p: self._one(p, params), prompts))

    def _one(self, prompt: str, params: GenParams) -> list[Generation]:
        body = {"model": self.model_name, "prompt": prompt, "n": params.n, "temperature": params.temperature,
                "top_p": params.top_p, "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        reply = self._post(body)
        choices = sorted(reply.get("choices", []), key=lambda c: c.get("index", 0))
        if len(choices) != params.n:
            raise QstarError(f"{self.url} returned {len(choices)} choices for n={params.n}")
        usage_tokens = (reply.get("usage") or {}).get("completion_tokens")
        out = []
        for choice in choices:
            text, finish = choice.get("text", ""), choice.get("finish_reason")
            if finish == "length":
                reason = "length"
            elif params.stop and (isinstance(choice.get("stop_reason"), str) or "stop_reason" not in choice):
                # the API strips the stop string; put it back so steps keep their delimiter.
                # Servers that do not say why they stopped are taken to have hit the stop string.
                stop = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else params.stop[0]
                text, reason = text + stop, "stop"
            else:
                reason = "eos"
            tokens = _choice_tokens(choice, usage_tokens, params.n)
            out.append(Generation(text, [], reason, tokens=tokens))
        return out

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                if exc.code not in RETRY_STATUS:
                    raise QstarError(f"{self.url} refused the request (HTTP {exc.code}): {detail}") from None
                last, retry_after = f"HTTP {exc.code}: {detail}", exc.headers.get("Retry-After")
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as exc:
                last, retry_after = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", None
            if attempt == self.max_retries:
                break
            self.retries += 1
            delay = self.backoff * 2 ** attempt * (1 + random.random() / 2)
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
            time.sleep(min(delay, 120.0))
        raise QstarError(f"{self.url} kept failing after {self.max_retries} retries ({last}); "
                         f"finished work is saved, rerun the same command to resume")


def _choice_tokens(choice: dict, usage_tokens: int | None, n: int) -> int:
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("tokens") is not None:
        return len(logprobs["tokens"])
    if usage_tokens is not None:
        return round(usage_tokens / n)  # servers report usage per request, not per choice
    return max(1, len(choice.get("text", "")) // 4)
