"""When does the search pay (`report.threshold`): the crossing worked by hand, curves built from
toy runs whose terminal AUCs are counted by hand, and the committed oracle records, whose threshold
follows from the AUCs and accuracies their own metrics.json recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qstar_cli.report import tables, threshold
from qstar_cli.report.runs import EvalRun, load_runs
from qstar_cli.stages import report

REPO = Path(__file__).resolve().parents[2]
ORACLE_40 = REPO / "results" / "synthetic-oracle-40"


def test_the_crossing_worked_by_hand():
    # from the best-ranking point down: 0.6, 0.5 are above 0.35; 0.2 at AUC 0.7 is the first below:
    # between (0.7, 0.2) and (0.9, 0.5) the line reaches 0.35 halfway, at 0.8
    pts = [(0.5, 0.1), (0.7, 0.2), (0.9, 0.5), (1.0, 0.6)]
    assert threshold.crossing(pts, 0.35) == pytest.approx(0.8)
    # a low point back above the reference does not count: the first fall from the top does
    assert threshold.crossing([(0.5, 0.4), (0.7, 0.2), (0.9, 0.5)], 0.35) == pytest.approx(0.8)
    assert threshold.crossing(pts, 0.7) == math.inf  # even the best is below: above the range
    assert threshold.crossing(pts, 0.05) == -math.inf  # none is below: below the range
    assert threshold.crossing(pts, 0.6) == pytest.approx(1.0)  # equal to the reference counts as not below


def toy_run(
    name: str, search: str, per_question: list[tuple[bool, list[tuple[float, bool]]]], oracle: float | None = None
) -> EvalRun:
    """A run whose question i was answered right or wrong with these (score, correct) terminals."""
    records = [
        {"id": f"q{i}", "correct": right, "terminals": [{"score": s, "correct": c} for s, c in terms]}
        for i, (right, terms) in enumerate(per_question)
    ]
    acc = sum(r["correct"] for r in records) / len(records)
    metrics = {
        "search": search,
        "accuracy": acc,
        "accuracy_ci95": [acc, acc],
        "questions": len(records),
        "tokens_per_question": 100.0,
        "terminal_auc": 0.5,
        "dataset_name": "toy",
        "split": "test",
        "settings": {"k": 2},
    }
    if oracle is not None:
        metrics |= {"uses_reference_answers": True, "oracle": {"noise": oracle, "rollouts": 4}}
    return EvalRun(
        Path(name), name, {"eval": {"qvm": "oracle" if oracle is not None else "runs/qvm"}}, metrics, {}, records
    )


RIGHT_FIRST = [(0.9, True), (0.1, False)]  # one pair, won: AUC 1
TIE = [(0.5, True), (0.5, False)]  # one pair, tied: 1/2
WRONG_FIRST = [(0.1, True), (0.9, False)]  # one pair, lost: 0


def four_runs():
    # the oracle at three noise levels. high: 4 of 4 pairs won (AUC 1), 4/4 right; middle: 2 won
    # + 2 tied (AUC 0.75), 3/4 right; low: 1 tied, 3 lost (AUC 0.125), 1/4 right; greedy: 2/4 right
    high = toy_run("high", "astar", [(True, RIGHT_FIRST)] * 4, oracle=0.0)
    mid = toy_run("mid", "astar", [(True, RIGHT_FIRST), (True, RIGHT_FIRST), (True, TIE), (False, TIE)], oracle=0.5)
    low = toy_run(
        "low", "astar", [(True, TIE), (False, WRONG_FIRST), (False, WRONG_FIRST), (False, WRONG_FIRST)], oracle=1.0
    )
    greedy = toy_run("greedy", "greedy", [(True, []), (True, []), (False, []), (False, [])])
    return high, mid, low, greedy


def test_a_curve_and_its_threshold_from_toy_runs_counted_by_hand():
    high, mid, low, greedy = four_runs()
    # a trained QVM: every pair tied (AUC 0.5), 2/4 right; off the oracle's curve
    qvm = toy_run("qvm", "astar", [(True, TIE), (True, TIE), (False, TIE), (False, TIE)])
    found = threshold.thresholds([greedy, high, mid, low, qvm], "greedy", resamples=200)
    assert len(found) == 1
    t = found[0]
    assert t.reference is greedy and [p.run for p in t.points] == [low, qvm, mid, high]
    assert [p.auc for p in t.points] == pytest.approx([0.125, 0.5, 0.75, 1.0])
    assert [p.accuracy for p in t.points] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert [p.on_curve for p in t.points] == [True, False, True, True]
    # greedy's 0.5 is crossed between low (0.125, 0.25) and mid (0.75, 0.75): at 0.125 + 0.625 x 0.5
    assert t.value == pytest.approx(0.4375)
    assert t.ci[0] <= t.value <= t.ci[1] and t.resamples > 0
    # the oracle curve at the QVM's 0.5: 0.25 + (0.5 - 0.125) / 0.625 x 0.5 = 0.55
    assert t.points[1].expected == pytest.approx(0.55)
    again = threshold.thresholds([greedy, high, mid, low, qvm], "greedy", resamples=200)[0]
    assert again.ci == t.ci  # seeded
    row = tables.threshold_rows(found)[0]
    assert row[4] == "3" and row[5].startswith("0.44 [") and row[6] == "runs/qvm 0.50"
    assert tables.curve_rows(found)[1][5] == "55.0%"  # the QVM's row: the curve's accuracy at its AUC


def test_what_is_not_a_curve():
    high, mid, low, greedy = four_runs()
    assert threshold.thresholds([greedy, high], "greedy") == []  # one run is a point, not a curve
    beam = toy_run("beam", "beam", [(True, RIGHT_FIRST)] * 4)
    assert threshold.thresholds([greedy, high, beam], "greedy") == []  # other methods: two one-point curves
    # a baseline on the curve is not compared with its own curve
    assert threshold.thresholds([greedy, high, mid, low], "high") == []
    # a reference above the whole curve (mid, low): the threshold lies above its range
    perfect = toy_run("perfect", "greedy", [(True, [])] * 4)
    t = threshold.thresholds([perfect, mid, low], "perfect")[0]
    assert [p.run for p in t.points] == [low, mid] and t.value == math.inf and t.show(t.value) == "> 0.75"
    # and one below it: below its range
    hopeless = toy_run("hopeless", "greedy", [(False, [])] * 4)
    t = threshold.thresholds([hopeless, mid, low], "hopeless")[0]
    assert t.value == -math.inf and t.show(t.value) == "< 0.12"


def test_the_report_shows_the_committed_oracle_curve(tmp_path):
    """On the committed records: the A* curve's threshold against greedy follows from the terminal
    AUCs and accuracies that each run's own metrics.json recorded at eval time."""
    runs = sorted(ORACLE_40.iterdir())
    metrics = {p.name: json.loads((p / "metrics.json").read_text()) for p in runs}
    astar = sorted(
        (
            (m["terminal_auc"], m["accuracy"])
            for name, m in metrics.items()
            if m["search"] == "astar" and m.get("uses_reference_answers")
        ),
        reverse=True,
    )
    greedy = metrics["eval-greedy"]["accuracy"]
    i = next(i for i, (_, y) in enumerate(astar) if y < greedy)
    (x_hi, y_hi), (x_lo, y_lo) = astar[i - 1], astar[i]
    expected = x_lo + (x_hi - x_lo) * (greedy - y_lo) / (y_hi - y_lo)

    found = threshold.thresholds(load_runs([str(p) for p in runs]), ["eval-greedy", "eval-best-of-n"], resamples=200)
    t = next(t for t in found if t.curve.startswith("A*") and t.reference.name == "eval-greedy")
    assert t.value == pytest.approx(expected)
    assert sum(p.on_curve for p in t.points) == len(astar) == len(t.points) - 1  # the QVM's run is off it

    text = report.run([str(p) for p in runs], str(tmp_path), baseline=["eval-greedy", "eval-best-of-n"], resamples=200)
    assert "## When does the search pay?" in text and f"| {t.show(t.value)} [" in text
    assert "(uses the reference answers)" in text.split("## When does the search pay?")[1]
    assert (tmp_path / "accuracy_vs_heuristic_auc.svg").exists()
    assert "When does the search pay?" in (tmp_path / "report.html").read_text()
