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
