"""Held-out metrics of a Q-value model: MSE, ROC-AUC against binarized labels with a by-question
bootstrap interval, ROC-AUC by step depth, the step-position baseline, calibration.

Written by hand (a dozen lines each) so the package needs no scikit-learn.
"""

from __future__ import annotations

import random


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


def calibration_error(table: list[dict]) -> float | None:
    """Expected calibration error of a `calibration` table: the count-weighted mean gap between
    mean prediction and mean label over its bins."""
    total = sum(row["count"] for row in table)
    if not total:
        return None
    return sum(row["count"] * abs(row["mean_pred"] - row["mean_label"]) for row in table) / total


def calibration(preds: list[float], labels: list[float], bins: int = 10) -> list[dict]:
    """Per predicted-probability bin: how many, mean prediction, mean label."""
    table = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(preds) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            table.append(
                {
                    "bin": f"[{lo:.1f}, {hi:.1f})",
                    "count": len(idx),
                    "mean_pred": sum(preds[i] for i in idx) / len(idx),
                    "mean_label": sum(labels[i] for i in idx) / len(idx),
                }
            )
    return table


# Below these a held-out ROC-AUC is mostly noise: one question more or less moves it by tenths.
MIN_QUESTIONS = 20
MIN_PER_CLASS = 10
# Depths from here on share one row of auc_by_depth: few solutions run that long, so rows past it are tiny.
DEPTH_POOL = 8


def too_small(questions: int, positives: list[bool]) -> bool:
    """Whether a held-out set is too small for its ROC-AUC to mean anything."""
    n_pos = sum(positives)
    return questions < MIN_QUESTIONS or n_pos < MIN_PER_CLASS or len(positives) - n_pos < MIN_PER_CLASS


def auc_ci(
    scores: list[float], positives: list[bool], groups: list, resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of ROC-AUC from a bootstrap that resamples questions, not examples.

    The steps of one question share its difficulty and its rollouts, so they are not independent
    draws: resampling single examples would give an interval far too narrow. `groups` holds each
    example's question id. None with fewer than 2 questions or no resample holding both classes.
    """
    aucs = sorted(bootstrap_aucs(scores, positives, groups, resamples, seed))
    if not aucs:
        return None
    return _quantile(aucs, 0.025), _quantile(aucs, 0.975)


def bootstrap_aucs(
    scores: list[float], positives: list[bool], groups: list, resamples: int = 1000, seed: int = 0
) -> list[float]:
    """ROC-AUC of each resample that draws as many questions as there are, with replacement, each
    with all its examples. Resamples where one class is absent are skipped (they have no AUC)."""
    keys = sorted(set(groups), key=str)  # sorted, so the draws do not depend on the examples' order
    if len(keys) < 2:
        return []
    index = {g: k for k, g in enumerate(keys)}
    blocks = _tie_blocks(scores, positives, [index[g] for g in groups])
    rng = random.Random(seed)
    aucs = []
    for _ in range(resamples):
        weights = [0] * len(keys)
        for k in rng.choices(range(len(keys)), k=len(keys)):
            weights[k] += 1
        auc = _weighted_auc(blocks, weights)
        if auc is not None:
            aucs.append(auc)
    return aucs


def paired_auc_delta(
    scores_a: list[float],
    scores_b: list[float],
    positives: list[bool],
    groups: list,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, tuple[float, float] | None] | None:
    """ROC-AUC(a) - ROC-AUC(b), two scorers of the same examples, and its 95% interval from the
    by-question bootstrap drawing the same questions for both: one seed, one set of labels and groups
    give the same resamples (and skip the same ones), so what the two share (a question's
    difficulty) cancels in each resample's difference. None when either AUC is undefined."""
    a, b = roc_auc(scores_a, positives), roc_auc(scores_b, positives)
    if a is None or b is None:
        return None
    diffs = sorted(
        x - y
        for x, y in zip(
            bootstrap_aucs(scores_a, positives, groups, resamples, seed),
            bootstrap_aucs(scores_b, positives, groups, resamples, seed),
            strict=True,
        )
    )
    return a - b, ((_quantile(diffs, 0.025), _quantile(diffs, 0.975)) if diffs else None)


def _tie_blocks(scores: list[float], positives: list[bool], groups: list[int]) -> list[tuple[int, bool, bool]]:
    """(group, positive, last of its tie block) of each example, lowest score first.

    Sorted once for all resamples: a resample only changes how often each group counts. Flat rather
    than a list of blocks, as one plain loop over it is several times faster per resample.
    """
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    return [
        (groups[i], positives[i], n + 1 == len(order) or scores[order[n + 1]] != scores[i]) for n, i in enumerate(order)
    ]


def _weighted_auc(blocks: list[tuple[int, bool, bool]], weights: list[int]) -> float | None:
    """ROC-AUC with each example repeated weights[its group] times: one pass up the tie blocks, where
    a positive beats every negative below its block and ties half of those within it."""
    wins = 0.0
    n_pos = neg_below = pos = neg = 0
    for group, positive, last in blocks:
        if positive:
            pos += weights[group]
        else:
            neg += weights[group]
        if last:
            wins += pos * (neg_below + neg / 2)
            n_pos += pos
            neg_below += neg
            pos = neg = 0
    if n_pos == 0 or neg_below == 0:
        return None
    return wins / (n_pos * neg_below)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def auc_by_depth(scores: list[float], positives: list[bool], depths: list[int]) -> list[dict]:
    """ROC-AUC among the steps at each depth (steps before the action); depths >= DEPTH_POOL pooled.

    The pooled AUC can be earned by ranking depths alone (see position_auc); within one depth it
    shows whether the QVM tells apart steps taken at the same point of a solution.
    """
    by_depth: dict[int, list[int]] = {}
    for i, d in enumerate(depths):
        by_depth.setdefault(min(d, DEPTH_POOL), []).append(i)
    rows = []
    for d in sorted(by_depth):
        idx = by_depth[d]
        pos = [positives[i] for i in idx]
        rows.append(
            {
                "depth": f"{DEPTH_POOL}+" if d == DEPTH_POOL else d,
                "examples": len(idx),
                "positive_rate": sum(pos) / len(pos),
                "roc_auc": roc_auc([scores[i] for i in idx], pos),
            }
        )
    return rows


def position_auc(depths: list[int], positives: list[bool]) -> float | None:
    """ROC-AUC of scoring each step by its depth alone: a baseline the QVM must beat to be worth its cost.

    Deeper steps score higher, the naive prior that a step closer to a finished solution more often
    lies on a correct path. The sign is fixed here, never chosen on the held-out data: picking
    whichever sign scores better there would flatter the baseline. Below 0.5, depth predicts the
    other way round, and 1 minus it is what the reversed prior would reach.
    """
    return roc_auc([float(d) for d in depths], positives)


def within_question_auc(questions: list[tuple[list[float], list[float]]]) -> tuple[float | None, int]:
    """(AUC, questions used) of scores that should rank each question's correct solutions above its
    wrong ones: over every (correct, wrong) pair of the SAME question, the share where the correct
    one scores higher (ties half). Pairs across questions are left out: a search's f is only ever
    compared within one question. None when no question has both a correct and a wrong solution.

    `questions` holds (scores of the correct solutions, scores of the wrong ones) per question.
    """
    wins = pairs = used = 0
    for right, wrong in questions:
        if right and wrong:
            used += 1
            for a in right:
                for b in wrong:
                    pairs += 1
                    wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return (wins / pairs if pairs else None), used


def grouped_auc(scores: list[float], positives: list[bool], keys: list) -> tuple[float | None, int]:
    """`within_question_auc` over the groups that `keys` name (a question, or one state's siblings):
    (AUC over positive/negative pairs inside a group, groups with both classes)."""
    groups: dict = {}
    for score, positive, key in zip(scores, positives, keys):
        right, wrong = groups.setdefault(key, ([], []))
        (right if positive else wrong).append(score)
    return within_question_auc(list(groups.values()))


def grouped_auc_ci(
    scores: list[float], positives: list[bool], keys: list, questions: list, resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of `grouped_auc` from the bootstrap that resamples questions (`questions`:
    each example's question id; a group lies within one question): a drawn question brings all its
    groups' (positive, negative) pairs. None with fewer than 2 questions or no resample with a pair."""
    groups: dict = {}
    for score, positive, key, question in zip(scores, positives, keys, questions):
        right, wrong, _ = groups.setdefault(key, ([], [], question))
        (right if positive else wrong).append(score)
    per_question: dict = {}  # question -> [wins, pairs]
    for right, wrong, question in groups.values():
        tally = per_question.setdefault(question, [0.0, 0])
        tally[0] += sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in right for b in wrong)
        tally[1] += len(right) * len(wrong)
    drawn = sorted(set(questions), key=str)  # every question counts, with or without pairs
    if len(drawn) < 2:
        return None
    rng = random.Random(seed)
    aucs = []
    for _ in range(resamples):
        wins = pairs = 0.0
        for k in rng.choices(range(len(drawn)), k=len(drawn)):
            w, n = per_question.get(drawn[k], (0.0, 0))
            wins, pairs = wins + w, pairs + n
        if pairs:
            aucs.append(wins / pairs)
    aucs.sort()
    return (_quantile(aucs, 0.025), _quantile(aucs, 0.975)) if aucs else None
