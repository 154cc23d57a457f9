"""Baselines that sample whole solutions: greedy (chain of thought), self-consistency, best-of-N.

All questions' samples come from ONE policy call; best-of-N scores every sample in ONE QVM (or
PRM) call. A sample's steps are cut with the run's step format, so best-of-N scores exactly the
(state, step) pairs the QVM was trained on. Votes group answers by the grader's equivalence, and
a sample cut at the token limit counts only when no sample finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.search.base import (PathStep, Question, SearchEnv, SearchResult, Terminal, Usage, answer_groups,
                                   best_terminal, charge, generated_tokens)


@dataclass
class GreedyConfig:
    """Greedy decoding has no settings of its own (its token limit is sampling.max_tokens)."""


@dataclass
class SelfConsistencyConfig:
    n: int = field(default=8, metadata={"min": 1})  # samples per question
    temperature: float = field(default=0.9, metadata={"min": 0})


@dataclass
class BestOfNConfig:
    n: int = field(default=8, metadata={"min": 1})  # samples per question
    temperature: float = field(default=0.9, metadata={"min": 0})
    rank_by: Literal["qvm", "prm"] = "qvm"
    score: Literal["last", "min", "mean"] = "last"  # how a solution's step scores combine

    def problems(self, prm: str | None = None) -> list[str]:
        return ["best-of-N ranked by a PRM needs --prm MODEL"] if self.rank_by == "prm" and not prm else []


def _sample(questions, env: SearchEnv, n: int, temperature: float, usages: list[Usage]) -> list[list[Terminal]]:
    outs = env.complete([(q, []) for q in questions], n, temperature)
    charge(usages, list(range(len(questions))), "policy_calls")
    samples = []
    for qi, cands in enumerate(outs):
        usages[qi].generated_tokens += generated_tokens(cands)
        samples.append([Terminal(env.split_steps(c.text, c.tokens) or [c.text], 0.0, finish=c.finish) for c in cands])
    return samples


def greedy(questions: list[Question], env: SearchEnv, cfg: GreedyConfig, trees: bool = False) -> list[SearchResult]:
    usages = [Usage() for _ in questions]
    samples = _sample(questions, env, 1, 0.0, usages)
    return [SearchResult(q.id, terms[0], terms, usage) for q, terms, usage in zip(questions, samples, usages)]


def self_consistency(questions: list[Question], env: SearchEnv, cfg: SelfConsistencyConfig,
                     trees: bool = False) -> list[SearchResult]:
    """Majority vote over the samples' answers (ties: the answer seen first)."""
    usages = [Usage() for _ in questions]
    samples = _sample(questions, env, cfg.n, cfg.temperature, usages)
    results = []
    for q, terms, usage in zip(questions, samples, usages):
        pool = [t for t in terms if t.finished] or terms
        groups = answer_groups(env, q, [t.text for t in pool])
        votes: dict[int, int] = {}
        for g in groups:
            if g is not None:
                votes[g] = votes.get(g, 0) + 1
        for t, g in zip(pool, groups):
            t.score = votes[g] / len(terms) if g is not None else 0.0
        # max keeps the first of equal votes, i.e. the answer seen first
        results.append(SearchResult(q.id, max(pool, key=lambda t: t.score, default=None), terms, usage))
    return results


def best_of_n(questions: list[Question], env: SearchEnv, cfg: BestOfNConfig, trees: bool = False) -> list[SearchResult]:
    """Rank N samples by the QVM (or a PRM) over their steps; finished samples before cut-off ones."""
    usages = [Usage() for _ in questions]
    samples = _sample(questions, env, cfg.n, cfg.temperature, usages)
    owners = [(qi, ti) for qi, terms in enumerate(samples) for ti in range(len(terms))]
    if cfg.rank_by == "prm":
        step_scores = env.prm_scores([(questions[qi], samples[qi][ti].steps) for qi, ti in owners])
        charge(usages, [qi for qi, _ in owners], "prm_calls")
        charge(usages, [qi for qi, _ in owners], "scored", [len(s) for s in step_scores])
    else:
        # Q(s_t, a_t) of the last step only, or of every step, as the combination needs
        pairs, where = [], []
        for oi, (qi, ti) in enumerate(owners):
            steps = samples[qi][ti].steps
            for si in (range(len(steps) - 1, len(steps)) if cfg.score == "last" else range(len(steps))):
                pairs.append((questions[qi], steps[:si], steps[si]))
                where.append(oi)
        flat = env.q_values(pairs)
        charge(usages, [qi for qi, _ in owners], "qvm_calls")
        charge(usages, [owners[oi][0] for oi in where], "scored", [1] * len(where))
        step_scores = [[] for _ in owners]
        for oi, s in zip(where, flat):
            step_scores[oi].append(s)
    for (qi, ti), scores in zip(owners, step_scores):
        t = samples[qi][ti]
        vals = scores[-1:] if cfg.score == "last" else scores
        t.score = _combine(vals, cfg.score)
        t.path = [PathStep(step, h=s, f=s) for step, s in zip(t.steps[-len(vals):] if vals else [], vals)]
    return [SearchResult(q.id, best_terminal(terms), terms, usage) for q, terms, usage in zip(questions, samples, usages)]


def _combine(vals: list[float], how: str) -> float:
    if not vals:
        return 0.0
    if how == "min":
        return min(vals)
    if how == "mean":
        return sum(vals) / len(vals)
    return vals[-1]
