"""Baselines that sample whole solutions: greedy (chain of thought), self-consistency, best-of-N.

Written per question; `driver.drive` batches them: all questions' samples come from ONE policy
call, and best-of-N scores every sample in ONE QVM (or PRM) call. A sample's steps are cut with
the run's step format, so best-of-N scores exactly the (state, step) pairs the QVM was trained on.
Votes group answers by the grader's equivalence, and a sample cut at the token limit counts only
when no sample finished. Best-of-N answers with the best-scored sample, or (`answer`) with a
majority or weighted vote over its samples (`answers.choose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.search.answers import AnswerChoice, answer_groups, choose_answer
from qstar_cli.search.base import PathStep, Question, SearchEnv, SearchResult, Terminal, Usage
from qstar_cli.search.driver import Complete, QValues, Search, StepScores, run_each


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
    # weighted sums each sample's reranker score (the QVM's or PRM's, combined by `score`; in [0, 1])
    answer: AnswerChoice = "best_f"

    def problems(self, prm: str | None = None) -> list[str]:
        return ["best-of-N ranked by a PRM needs --prm MODEL"] if self.rank_by == "prm" and not prm else []


def _sample(env: SearchEnv, n: int, temperature: float, usage: Usage) -> Search:
    [cands] = yield Complete([[]], n, temperature)
    usage.generated(cands)
    return [Terminal(env.split_steps(c.text, c.tokens) or [c.text], 0.0, finish=c.finish) for c in cands]


def greedy_one(env: SearchEnv, q: Question, cfg: GreedyConfig, usage: Usage, trees: bool = False) -> Search:
    terms = yield from _sample(env, 1, 0.0, usage)
    return SearchResult(q.id, terms[0], terms, usage)


def self_consistency_one(
    env: SearchEnv, q: Question, cfg: SelfConsistencyConfig, usage: Usage, trees: bool = False
) -> Search:
    """Majority vote over the samples' answers (ties: the answer seen first)."""
    terms = yield from _sample(env, cfg.n, cfg.temperature, usage)
    pool = [t for t in terms if t.finished] or terms
    groups = answer_groups(env, q, [t.text for t in pool])
    votes: dict[int, int] = {}
    for g in groups:
        if g is not None:
            votes[g] = votes.get(g, 0) + 1
    for t, g in zip(pool, groups):
        t.score = votes[g] / len(terms) if g is not None else 0.0
    # max keeps the first of equal votes, i.e. the answer seen first
    return SearchResult(q.id, max(pool, key=lambda t: t.score, default=None), terms, usage)


def best_of_n_one(env: SearchEnv, q: Question, cfg: BestOfNConfig, usage: Usage, trees: bool = False) -> Search:
    """Rank N samples by the QVM (or a PRM) over their steps; finished samples before cut-off ones.

    The answer is the best-ranked sample ("best_f"), the majority answer ("vote", self-consistency
    over the same samples) or the answer whose samples' scores sum highest ("weighted",
    search-and-learn's weighted best-of-N); see `answers.choose`."""
    terms = yield from _sample(env, cfg.n, cfg.temperature, usage)
    if cfg.rank_by == "prm":
        step_scores = yield StepScores([t.steps for t in terms])
    else:
        # Q(s_t, a_t) of the last step only, or of every step, as the combination needs
        pairs, where = [], []
        for ti, t in enumerate(terms):
            for si in range(len(t.steps) - 1, len(t.steps)) if cfg.score == "last" else range(len(t.steps)):
                pairs.append((t.steps[:si], t.steps[si]))
                where.append(ti)
        flat = (yield QValues(pairs)) if pairs else []
        step_scores = [[] for _ in terms]
        for ti, s in zip(where, flat):
            step_scores[ti].append(s)
    for t, scores in zip(terms, step_scores):
        vals = scores[-1:] if cfg.score == "last" else scores
        t.score = _combine(vals, cfg.score)
        t.path = [PathStep(step, h=s, f=s) for step, s in zip(t.steps[-len(vals) :] if vals else [], vals)]
    return SearchResult(q.id, choose_answer(env, q, terms, cfg.answer), terms, usage)


def greedy(questions: list[Question], env: SearchEnv, cfg: GreedyConfig, trees: bool = False) -> list[SearchResult]:
    return run_each(greedy_one, questions, env, cfg, trees)


def self_consistency(
    questions: list[Question], env: SearchEnv, cfg: SelfConsistencyConfig, trees: bool = False
) -> list[SearchResult]:
    return run_each(self_consistency_one, questions, env, cfg, trees)


def best_of_n(questions: list[Question], env: SearchEnv, cfg: BestOfNConfig, trees: bool = False) -> list[SearchResult]:
    return run_each(best_of_n_one, questions, env, cfg, trees)


def _combine(vals: list[float], how: str) -> float:
    if not vals:
        return 0.0
    if how == "min":
        return min(vals)
    if how == "mean":
        return sum(vals) / len(vals)
    return vals[-1]
