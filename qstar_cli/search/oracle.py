"""The oracle heuristic (`--qvm oracle`): Q(s, a) from the policy's own continuations, graded
against the reference answer, computed while the search runs. A diagnostic, not a method: it reads
the answers the search is graded on, so it says how far a search could go with a heuristic this
good (an upper bound), never what a method achieves.

`OracleEnv` wraps a search environment and answers its QVM calls. For each (question, steps so far
s, action a) it asks the policy for M continuations of s + a (ONE `complete` call for all the pairs
of a QVM call), grades each full solution (steps, action, continuation) with the dataset's 0/1
reward against the reference answer (the labelers' `grade_all`), and aggregates the outcomes as the
rollout label does (`labelers.targets.rollout_label`, γ = 1, no own endings): `max` (y, the target a
QVM trains on by default) or `soft` (their mean, a finer ranking). So with noise 0 its value is the
rollout label of (s, a), drawn afresh at search time. Everything else (proposals, completions,
utilities, PRM) goes to the wrapped environment unchanged. The continuations' tokens are charged
to `Usage.oracle_tokens`, never to the search's own `generated_tokens`.

Noise. With `noise` = p, each value is, with probability p, replaced by an independent uniform draw
on [0, 1]. The coin and the draw come from a hash of (seed, question id, steps, action): a run is
deterministic, and a pair scored twice gets the same coin and draw. For one (right, wrong) pair of
a question both values stay with probability (1 - p)², exactly one is replaced with 2p(1 - p), both
with p². A draw against a kept value v ranks above it with probability 1 - v, so the pair's expected
contribution to the within-question AUC is

    (1 - p)² · [v₊ > v₋, ties ½]  +  p(1 - p) · (1 + v₊ - v₋)  +  p² · ½.

With the `max` target the values are 0 or 1, where [v₊ > v₋, ties ½] = ½(1 + v₊ - v₋), so

    AUC(p) = 0.5 + (1 - p²) · (AUC₀ - 0.5)

in expectation, AUC₀ being the noiseless oracle's: p = 0 keeps the oracle's ranking, p = 1 is
chance, p = 0.5 keeps three quarters of its margin over chance. (With `soft` the middle term stays
p(1 - p)(1 + μ₊ - μ₋), μ± the mean values of the right and the wrong actions.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.labelers.continuation import grade_all
from qstar_cli.labelers.targets import rollout_label
from qstar_cli.labelers.tree import Node
from qstar_cli.search.base import SearchEnv

ORACLE = "oracle"  # the eval.qvm value that asks for it (a folder of that name: ./oracle)
# how every output that used it names it
LABEL = "oracle (uses the reference answers)"


@dataclass
class OracleConfig:
    """Its settings, the eval keys `oracle_<field>` (read only with eval.qvm=oracle)."""

    rollouts: int = field(default=4, metadata={"min": 1})  # M continuations of s + a per value
    noise: float = field(default=0.0, metadata={"min": 0, "max": 1})  # p: share of values replaced by a uniform draw
    target: Literal["max", "soft"] = "max"  # max: the best outcome (y); soft: their mean
    seed: int = 0  # of the noise draws


class OracleEnv(SearchEnv):
    """`env` with its QVM calls answered by the oracle.

    `grade(question, solution text)` is the 0/1 reward against the question's reference answer
    (`grade.many(pairs)` grades many in one call); `temperature` that of the continuations.
    """

    def __init__(self, env: SearchEnv, grade, cfg: OracleConfig, temperature: float):
        self.env, self.grade, self.cfg, self.temperature = env, grade, cfg, temperature

    def q_values(self, requests):
        return self.q_values_counted(requests)[0]

    def q_values_counted(self, requests):
        if not requests:
            return [], []
        outputs = self.env.complete(
            [(q, list(steps) + [action]) for q, steps, action in requests], self.cfg.rollouts, self.temperature
        )
        texts = [
            (q, "".join(steps) + action + c.text) for (q, steps, action), cands in zip(requests, outputs) for c in cands
        ]
        rewards = iter(grade_all(self.grade, texts))
        values, tokens = [], []
        for (q, steps, action), cands in zip(requests, outputs):
            # steps to the end do not matter at gamma 1: each outcome is (0, R)
            label = rollout_label(
                Node(0, -1, action, len(steps)), [(0, next(rewards)) for _ in cands], 1.0, include_own=False
            )
            value = label["y"] if self.cfg.target == "max" else label["soft"]
            values.append(self.noisy(value, q.id, steps, action))
            tokens.append(sum(c.cost for c in cands))
        return values, tokens

    def noisy(self, value: float, question_id: str, steps: list[str], action: str) -> float:
        """`value`, or with probability `noise` the pair's own uniform draw (see the module's doc)."""
        if self.cfg.noise <= 0:
            return value
        coin, draw = draws(self.cfg.seed, question_id, steps, action)
        return draw if coin < self.cfg.noise else value

    # ---- everything else is the wrapped environment's ------------------------------------------
    def propose(self, requests, k, temperature, logprobs=False):
        return self.env.propose(requests, k, temperature, logprobs=logprobs)

    def complete(self, requests, n, temperature, logprobs=False):
        return self.env.complete(requests, n, temperature, logprobs=logprobs)

    def submit(self, kind, question, steps, n, temperature, logprobs=False):
        return self.env.submit(kind, question, steps, n, temperature, logprobs)

    def collect(self):
        return self.env.collect()

    def cancel(self, tickets):
        self.env.cancel(tickets)

    def process_utility(self, requests, kind):
        return self.env.process_utility(requests, kind)

    def prm_scores(self, requests):
        return self.env.prm_scores(requests)

    def split_steps(self, text, tokens):
        return self.env.split_steps(text, tokens)

    def extract_answer(self, question, text):
        return self.env.extract_answer(question, text)

    def same_answer(self, question, a, b):
        return self.env.same_answer(question, a, b)


def draws(seed: int, question_id: str, steps: list[str], action: str) -> tuple[float, float]:
    """Two independent uniforms on [0, 1) for one (question, state, action): the noise coin and draw."""
    digest = hashlib.sha256(json.dumps([seed, question_id, list(steps), action]).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big") / 2**64
