"""Baselines that sample whole solutions: greedy (chain of thought), self-consistency, best-of-N.

All questions' samples come from ONE policy call; best-of-N scores every sample in ONE QVM (or
PRM) call. A sample's steps are cut with the run's step format, so best-of-N scores exactly the
(state, step) pairs the QVM was trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qstar_cli.search.base import PathStep, Question, SearchEnv, SearchResult, Terminal, Usage, charge


@dataclass
class SamplingConfig:
    n: int = 8  # samples per question (greedy: 1)
    temperature: float = 0.7
    rank_by: str = "qvm"  # best-of-N: qvm | prm
    score: str = "last"  # how a solution's step scores combine: last | min | mean


def _sample(questions, env: SearchEnv, n: int, temperature: float, usages: list[Usage]) -> list[list[Terminal]]:
    outs = env.complete([(q, []) for q in questions], n, temperature)
    charge(usages, list(range(len(questions))), "policy_calls")
    samples = []
    for qi, cands in enumerate(outs):
        usages[qi].generated_tokens += sum(c.tokens for c in cands)
        samples.append([Terminal(env.split_steps(c.text, c.tokens) or [c.text], 0.0, finish=c.finish) for c in cands])
    return samples


def _results(questions, samples, picks, usages, started) -> list[SearchResult]:
    wall = time.perf_counter() - started
    return [SearchResult(q.id, pick, terms, usage, wall) for q, terms, pick, usage in zip(questions, samples, picks, usages)]


def greedy(questions: list[Question], env: SearchEnv, cfg: SamplingConfig, trees: bool = False) -> list[SearchResult]:
    started, usages = time.perf_counter(), [Usage() for _ in questions]
    samples = _sample(questions, env, 1, 0.0, usages)
    return _results(questions, samples, [s[0] for s in samples], usages, started)


def self_consistency(questions: list[Question], env: SearchEnv, cfg: SamplingConfig,
                     trees: bool = False) -> list[SearchResult]:
    """Majority vote over the samples' answers (ties: the answer seen first)."""
    started, usages = time.perf_counter(), [Usage() for _ in questions]
    samples = _sample(questions, env, cfg.n, cfg.temperature, usages)
    picks = []
    for q, terms in zip(questions, samples):
        answers = [env.extract_answer(q, t.text) for t in terms]
        counts: dict[str, int] = {}
        for a in answers:
            if a is not None:
                counts[a] = counts.get(a, 0) + 1
        for t, a in zip(terms, answers):
            t.score = counts.get(a, 0) / len(terms) if a is not None else 0.0
        picks.append(max(terms, key=lambda t: t.score) if terms else None)
    return _results(questions, samples, picks, usages, started)


def best_of_n(questions: list[Question], env: SearchEnv, cfg: SamplingConfig, trees: bool = False) -> list[SearchResult]:
    """Rank N samples by the QVM (or a PRM) over their steps."""
    started, usages = time.perf_counter(), [Usage() for _ in questions]
    samples = _sample(questions, env, cfg.n, cfg.temperature, usages)
    pairs, owners = [], []
    for qi, (q, terms) in enumerate(zip(questions, samples)):
        for ti, t in enumerate(terms):
            wanted = range(len(t.steps) - 1, len(t.steps)) if cfg.score == "last" else range(len(t.steps))
            for si in wanted:
                pairs.append((q, t.steps[:si], t.steps[si]))
                owners.append((qi, ti, si))
    if cfg.rank_by == "prm":
        from qstar_cli.search.base import Candidate

        scores = env.process_utility([(q, steps, Candidate(step, 0, "stop")) for q, steps, step in pairs])
        field_name = "prm_calls"
    else:
        scores = env.q_values(pairs)
        field_name = "qvm_calls"
    charge(usages, [qi for qi, _, _ in owners], field_name)
    charge(usages, [qi for qi, _, _ in owners], "scored", [1] * len(owners))
    per: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for (qi, ti, si), s in zip(owners, scores):
        per.setdefault((qi, ti), []).append((si, s))
    picks = []
    for qi, terms in enumerate(samples):
        for ti, t in enumerate(terms):
            vals = [s for _, s in sorted(per.get((qi, ti), []))]
            t.score = _combine(vals, cfg.score)
            t.path = [PathStep(step, h=s, f=s) for step, s in zip(t.steps[-len(vals):] if vals else [], vals)]
        picks.append(max(terms, key=lambda t: t.score) if terms else None)
    return _results(questions, samples, picks, usages, started)


def _combine(vals: list[float], how: str) -> float:
    if not vals:
        return 0.0
    if how == "min":
        return min(vals)
    if how == "mean":
        return sum(vals) / len(vals)
    return vals[-1]
