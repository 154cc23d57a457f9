"""The batched policy interface every backend implements, and the step-level calls built on it.

A backend does one thing: `generate(prompts, params)` for many prompts in one call, `n` samples
each. On top of it, `Policy` offers what stages and search need: `propose_steps` (K candidate next
steps for many states, de-duplicated) and `complete` (finish many states to the end). Each result
carries its text, token count, finish reason ("stop": a step boundary was hit, "eos": the model
ended the solution, "length": the token limit), and on request per-token logprobs with the top-k
alternatives. Counters record calls and generated tokens so every method reports its compute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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

    @property
    def num_tokens(self) -> int:
        return self.tokens if self.tokens is not None else len(self.token_ids)

    @property
    def logprob(self) -> float | None:
        return sum(self.token_logprobs) if self.token_logprobs is not None else None


@dataclass
class Usage:
    calls: int = 0
    prompts: int = 0
    sequences: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


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

    def __init__(self) -> None:
        self.usage = Usage()

    def _generate(self, prompt_ids: list[list[int]], params: GenParams) -> list[list[Generation]]:
        raise NotImplementedError

    def _generate_text(self, prompts: list[str], params: GenParams) -> list[list[Generation]]:
        # local backends encode once here; a remote server takes the text itself
        return self._generate([self.encode(p) for p in prompts], params)

    def close(self) -> None:
        pass

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
    def generate(self, prompts: list[str], params: GenParams) -> list[list[Generation]]:
        """All prompts in one backend call; returns `params.n` generations per prompt."""
        if not prompts:
            return []
        start = time.perf_counter()
        outs = self._generate_text(prompts, params)
        self.usage.calls += 1
        self.usage.prompts += len(prompts)
        self.usage.sequences += sum(len(o) for o in outs)
        self.usage.generated_tokens += sum(g.num_tokens for o in outs for g in o)
        self.usage.seconds += time.perf_counter() - start
        return outs

    def split_steps(self, gen: Generation, fmt: StepFormat) -> list[StepSplit]:
        """Cut a finished generation into steps, with per-step token counts and logprob sums."""
        lengths = self.piece_lengths(gen.token_ids)
        spans = fmt.char_spans(gen.text, lengths)
        groups = assign_tokens(spans, lengths, len(gen.text))
        steps = []
        for (a, b), idx in zip(spans, groups):
            lps = [gen.token_logprobs[i] for i in idx] if gen.token_logprobs is not None else None
            tops = [gen.top_logprobs[i] for i in idx] if gen.top_logprobs is not None else None
            steps.append(StepSplit(gen.text[a:b], len(idx), sum(lps) if lps is not None else None, lps, tops))
        return steps


class Policy:
    """Step-level calls for stages and search, on top of one backend."""

    def __init__(self, backend: PolicyBackend, step_format: StepFormat, max_step_tokens: int = 256):
        self.backend = backend
        self.step_format = step_format
        self.max_step_tokens = max_step_tokens

    def propose_steps(self, states: list[str], k: int, temperature: float, top_p: float = 1.0,
                      logprobs: int | None = None) -> list[list[Generation]]:
        """K sampled candidate next steps per state, identical texts merged (first kept).

        A candidate that is only whitespace (the model wrote an empty line) is continued once, in
        one more batched call, so that every step has content: collected solutions are cut the
        same way (blank lines never stand alone as steps), and the QVM was trained on those.
        """
        params = GenParams(n=k, temperature=temperature, top_p=top_p, stop=self.step_format.stop,
                           max_tokens=self.step_format.step_token_limit(self.max_step_tokens), logprobs=logprobs)
        gens = self.backend.generate(states, params)
        blanks = [(i, j) for i, gs in enumerate(gens) for j, g in enumerate(gs)
                  if g.finish_reason == "stop" and not g.text.strip()]
        if blanks:
            more = self.backend.generate([states[i] + gens[i][j].text for i, j in blanks],
                                         GenParams(**{**vars(params), "n": 1}))
            for (i, j), extra in zip(blanks, more):
                gens[i][j] = _joined(gens[i][j], extra[0])
        out = []
        for gs in gens:
            unique: dict[str, Generation] = {}
            for g in gs:
                if g.text in unique:  # merged, but its tokens were generated all the same: keep the count
                    first = unique[g.text]
                    first.generated = (first.generated or first.num_tokens) + g.num_tokens
                else:
                    unique[g.text] = g
            out.append(list(unique.values()))
        return out

    def complete(self, states: list[str], n: int, temperature: float, max_tokens: int, top_p: float = 1.0,
                 logprobs: int | None = None) -> list[list[Generation]]:
        """n continuations of each state to the end of the solution (or max_tokens)."""
        params = GenParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, logprobs=logprobs)
        return self.backend.generate(states, params)


def _joined(first: Generation, second: Generation) -> Generation:
    """One generation made of two consecutive ones (text, tokens, logprobs; the second's finish)."""
    def cat(a, b):
        return None if a is None or b is None else a + b

    tokens = None if first.tokens is None and second.tokens is None else first.num_tokens + second.num_tokens
    return Generation(first.text + second.text, first.token_ids + second.token_ids, second.finish_reason,
                      cat(first.token_logprobs, second.token_logprobs), cat(first.top_logprobs, second.top_logprobs),
                      tokens)
