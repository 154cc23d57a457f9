"""Held-out metrics of a Q-value model: MSE, ROC-AUC against binarized labels, calibration.

Written by hand (a dozen lines each) so the package needs no scikit-learn.
"""

from __future__ import annotations


def mse(preds: list[float], labels: list[float]) -> float:
    return sum((p - y) ** 2 for p, y in zip(preds, labels)) / len(preds) if preds else float("nan")


def roc_auc(scores: list[float], positives: list[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half).

    Computed from average ranks (Mann-Whitney U). None when one class is absent.
    """
    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # average rank of a tie group, 1-based
        i = j + 1
    rank_sum = sum(r for r, pos in zip(ranks, positives) if pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def calibration(preds: list[float], labels: list[float], bins: int = 10) -> list[dict]:
    """Per predicted-probability bin: how many, mean prediction, mean label."""
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(preds) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            table.append({"bin": f"[{lo:.1f}, {hi:.1f})", "count": len(idx),
                          "mean_pred": sum(preds[i] for i in idx) / len(idx),
                          "mean_label": sum(labels[i] for i in idx) / len(idx)})
    return table
