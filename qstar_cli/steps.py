"""Step formats: what one action (one "step") of the MDP is, and how text splits into steps.

- `line`: one line, ending with "\n" (the paper's choice for math);
- `blank_line`: a paragraph, ending with a blank line;
- `tokens:N`: a fixed number of tokens (Marco-o1's mini-steps; 24 for code in Q*).

The format is a dataset or recipe field, never guessed from a model name. The same object tells
generation where a step stops (stop strings or a token count) and splits a finished solution
into steps, so collected trajectories and searched ones are cut the same way. No torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# the token limit of one line or paragraph step (eval.max_step_tokens's default, and FQI's candidates):
# it only stops a runaway step, a line of arithmetic is tens of tokens
MAX_STEP_TOKENS = 256


@dataclass(frozen=True)
class StepFormat:
    kind: str  # line | blank_line | tokens
    tokens: int = 0  # step size for kind == "tokens"

    @classmethod
    def parse(cls, spec: str) -> StepFormat:
        if spec in ("line", "blank_line"):
            return cls(spec)
        if spec.startswith("tokens:") and spec[7:].isdigit() and int(spec[7:]) > 0:
            return cls("tokens", int(spec[7:]))
        raise ValueError(f"step format must be line, blank_line or tokens:N, got {spec!r}")

    def __str__(self) -> str:
        return f"tokens:{self.tokens}" if self.kind == "tokens" else self.kind

    @property
    def stop(self) -> tuple[str, ...]:
        """Stop strings that end one step during generation."""
        return {"line": ("\n",), "blank_line": ("\n\n",)}.get(self.kind, ())

    def step_token_limit(self, default: int) -> int:
        return self.tokens if self.kind == "tokens" else default

    def char_spans(self, text: str, piece_lengths: list[int] | None = None) -> list[tuple[int, int]]:
        """Split `text` into step spans [start, end). Token steps need each token's text length."""
        if self.kind == "tokens":
            if not piece_lengths:
                return [(0, len(text))] if text else []
            bounds, pos = [], 0
            for i, n in enumerate(piece_lengths):
                pos += n
                if (i + 1) % self.tokens == 0 or i == len(piece_lengths) - 1:
                    bounds.append(min(pos, len(text)))
            return _spans_from_bounds(bounds, len(text))
        sep = r"\n" if self.kind == "line" else r"\n\n+"
        bounds = [m.end() for m in re.finditer(sep, text)]
        spans = _spans_from_bounds(bounds, len(text))
        return _merge_blank(text, spans)


def _spans_from_bounds(bounds: list[int], length: int) -> list[tuple[int, int]]:
    spans, start = [], 0
    for b in bounds:
        if b > start:
            spans.append((start, b))
            start = b
    if start < length:
        spans.append((start, length))
    return spans


def _merge_blank(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A whitespace-only piece (e.g. the empty line of "\n\n") is not a step of its own: it joins
    the step before it (or, at the very start, the step after it)."""
    merged: list[list[int]] = []
    pending_start = None
    for start, end in spans:
        if text[start:end].strip():
            if pending_start is not None:
                start, pending_start = pending_start, None
            merged.append([start, end])
        elif merged:
            merged[-1][1] = end
        elif pending_start is None:
            pending_start = start
    if pending_start is not None:  # the whole text is whitespace
        return [(pending_start, len(text))] if text else []
    return [(a, b) for a, b in merged]


def assign_tokens(spans: list[tuple[int, int]], piece_lengths: list[int], text_length: int) -> list[list[int]]:
    """Token indices belonging to each span, by where each token's text ends.

    When the decoded pieces do not add up to the text (byte-level tokens that split a UTF-8
    character), token ends are spread evenly instead, so counts stay right and sums close.
    """
    n = len(piece_lengths)
    if sum(piece_lengths) == text_length:
        ends, pos = [], 0
        for length in piece_lengths:
            pos += length
            ends.append(pos)
    else:
        ends = [round((i + 1) * text_length / n) for i in range(n)]
    groups: list[list[int]] = [[] for _ in spans]
    s = 0
    for i, end in enumerate(ends):
        # a token ending at the very start of a span (length-0 piece) still belongs to the previous one
        while s < len(spans) - 1 and end > spans[s][1]:
            s += 1
        if groups:
            groups[s].append(i)
    return groups
