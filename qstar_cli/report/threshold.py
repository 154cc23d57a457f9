"""When does Q* pay: a guided search's accuracy against the quality of its heuristic, and the
quality at which it starts to beat a reference.

A run of a guided search (A*, beam, best-of-N reranking) is one point: x is its terminal AUC, the
within-question ROC-AUC of the score it answers by over the terminals it reached (does its score
rank a question's right final states above its wrong ones? measured on the search's own states,
not on the rollouts a QVM was trained on), and y its accuracy. Runs of one method with the same
settings on the same questions but other heuristics form a group. Where the group holds two or more
runs with the oracle heuristic, the oracle runs draw the curve (one heuristic degraded in a known
way) and the trained heuristics are points set against it: their accuracy beside the curve's at
their terminal AUC says whether that AUC tells how well they guide the search (a heuristic can rank
the final states well and still steer the search away from right ones). Otherwise every run of the
group is on the curve. The references are the report's baselines (greedy, best-of-N at about the
same tokens) that are not in the group.

The threshold of a curve against a reference of accuracy r is the AUC below which the curve falls
under r: followed from its best-ranking point down, the first segment that ends below r, with the
crossing linearly interpolated. If even the best-ranking point is below r the threshold lies above
the curve's range; if no point is below r, below it (both are "censored", and shown as > x or < x).

Its interval: a bootstrap over questions, all runs of the comparison resampled together (their
questions are the same); each resample recomputes every run's accuracy and terminal AUC (pooled
over the resampled questions' pairs, as `within_question_auc` pools them) and the reference's
accuracy, then the threshold. The 2.5th and 97.5th percentiles, with censored resamples at their
end; a bound that falls on a censored resample is open (> or < the range's end).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from qstar_cli.report import paired
from qstar_cli.report.runs import EvalRun
from qstar_cli.search import SEARCHERS

# searches whose answer comes from a heuristic's score (the search registry says which)
GUIDED = tuple(name for name, method in SEARCHERS.items() if method.guided)


@dataclass
class Point:
    run: EvalRun
    auc: float
    accuracy: float
    auc_ci: tuple[float, float] = (math.nan, math.nan)
    on_curve: bool = True
    expected: float | None = None  # off the curve: the curve's accuracy at this AUC (None outside its range)


@dataclass
class Threshold:
    curve: str  # the method, without its heuristic
    reference: EvalRun
    points: list[Point]
    value: float  # -inf / inf: below / above the curve's range
    ci: tuple[float, float]
    resamples: int = 0
    lowest: float = field(init=False)
    highest: float = field(init=False)

    def __post_init__(self) -> None:
        self.lowest = min(p.auc for p in self.points if p.on_curve)
        self.highest = max(p.auc for p in self.points if p.on_curve)

    def show(self, x: float) -> str:
        if x == math.inf:
            return f"> {self.highest:.2f}"
        if x == -math.inf:
            return f"< {self.lowest:.2f}"
        return f"{x:.2f}"


def crossing(points: list[tuple[float, float]], reference: float) -> float:
    """The AUC below which the curve through `points` (auc, accuracy) falls under `reference`,
    followed from its best-ranking point down; inf when even that point is below, -inf when none is."""
    pts = sorted(points, key=lambda p: (-p[0], -p[1]))
    if pts[0][1] < reference:
        return math.inf
    for (x_hi, y_hi), (x_lo, y_lo) in itertools.pairwise(pts):
        if y_lo < reference:  # y_hi >= reference > y_lo: interpolate the crossing
            return x_lo + (x_hi - x_lo) * (reference - y_lo) / (y_hi - y_lo)
    return -math.inf


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """The curve through `points` (auc, accuracy) at AUC x, linear between its points; None outside."""
    pts = sorted(points)
    if not pts or not pts[0][0] <= x <= pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[-1][1]


def _question_terms(run: EvalRun) -> dict[str, tuple[float, float, float]]:
    """Per question: (correct, AUC wins, AUC pairs) over its right/wrong terminal pairs (ties half)."""
    out = {}
    for r in run.records:
        right = [t["score"] for t in r["terminals"] if t["correct"]]
        wrong = [t["score"] for t in r["terminals"] if not t["correct"]]
        wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in right for b in wrong)
        out[r["id"]] = (float(r["correct"]), wins, float(len(right) * len(wrong)))
    return out


def _auc(terms: list[tuple[float, float, float]]) -> float | None:
    pairs = sum(t[2] for t in terms)
    return sum(t[1] for t in terms) / pairs if pairs else None


def curves(runs: list[EvalRun]) -> dict[tuple, list[EvalRun]]:
    """The guided runs grouped into curves: same data, model and method settings, other heuristics;
    a curve needs two runs with a terminal AUC."""
    out: dict[tuple, list[EvalRun]] = {}
    for run in runs:
        if run.search in GUIDED and run.metrics.get("terminal_auc") is not None:
            out.setdefault((run.dataset, run.subset, run.split, run.model, base_method(run)), []).append(run)
    return {key: group for key, group in out.items() if len(group) >= 2}


def base_method(run: EvalRun) -> str:
    """The method's label without its heuristic (the oracle's part of `EvalRun.method`)."""
    return run.method.split(" with oracle")[0]


def thresholds(
    runs: list[EvalRun], baseline: str | list[str] | None = None, resamples: int = 1000, seed: int = 0
) -> list[Threshold]:
    """Every curve's threshold against every baseline of its questions that is not on it."""
    wanted = [baseline] if isinstance(baseline, str) or baseline is None else list(baseline)
    groups = paired.groups(runs)
    out = []
    for key, curve in curves(runs).items():
        group = groups[key[:3]]
        references = []
        for name in wanted:
            if name and len(wanted) > 1 and not any(paired.matches(r, name) for r in group):
                continue
            ref = paired.pick_baseline(group, name)
            if ref not in curve and ref not in references:
                references.append(ref)
        for ref in references:
            out.append(threshold(curve, ref, resamples, seed))
    return out


def threshold(curve: list[EvalRun], reference: EvalRun, resamples: int = 1000, seed: int = 0) -> Threshold:
    oracle = [run.oracle is not None for run in curve]
    on_curve = oracle if sum(oracle) >= 2 else [True] * len(curve)
    terms = [_question_terms(run) for run in curve]
    ref = {r["id"]: float(r["correct"]) for r in reference.records}
    ids = sorted(set(ref).intersection(*terms))
    columns = [[t[i] for i in ids] for t in terms]
    ref_column = [ref[i] for i in ids]

    def estimate(sample: list[int]) -> tuple[float, list[float | None]]:
        """(the threshold, every run's terminal AUC) on these questions."""
        aucs = [_auc([col[j] for j in sample]) for col in columns]
        pts = [
            (auc, sum(col[j][0] for j in sample) / len(sample))
            for col, auc, on in zip(columns, aucs, on_curve)
            if on and auc is not None
        ]
        r = sum(ref_column[j] for j in sample) / len(sample)
        return (crossing(pts, r) if pts else math.nan), aucs

    value, _ = estimate(list(range(len(ids))))
    drawn = [
        (auc, sum(c[0] for c in col) / len(col))
        for col, on in zip(columns, on_curve)
        if on and (auc := _auc(col)) is not None
    ]
    rng = random.Random(seed)
    draws, bags = [], [[] for _ in curve]
    for _ in range(resamples if ids else 0):
        x, aucs = estimate([rng.randrange(len(ids)) for _ in ids])
        if not math.isnan(x):
            draws.append(x)
        for bag, auc in zip(bags, aucs):
            if auc is not None:
                bag.append(auc)
    points = []
    for run, col, bag, on in zip(curve, columns, bags, on_curve):
        auc = _auc(col)
        if auc is not None:
            points.append(
                Point(
                    run,
                    auc,
                    sum(c[0] for c in col) / len(col),
                    _percentiles(bag),
                    on,
                    None if on else interpolate(drawn, auc),
                )
            )
    return Threshold(
        base_method(curve[0]), reference, sorted(points, key=lambda p: p.auc), value, _percentiles(draws), len(draws)
    )


def _percentiles(values: list[float], level: float = 0.95) -> tuple[float, float]:
    if not values:
        return (math.nan, math.nan)
    values = sorted(values)
    n = len(values)
    return values[int((1 - level) / 2 * (n - 1))], values[int((1 + level) / 2 * (n - 1))]
