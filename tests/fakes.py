"""Test doubles: a scripted policy backend for labelling and search logic on hand-built problems."""

from __future__ import annotations

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend


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
