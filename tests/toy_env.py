"""A toy search environment: a graph of steps with known costs, for testing search exactly."""

from __future__ import annotations

from qstar_cli.search.base import Candidate, SearchEnv


class GraphEnv(SearchEnv):
    """States are step tuples. `edges[state] = [(step, cost, ends)]`; `h[state + step]` is the heuristic.

    process_utility returns -cost, so g = sum of utilities = -(path cost) and A* maximising
    f = g + h with an optimistic h (h >= -(best remaining cost)) finds the cheapest terminal.
    """

    def __init__(self, edges, h=None, answers=None):
        self.edges, self.h, self.answers = edges, h or {}, answers or {}
        self.calls = {"propose": 0, "complete": 0, "q": 0, "u": 0}
        self.proposed_states = []

    def _children(self, steps):
        return self.edges.get(tuple(steps), [])

    def propose(self, requests, k, temperature, logprobs=False):
        self.calls["propose"] += 1
        out = []
        for _, steps in requests:
            self.proposed_states.append(tuple(steps))
            out.append([Candidate(s, 1, "eos" if ends else "stop") for s, _, ends in self._children(steps)[:k]])
        return out

    def complete(self, requests, n, temperature, logprobs=False):
        self.calls["complete"] += 1
        return [[Candidate("done", 1, "eos")] * n for _ in requests]

    def q_values(self, requests):
        self.calls["q"] += 1
        return [self.h.get(tuple(steps) + (action,), 0.0) for _, steps, action in requests]

    def process_utility(self, requests, kind):
        self.calls["u"] += 1
        out = []
        for _, steps, cand in requests:
            cost = next(c for s, c, _ in self._children(steps) if s == cand.text)
            out.append(-cost)
        return out

    def split_steps(self, text, tokens):
        return [text]

    def extract_answer(self, question, text):
        return self.answers.get(text, text[-1:])


class ScriptedEnv(SearchEnv):
    """States are the prompt plus the steps so far; `script[state]` lists what the policy writes
    there (a text, or a (text, finish) pair; a bare text finishes with "eos"), cycled to n. Both
    `propose` and `complete` read it; `calls` keeps each call's (kind, states, n). The labelers are
    tested on it through the same interface search uses."""

    def __init__(self, script):
        self.script = script
        self.calls = []

    def _answer(self, kind, requests, n):
        states = [q.prompt + "".join(steps) for q, steps in requests]
        self.calls.append((kind, states, n))
        out = []
        for state in states:
            texts = self.script[state]
            picks = [texts[i % len(texts)] for i in range(n)]
            pairs = [t if isinstance(t, tuple) else (t, "eos") for t in picks]
            out.append([Candidate(text, max(1, len(text.split())), finish) for text, finish in pairs])
        return out

    def propose(self, requests, k, temperature, logprobs=False):
        return self._answer("propose", requests, k)

    def complete(self, requests, n, temperature, logprobs=False):
        return self._answer("complete", requests, n)
