"""Statistics for honest comparisons: bootstrap confidence intervals of accuracy, and paired tests
(paired bootstrap of a difference, exact McNemar) between two methods on the same questions."""

from __future__ import annotations

import math
import random


def bootstrap_ci(values: list[float], resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (seeded, so reruns agree)."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * (resamples - 1))]
    hi = means[int((1 + level) / 2 * (resamples - 1))]
    return (lo, hi)


def paired_bootstrap_ci(
    a: list[float], b: list[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """CI of mean(a) - mean(b) over the same questions: questions are resampled with both answers.

    Resampling pairs (not each run on its own) keeps the correlation between two methods that
    face the same questions, which makes the interval of their difference much tighter.
    """
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    return bootstrap_ci([x - y for x, y in zip(a, b)], resamples, level, seed)


def mcnemar_exact(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    `wins`: questions only the first method solved, `losses`: only the second. Under the null
    hypothesis each discordant question is a fair coin flip, so the p-value is twice the binomial
    tail of the smaller count (capped at 1). Exact, not the chi-square form: evaluation sets on a
    CPU are small and discordant pairs few.
    """
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)
