"""Self-consistency and best-of-N at n = 1, 2, 4, ..., N from ONE pool of N samples per question.

A self-consistency or best-of-N run records every sample it drew as a terminal (its answer group
by the grader's equivalence, whether it is right, whether it finished, and, for best-of-N, its
reranker score). Any n <= N samples of that pool are n samples the method could have drawn, so its
accuracy at n is the expectation, over all size-n subsets of the pool, of whether the answer the
method chooses from the subset is right: per question, then averaged over questions, with a 95%
bootstrap interval over questions. One run at n = N so gives the whole scaling curve, each sample
drawn once.

The choice in a subset is the run's own rule (`search.answers.choose`; the subset keeps the pool's
order, so "the answer seen first" means the same): self-consistency's majority vote with ties to the
answer seen first; for best-of-N, the best-scored sample, the majority vote (ties to the best score,
then the answer seen first) and the weighted vote. At n = N the subset is the pool, so the curve
ends at the run's own accuracy.

Exact where cheap: the best-scored sample by order statistics (the k-th best of N is chosen in
C(N-1-k, n-1) of the C(N, n) subsets); a vote by enumerating every subset when there are at most
`EXACT_SUBSETS`, else by `MC_SUBSETS` random subsets drawn with a seed made of the question's id
and n, so reruns agree.

Tokens at n are n times the question's mean tokens per sample (its generated tokens over its
samples), averaged over questions: at n = N, the run's own tokens per question.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from qstar_cli.report.runs import EvalRun
from qstar_cli.search import SEARCHERS
from qstar_cli.search.answers import choose, group_answers
from qstar_cli.stats import bootstrap_ci

EXACT_SUBSETS = 1000  # enumerate every subset up to this many
MC_SUBSETS = 1000  # else this many seeded random subsets
# the choices each method's pool measures (the search registry's pool_rules)
RULES = {name: method.pool_rules for name, method in SEARCHERS.items() if method.pool_rules}
POOL_METHODS = tuple(RULES)


def pool_sizes(n_max: int) -> list[int]:
    """1, 2, 4, ... below n_max, then n_max itself."""
    sizes = [1 << k for k in range(max(n_max, 1).bit_length()) if 1 << k < n_max]
    return sizes + [n_max]


def best_scored_at(scores: list[float], finished: list[bool], correct: list[bool], n: int) -> float:
    """Expected correctness of the best-scored of n samples drawn without replacement from the pool.

    The rule is `choose(..., "best_f")`: finished before cut off, then the higher score, then the
    sample seen first. Ranked so, the k-th best (from 0) is the choice exactly when it is in the
    subset and the other n - 1 come from the N - 1 - k ranked below it."""
    size = len(scores)
    if not 1 <= n <= size:
        raise ValueError(f"a subset of {n} from a pool of {size}")
    order = sorted(range(size), key=lambda i: (not finished[i], -scores[i], i))
    total = math.comb(size, n)
    return sum(math.comb(size - 1 - k, n - 1) for k, i in enumerate(order) if correct[i]) / total


def vote_at(
    scores: list[float],
    finished: list[bool],
    groups: list[int | None],
    correct: list[bool],
    n: int,
    how: str,
    seed: str = "",
) -> float:
    """Expected correctness of `choose(..., how)` over size-n subsets of the pool (kept in pool order):
    every subset when there are at most `EXACT_SUBSETS`, else `MC_SUBSETS` seeded random ones."""
    size = len(scores)
    if not 1 <= n <= size:
        raise ValueError(f"a subset of {n} from a pool of {size}")
    if math.comb(size, n) <= EXACT_SUBSETS:
        subsets = itertools.combinations(range(size), n)
        count = math.comb(size, n)
    else:
        rng = random.Random(f"{seed}/{n}")
        subsets = (sorted(rng.sample(range(size), n)) for _ in range(MC_SUBSETS))
        count = MC_SUBSETS
    right = 0
    for sub in subsets:
        i = choose([scores[j] for j in sub], [finished[j] for j in sub], [groups[j] for j in sub], how)
        right += i is not None and bool(correct[sub[i]])
    return right / count


def question_at(record: dict, search: str, how: str, n: int) -> float:
    """One question's expected correctness at n samples (n capped at its pool's size)."""
    ts = record["terminals"]
    if all("group" in t for t in ts):
        groups = [t["group"] for t in ts]
    else:  # records written before eval kept groups: the answer as written
        groups = group_answers([t.get("answer") for t in ts], lambda a, b: False)
    finished = [t.get("finish", "eos") == "eos" for t in ts]
    correct = [bool(t["correct"]) for t in ts]
    # a method that only votes (self-consistency) breaks ties by the answer seen first: its terminals'
    # scores are vote shares, not scores to break a tie with
    scores = [0.0] * len(ts) if RULES.get(search) == ("vote",) else [t["score"] for t in ts]
    n = min(n, len(ts))
    if all(correct) or not any(correct):  # whichever sample is chosen: no subsets to go through
        return float(correct[0])
    if how == "best_f":
        return best_scored_at(scores, finished, correct, n)
    return vote_at(scores, finished, groups, correct, n, how, seed=str(record["id"]))


@dataclass
class Point:
    n: int
    tokens: float  # expected generated tokens per question for n samples
    accuracy: dict[str, float] = field(default_factory=dict)  # by rule ("best_f", "vote", "weighted")
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)


def has_pool(run: EvalRun) -> bool:
    return run.search in POOL_METHODS and any(len(r["terminals"]) > 1 for r in run.records)


def own_rule(run: EvalRun) -> str:
    """The choice the run itself answered with."""
    rules = RULES.get(run.search, ("best_f",))
    return rules[0] if len(rules) == 1 else run.settings.get("answer", rules[0])


def curve(run: EvalRun, resamples: int = 1000) -> list[Point]:
    """The run's accuracy at each n in `pool_sizes`, by every rule its pool supports; [] without a pool."""
    if not has_pool(run):
        return []
    records = [r for r in run.records if r["terminals"]]
    if not records:
        return []
    points = []
    for n in pool_sizes(max(len(r["terminals"]) for r in records)):
        tokens = sum(
            r["usage"]["generated_tokens"] / len(r["terminals"]) * min(n, len(r["terminals"])) for r in records
        ) / len(run.records)
        point = Point(n, tokens)
        for how in RULES[run.search]:
            # a question with no terminal at all scores 0, as the run itself does
            values = [question_at(r, run.search, how, n) for r in records] + [0.0] * (len(run.records) - len(records))
            point.accuracy[how] = sum(values) / len(values)
            point.ci[how] = bootstrap_ci(values, resamples)
        points.append(point)
    return points
