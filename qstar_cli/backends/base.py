"""The batched policy interface every backend implements.

A backend does one thing: `generate(prompts, params)` for many prompts in one call, `n` samples
each. A backend on an engine with continuous batching (vLLM) also streams: `submit` adds requests
to the running batch at any time and `collect` hands back those that finished, so a search never
waits for a whole round's longest step; every other backend streams by running what was submitted
as one `generate` per collect (a lockstep round). Each result carries its text, token count, finish
reason ("stop": a step boundary was hit, "eos": the model ended the solution, "length": the token
limit), and on request per-token logprobs with the top-k alternatives. Counters record calls and
generated tokens so every method reports its compute. The step-level calls that stages and search
make on top of a backend are `qstar_cli.environment.Policy`'s.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from qstar_cli.batching import pipelined
from qstar_cli.steps import StepFormat, assign_tokens


@dataclass(frozen=True)
class GenParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # None: none; 0: the sampled token's; k: plus the top-k alternatives
    seed: int | None = None


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    finish_reason: str  # stop | eos | length
    token_logprobs: list[float] | None = None
    top_logprobs: list[list[float]] | None = None  # per token, the top-k logprobs, best first
    tokens: int | None = None  # token count when ids are unknown (remote servers)
    # tokens generated for it and for the identical generations merged into it (None: its own)
    generated: int | None = None
    # the text of each token, where the ids are unknown (a server's logprobs): cuts steps by tokens
    pieces: list[str] | None = None

    @property
    def num_tokens(self) -> int:
        return self.tokens if self.tokens is not None else len(self.token_ids)

    @property
    def logprob(self) -> float | None:
        return sum(self.token_logprobs) if self.token_logprobs is not None else None


@dataclass
class BackendUsage:
    """What one backend has done since it was built (search.base.Usage is one question's share)."""

    calls: int = 0
    prompts: int = 0
    sequences: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def count(self, outs: list[list[Generation]], seconds: float) -> None:
        """One backend call (or collect) that returned these generations, one list per prompt."""
        self.calls += 1
        self.prompts += len(outs)
        self.sequences += sum(len(o) for o in outs)
        self.generated_tokens += sum(g.num_tokens for o in outs for g in o)
        self.seconds += seconds


@dataclass
class StepSplit:
    """One step of a finished solution, with the tokens that wrote it."""

    text: str
    tokens: int
    logprob: float | None
    token_logprobs: list[float] | None = field(default=None, repr=False)
    top_logprobs: list[list[float]] | None = field(default=None, repr=False)


class PolicyBackend:
    """Base class: subclasses set `tokenizer` and implement `_generate`."""

    name = "base"
    tokenizer = None
    model_path = ""
    streams = False  # True where submitted requests join a running batch (continuous batching)
    retries = 0  # requests a remote backend had to send again (a server that failed, timed out, ...)
    # whether `restart` can hand this engine to another stage exactly as a fresh one would start
    # (same seed state, nothing cached): what `backends.keep_engines` reuses
    reusable = False
    kept = False  # held by `keep_engines` for later stages: leaving a `with` block does not close it
    in_use = False  # a kept engine a stage is using now
    serves_policy = True  # False: only the stronger labeller (it cannot count a completion's steps' tokens)
    serves_by_name = False  # True: the model is a name its server knows (no local default model)

    def __init__(self, refill: float = 0.25) -> None:
        self.usage = BackendUsage()
        # collect() returns once this fraction of the requests in flight has finished (at least one);
        # 1.0 waits for all of them, a lockstep round. Measured by benchmarks/bench_search.py.
        self.refill = refill
        self._tickets = itertools.count()
        self._queued: list[tuple[int, str, GenParams, str | None]] = []  # submitted, not yet run (non-streaming)

    def _generate(self, prompt_ids: list[list[int]], params: GenParams) -> list[list[Generation]]:
        raise NotImplementedError

    def _generate_text(self, prompts: list[str], params: GenParams, keys: list | None = None) -> list[list[Generation]]:
        # local backends encode once here; a remote server takes the text itself (and the keys)
        return self._generate([self.encode(p) for p in prompts], params)

    def close(self) -> None:
        pass

    def restart(self, seed: int) -> None:
        """Start over for another stage: fresh counters and tickets, nothing queued, `seed` as the
        sampling seed (requests a failed stage left behind are dropped). Backends that set `reusable`
        extend this to reseed and empty their caches."""
        self._queued = []
        self.usage = BackendUsage()
        self.retries = 0
        self._tickets = itertools.count()

    def session_usage(self) -> dict:
        """What this backend did, for the session record of a stage's manifest."""
        return {
            "generated_tokens": self.usage.generated_tokens,
            "generation_seconds": round(self.usage.seconds, 3),
            "backend_calls": self.usage.calls,
            "retries": self.retries,
        }

    @staticmethod
    def check_options(options: dict, where: str) -> None:
        """Raise QstarError for an option value this backend refuses (`where`: its config path)."""

    @staticmethod
    def gpus(options: dict) -> int:
        """GPUs an engine with these options occupies (what a launcher asks for): none by default."""
        return 0

    # `with load_backend(...) as backend:` frees the engine (and its GPU memory) even on an error
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.in_use = False
        if not self.kept:
            self.close()

    # ---- prompts -------------------------------------------------------------------------
    @property
    def uses_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, messages: list[dict]) -> str:
        """Messages -> the prompt text the policy continues (chat template when the model has one)."""
        if self.uses_chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # A base model without a chat template sees the turns as plain text: each question on
        # its own, each worked answer followed by a blank line, and the last question left open.
        return "".join(m["content"] + ("\n\n" if m["role"] == "assistant" else "\n") for m in messages)

    def encode(self, text: str) -> list[int]:
        # A chat template already writes the special tokens (BOS included); adding them again
        # would give the model a double BOS it never saw in training.
        return self.tokenizer.encode(text, add_special_tokens=not self.uses_chat_template)

    def piece_lengths(self, token_ids: list[int]) -> list[int]:
        return [len(p) for p in self.tokenizer.batch_decode([[t] for t in token_ids])]

    # ---- the batched calls ---------------------------------------------------------------
    def generate(self, prompts: list[str], params: GenParams, keys: list | None = None) -> list[list[Generation]]:
        """All prompts in one backend call; returns `params.n` generations per prompt. `keys` name
        each prompt's question: a backend with several replicas sends one question's requests to
        one replica (its prefix cache); the others ignore them."""
        if not prompts:
            return []
        start = time.perf_counter()
        outs = self._generate_text(prompts, params, keys)
        self.usage.count(outs, time.perf_counter() - start)
        return outs

    # ---- streaming: submit now, collect what finished -----------------------------------------
    def submit(self, prompt: str, params: GenParams, key: str | None = None) -> int:
        """Queue one prompt (`params.n` samples; `key`: its question); returns its ticket for `collect`."""
        ticket = next(self._tickets)
        self._queued.append((ticket, prompt, params, key))
        return ticket

    def in_flight(self) -> int:
        return len(self._queued)

    def cancel(self, tickets: list[int]) -> None:
        """Drop these submitted requests: none of them is generated (or handed back) any more."""
        drop = set(tickets)
        self._queued = [item for item in self._queued if item[0] not in drop]

    def collect(self) -> list[tuple[int, list[Generation]]]:
        """Finished requests as (ticket, generations). Without an engine that batches continuously:
        everything submitted, one `generate` per distinct params (a lockstep round)."""
        queued, self._queued = self._queued, []
        groups: dict[GenParams, list[tuple[int, str, str | None]]] = {}
        for ticket, prompt, params, key in queued:
            groups.setdefault(params, []).append((ticket, prompt, key))
        out = []
        for params, items in groups.items():
            gens = self.generate([p for _, p, _ in items], params, [k for _, _, k in items])
            out.extend((ticket, g) for (ticket, _, _), g in zip(items, gens))
        return out

    def generate_batches(
        self, batches: Iterable[tuple[list[str], GenParams, list | None]]
    ) -> Iterator[list[list[Generation]]]:
        """`generate` for each (prompts, params, keys) in turn, each yielded as soon as it is done.
        A streaming backend gets the next batch before this one is waited for, so the engine never
        drains to one batch's longest sequence between batches; others run one `generate` each."""
        if not self.streams:
            for prompts, params, keys in batches:
                yield self.generate(prompts, params, keys)
            return

        def submit(batch: tuple[list[str], GenParams, list | None]) -> list[int]:
            prompts, params, keys = batch
            return [self.submit(p, params, k) for p, k in zip(prompts, keys or [None] * len(prompts))]

        yield from pipelined(batches, submit, self.collect)

    def ready_count(self, in_flight: int) -> int:
        """How many finished requests make a collect worth returning, by `refill`."""
        return max(1, math.ceil(self.refill * in_flight))

    def split_steps(self, gen: Generation, fmt: StepFormat) -> list[StepSplit]:
        """Cut a finished generation into steps, with per-step token counts and logprob sums."""
        lengths = [len(p) for p in gen.pieces] if gen.pieces is not None else self.piece_lengths(gen.token_ids)
        spans = fmt.char_spans(gen.text, lengths)
        groups = assign_tokens(spans, lengths, len(gen.text))
        steps = []
        for (a, b), idx in zip(spans, groups):
            lps = [gen.token_logprobs[i] for i in idx] if gen.token_logprobs is not None else None
            tops = [gen.top_logprobs[i] for i in idx] if gen.top_logprobs is not None else None
            steps.append(StepSplit(gen.text[a:b], len(idx), sum(lps) if lps is not None else None, lps, tops))
        return steps
