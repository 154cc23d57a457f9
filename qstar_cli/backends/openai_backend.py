"""A policy served by any OpenAI-compatible completions server (vLLM serve, SGLang, hosted APIs).

It is a policy for every stage (collect, label, eval) and the stronger labeller. Prompts go as text
to `POST {base_url}/completions`, one request per prompt with `n` samples, `concurrency` requests in
flight and at most `requests_per_minute` started. Several base URLs are replicas of one served
model (`vllm serve --data-parallel-size`, SGLang's router, or one server per GPU): every request
of a question goes to the same replica (a hash of its id), so the server's prefix cache keeps its
prompt and steps warm. Where qstar asks for logprobs (collect, MCTS's confidence) the server also
sends each token's text, which cuts a completion into token-counted steps without a local
tokenizer; `tokenizer` (the served model's, an HF id or folder) renders chat prompts in its
template and cuts `tokens:N` steps. Connection errors, timeouts, 429 and 5xx answers are retried
with exponential backoff and jitter (honouring Retry-After); a 4xx answer is the caller's mistake
and fails at once. Long jobs survive a flaky server because the stages resume: whatever was written
before a final failure is kept. Only the standard library is used unless a tokenizer is asked for.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
import zlib
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
    serves_by_name = True  # the served model's name: there is no default

    # the options (policy.options.openai.<key>, or label.strong_options.openai.<key>)
    def __init__(
        self,
        model: str,
        *,
        # the server, else $OPENAI_BASE_URL; several (a list, or comma-separated) are replicas
        # of one served model: each question's requests all go to one, its prefix cache warm
        base_url: str | list | None = None,
        # the served model's tokenizer (HF id or folder): its chat template renders the
        # prompts, and tokens:N steps are cut with it; None = plain-text turns
        tokenizer: str | None = None,
        trust_remote_code: bool = False,
        api_key_env: str = "OPENAI_API_KEY",  # the variable that holds the key
        requests_per_minute: float = 0.0,  # 0 = no limit
        concurrency: int = 8,  # requests in flight
        max_retries: int = 6,
        request_timeout: float = 120.0,
        backoff_seconds: float = 1.0,
    ):
        super().__init__()
        urls = _urls(base_url or os.environ.get("OPENAI_BASE_URL"))
        if not urls:
            raise QstarError(
                "the openai backend needs a server: --base-url http://host:port/v1 "
                "(options.openai.base_url) or OPENAI_BASE_URL"
            )
        self.urls = [u.rstrip("/") + "/completions" for u in urls]
        self._next = itertools.count()  # round robin for requests of no question
        if tokenizer:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=trust_remote_code)
        self.api_key = os.environ.get(api_key_env, "")
        self.model_name = model
        self.model_path = f"{urls[0]}#{model}"
        self.limiter = RateLimiter(requests_per_minute)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = request_timeout
        self.backoff = backoff_seconds
        self.retries = 0  # how many retries this backend needed, for the run's record
        self._retries_lock = threading.Lock()  # requests run in a thread pool

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

    @property
    def url(self) -> str:
        return self.urls[0]

    def route(self, key: str | None) -> str:
        """The replica a request goes to: its question's, always the same one; else round robin."""
        if key is None:
            return self.urls[next(self._next) % len(self.urls)]
        return self.urls[zlib.crc32(str(key).encode()) % len(self.urls)]

    def _generate_text(self, prompts: list[str], params: GenParams, keys: list | None = None) -> list[list[Generation]]:
        urls = [self.route(key) for key in keys or [None] * len(prompts)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda pu: self._one(pu[0], params, pu[1]), zip(prompts, urls)))

    def _one(self, prompt: str, params: GenParams, url: str) -> list[Generation]:
        body = {
            "model": self.model_name,
            "prompt": prompt,
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs is not None:  # also brings each token's text: steps are cut by tokens with it
            body["logprobs"] = params.logprobs
        reply = self._post(body, url)
        choices = sorted(reply["choices"], key=lambda c: c.get("index", 0))
        usage_tokens = (reply.get("usage") or {}).get("completion_tokens")
        out = []
        for choice in choices:
            text, finish = choice.get("text", ""), choice.get("finish_reason")
            stop = ""
            if finish == "length":
                reason = "length"
            elif params.stop and (isinstance(choice.get("stop_reason"), str) or "stop_reason" not in choice):
                # the API strips the stop string; put it back so steps keep their delimiter.
                # Servers that do not say why they stopped are taken to have hit the stop string.
                stop = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else params.stop[0]
                reason = "stop"
            else:
                reason = "eos"
            out.append(
                _generation(choice, text, stop, reason, _choice_tokens(choice, usage_tokens, params.n), params.logprobs)
            )
        return out

    def split_steps(self, gen: Generation, fmt):
        if gen.pieces is None and self.tokenizer is None:
            raise QstarError(
                f"{self.url} returned no token texts to cut steps by: qstar asks for logprobs "
                f"(vLLM serve and SGLang return them), or set options.openai.tokenizer"
            )
        if gen.pieces is None:  # the tokenizer re-encodes the text (the server's own ids are unknown)
            gen = Generation(
                **{
                    **vars(gen),
                    "token_ids": self.tokenizer.encode(gen.text, add_special_tokens=False),
                    "token_logprobs": None,
                    "top_logprobs": None,
                }
            )
        return super().split_steps(gen, fmt)

    def _post(self, body: dict, url: str) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read().decode())
                problem = _malformed(reply, body["n"])
                if problem is None:
                    return reply
                last, retry_after = f"a malformed reply ({problem})", None  # a proxy's error page, a cut body
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                if exc.code not in RETRY_STATUS:
                    raise QstarError(f"{url} refused the request (HTTP {exc.code}): {detail}") from None
                last, retry_after = f"HTTP {exc.code}: {detail}", exc.headers.get("Retry-After")
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                http.client.HTTPException,
                UnicodeDecodeError,
                json.JSONDecodeError,
            ) as exc:  # HTTPException: a body cut short (IncompleteRead), a bad status line
                last, retry_after = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", None
            if attempt == self.max_retries:
                break
            with self._retries_lock:
                self.retries += 1
            delay = self.backoff * 2**attempt * (1 + random.random() / 2)
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
            time.sleep(min(delay, 120.0))
        raise QstarError(
            f"{url} kept failing after {self.max_retries} retries ({last}); "
            f"finished work is saved, rerun the same command to resume"
        )


def _malformed(reply, n: int) -> str | None:
    """What is wrong with a completions reply, or None: a JSON object with n choices, each with a text."""
    if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list):
        return "no choices"
    if len(reply["choices"]) != n:
        return f"{len(reply['choices'])} choices for n={n}"
    if not all(isinstance(c, dict) and isinstance(c.get("text", ""), str) for c in reply["choices"]):
        return "a choice without text"
    return None


def _choice_tokens(choice: dict, usage_tokens: int | None, n: int) -> int:
    logprobs = choice.get("logprobs") or {}
    if logprobs.get("tokens") is not None:
        return len(logprobs["tokens"])
    if usage_tokens is not None:
        return round(usage_tokens / n)  # servers report usage per request, not per choice
    return max(1, len(choice.get("text", "")) // 4)


def _urls(value) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(u).strip() for u in items if str(u).strip()]


def _generation(choice: dict, text: str, stop: str, reason: str, tokens: int, logprobs: int | None) -> Generation:
    """A choice as a Generation: its text (with the stop string put back), and where the server sent
    logprobs, each token's text (`pieces`, which cut steps by tokens) and logprob.

    The API cuts the stop string and the end-of-sequence token from the text, but servers differ in
    the token texts: vLLM serve keeps both there ("\n", "<|im_end|>"), with their logprobs; others
    drop the stop string. Either way each generated token becomes one piece of the text + stop: an
    EOS token a piece of no text (as the in-process backends count it), a dropped stop string one
    more token of logprob 0."""
    lp = choice.get("logprobs") or {}
    pieces, token_lps = lp.get("tokens"), lp.get("token_logprobs")
    tops = None
    if pieces is not None and logprobs and lp.get("top_logprobs") is not None:
        tops = [sorted((row or {}).values(), reverse=True) for row in lp["top_logprobs"]]
    if pieces is None or token_lps is None or len(token_lps) != len(pieces):
        return Generation(text + stop, [], reason, tokens=tokens)  # no usable token detail
    pieces, joined = list(pieces), "".join(pieces)
    if reason == "eos" and pieces and joined != text + stop and "".join(pieces[:-1]) == text + stop:
        pieces[-1] = ""  # the EOS token's text
    elif stop and joined == text:  # the stop string, which the server generated, then cut from the tokens
        pieces, token_lps = pieces + [stop], token_lps + [0.0]
        tops = tops + [[0.0]] if tops is not None else None
    if "".join(pieces) != text + stop:
        return Generation(text + stop, [], reason, tokens=tokens)  # token texts that do not spell the text
    return Generation(
        text + stop, [], reason, token_lps if logprobs is not None else None, tops, tokens=len(pieces), pieces=pieces
    )
