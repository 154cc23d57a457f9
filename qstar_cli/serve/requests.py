"""A request body, read into questions and each one's search settings, or an `ApiError` that names
the field at fault.

The OpenAI fields mean what they mean there, with two readings a search needs: `max_tokens` is the
token limit of one whole solution (`sampling.max_tokens`), and `n` is the method's own sample count
(`-n` of self-consistency and best-of-N), since every prompt gets one answer. `temperature` is the
search's sampling temperature (`eval.temperature`) where the method samples; greedy ignores it, as
OpenAI clients send one by habit. Any other field is a qstar setting: `search` (or `method`), `K`,
`N`, and every eval key a search method reads (`budget`, `lam`, `width`, `iterations`, ...), checked
by the same config code as `--set`, so a bad value gets `--set`'s message with the field's name.
The server's models (`qvm`, `prm`) and its data settings are fixed when it starts.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from qstar_cli.config import SEARCH_KEYS, EvalConfig, resolve, to_dict
from qstar_cli.errors import QstarError

# OpenAI fields qstar reads (besides the prompt or messages)
READ = {"model", "max_tokens", "max_completion_tokens", "temperature", "n", "stream", "stream_options", "stop", "seed"}
# OpenAI fields accepted only at a value that asks for nothing qstar does not do: (the values, why)
INERT = {
    "user": (None, "a label"),
    "echo": ((False, None), "qstar does not echo the prompt"),
    "logprobs": ((None, False, 0), "a search's answer is chosen among many samples; it has no logprobs of its own"),
    "top_logprobs": ((None, 0), "see logprobs"),
    "best_of": ((None, 1), "use search best-of-n with n"),
    "suffix": ((None, ""), "qstar does not insert text"),
    "logit_bias": ((None, {}), "the policy is sampled as it was trained"),
    "frequency_penalty": ((None, 0, 0.0), "the policy is sampled as it was trained"),
    "presence_penalty": ((None, 0, 0.0), "the policy is sampled as it was trained"),
    "response_format": ((None, {"type": "text"}), "answers are text"),
    "tools": ((None, []), "qstar does not call tools"),
    "tool_choice": ((None, "none", "auto"), "qstar does not call tools"),
    "parallel_tool_calls": ((None, False, True), "qstar does not call tools"),
    "functions": ((None, []), "qstar does not call tools"),
    "function_call": ((None, "none", "auto"), "qstar does not call tools"),
    "store": ((None, False), "qstar stores nothing"),
    "metadata": (None, "a label"),
}
ALIASES = {"search": "search", "method": "search", "K": "k", "N": "n_terminals", "trees": "trees"}
# eval keys that are the server's, not a request's: its models, and what `temperature` and `n` set
SERVER_KEYS = {"qvm", "prm", "temperature", "n"}


class ApiError(Exception):
    """An error answered with an OpenAI-style body: {"error": {"message", "type", "param", "code"}}."""

    TYPES: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = self.TYPES.get(self.status, "invalid_request_error" if self.status < 500 else "server_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param)


def request_keys() -> dict[str, str]:
    """Request field -> the eval key it sets, for every qstar setting a request may carry."""
    keys = {key: key for key in set().union(*SEARCH_KEYS.values()) - SERVER_KEYS}
    return {**keys, **ALIASES}


@dataclass
class Served:
    """What the server serves, fixed when it starts."""

    model: str  # the id GET /v1/models lists; requests must name it
    config: EvalConfig  # the search and settings a request gets unless it sets its own
    dataset: Any  # a qstar dataset (its prompt and answer format), or None: raw prompts
    render: Any  # chat messages -> the prompt text the policy continues (the backend's chat template)
    max_model_len: int
    max_prompts: int = 64  # prompts one completions request may carry


@dataclass
class Ask:
    """One request, checked: its prompts and the settings every one of them is searched with."""

    questions: list[tuple[str, str]]  # (question text, the prompt text the policy continues)
    config: EvalConfig  # its resolved config: search, the method's settings, sampling.max_tokens
    stream: bool
    include_usage: bool
    stop: list[str]
    chat: bool
    asked_limit: bool = False  # the request set max_tokens (else the server's, up to the context's end)

    @property
    def search(self) -> str:
        return self.config.eval.search


def parse(raw: bytes, served: Served, chat: bool) -> Ask:
    """The body of POST /v1/completions (chat False) or /v1/chat/completions, checked."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad(f"the request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required: the name GET /v1/models lists", "model")
    if model != served.model:
        raise ApiError(
            404, f"model {model!r} is not served here; this server serves {served.model!r}", "model", "model_not_found"
        )
    questions = _chat_questions(body, served) if chat else _prompt_questions(body, served)
    settings = {}
    known = request_keys()
    for key, value in body.items():
        if key in READ or key in ("prompt", "messages"):
            continue
        if key in INERT:
            allowed, why = INERT[key]
            if allowed is not None and value not in (allowed if isinstance(allowed, tuple) else (allowed,)):
                raise bad(f"{key!r} is not supported by qstar serve ({why})", key)
            continue
        if key not in known:
            close = difflib.get_close_matches(key, [*known, *READ, *INERT], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; qstar settings: {', '.join(sorted(known))}"
            raise bad(f"unknown request field {key!r}{hint}", key)
        settings[key] = value
    config = _configure(body, settings, served)
    stream = _typed(body, "stream", bool, False)
    options = _typed(body, "stream_options", dict, None) or {}
    return Ask(
        questions,
        config,
        stream,
        include_usage=bool(options.get("include_usage", True)),
        stop=_stops(body.get("stop")),
        chat=chat,
        asked_limit=any(body.get(key) is not None for key in ("max_tokens", "max_completion_tokens")),
    )


def _typed(body: dict, key: str, kind: type, default: Any) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad(f"{key!r} must be {kind.__name__}, got {json.dumps(value)}", key)
    return value


def _prompt_questions(body: dict, served: Served) -> list[tuple[str, str]]:
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise bad("'prompt' must be a string or a list of strings (token ids are not accepted)", "prompt")
    if len(prompts) > served.max_prompts:
        raise bad(f"'prompt' holds {len(prompts)} prompts; at most {served.max_prompts} per request", "prompt")
    out = []
    for text in prompts:
        _check_text(text, "prompt", served)
        out.append((text, _prompt(text, served) if served.dataset is not None else text))
    return out


def _chat_questions(body: dict, served: Served) -> list[tuple[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of {role, content}", "messages")
    turns = []
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # content parts: text only
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                raise bad(f"messages[{i}].content: only text parts are accepted", "messages")
            content = "".join(str(p.get("text", "")) for p in content)
        if (
            not isinstance(m, dict)
            or m.get("role") not in ("system", "user", "assistant")
            or not isinstance(content, str)
        ):
            raise bad(f"messages[{i}] must be {{role: system|user|assistant, content: text}}", "messages")
        turns.append({"role": m["role"], "content": content})
    if turns[-1]["role"] != "user":
        raise bad("the last message must be the user's: qstar answers it", "messages")
    question = turns[-1]["content"]
    _check_text(question if served.dataset is not None else "".join(t["content"] for t in turns), "messages", served)
    # with a dataset, its own prompt (instruction, worked examples) asks the last user message;
    # raw, the whole conversation goes through the model's chat template
    return [(question, _prompt(question, served) if served.dataset is not None else served.render(turns))]


def _check_text(text: str, field: str, served: Served) -> None:
    if not text.strip():
        raise bad(f"{field!r} is empty", field)
    # a cheap bound before any tokenizer runs (no token is shorter than a character); the exact
    # count against the context is taken when the question is admitted
    if len(text) > 64 * served.max_model_len:
        raise bad(
            f"{field!r} is {len(text):,} characters, far beyond the model's context of {served.max_model_len} tokens",
            field,
        )


def _prompt(question: str, served: Served) -> str:
    from qstar_cli.datasets.base import Problem

    cfg = served.config
    return served.render(served.dataset.messages(Problem("request", question, ""), num_shots=cfg.data.num_shots))


def _stops(stop: Any) -> list[str]:
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise bad("'stop' must be a string or a list of up to 4 non-empty strings", "stop")
    return stops


def _configure(body: dict, settings: dict, served: Served) -> EvalConfig:
    """The request's config: the server's, with the request's search and settings, checked as --set is."""
    known = request_keys()
    base = to_dict(served.config)
    models = {key: base["eval"].pop(key) for key in ("qvm", "prm")}  # the server's, given to methods that use them
    search = str(settings.get("search", settings.get("method", served.config.eval.search))).replace("-", "_")
    if search != served.config.eval.search and search in SEARCH_KEYS:
        # another method: the server's settings of its own method do not carry over
        defaults = to_dict(EvalConfig())["eval"]
        others = set().union(*SEARCH_KEYS.values()) - SEARCH_KEYS[search] - SERVER_KEYS
        base["eval"] = {k: defaults[k] if k in others else v for k, v in base["eval"].items()}
    reads = SEARCH_KEYS.get(search, set())
    flags = {f"eval.{known[key]}": value for key, value in settings.items()}
    flags["eval.search"] = search
    if body.get("temperature") is not None:
        temperature = _number(body, "temperature", 0.0, 2.0)
        if "temperature" in reads:
            flags["eval.temperature"] = temperature
    n = _typed(body, "n", int, None)
    if n is not None:
        if "n" in reads:
            flags["eval.n"] = n
        elif n != 1:
            raise bad(f"'n' is the sample count of self-consistency and best-of-n; search {search} draws none", "n")
    max_tokens = _typed(body, "max_tokens", int, None) or _typed(body, "max_completion_tokens", int, None)
    for key in ("max_tokens", "max_completion_tokens"):
        if key in body and body[key] is not None and body[key] <= 0:
            raise bad(f"{key!r} must be at least 1, got {body[key]}", key)
    if max_tokens is not None:
        if max_tokens >= served.max_model_len:
            raise bad(
                f"'max_tokens' {max_tokens} leaves no room for a prompt in the context of {served.max_model_len}",
                "max_tokens",
            )
        flags["sampling.max_tokens"] = max_tokens
    _typed(body, "seed", int, None)
    by_key = {f"eval.{known[k]}": k for k in settings}
    if "search" in settings or "method" in settings:  # the search's own check names no key
        by_key["unknown search"] = "search" if "search" in settings else "method"
    try:
        config = resolve(EvalConfig, base=base, flags=flags)
    except QstarError as exc:
        message = str(exc).replace("--search ", "search ")
        field = next((f for key, f in by_key.items() if key in message), None)
        raise bad(f"{field!r}: {message}" if field else message, field) from None
    for key, model in models.items():
        setattr(config.eval, key, model if key in SEARCH_KEYS[config.eval.search] else None)
    method_needs_models(config)
    return config


def _number(body: dict, key: str, lo: float, hi: float) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise bad(f"{key!r} must be a number in [{lo:g}, {hi:g}], got {json.dumps(value)}", key)
    return float(value)


def method_needs_models(config: EvalConfig) -> None:
    """A request's search may need a model the server was not started with."""
    from qstar_cli.stages.eval import check_search

    try:
        check_search(config)
    except QstarError as exc:
        raise bad(f"{str(exc).split(':')[0]}, and this server has none (start it with --qvm)", "search") from None
