"""The eval stage's records and metrics: strict beside flexible accuracy, cut-off answers counted."""

from __future__ import annotations

import pytest

from qstar_cli.datasets.base import Problem
from qstar_cli.datasets.registry import get_dataset
from qstar_cli.report.tables import with_ci
from qstar_cli.search.base import Question, SearchResult, Terminal, Usage
from qstar_cli.stages.eval import eval_metrics, prediction_record

P = Problem("gsm8k/test/0", "3 + 4?", "7")
Q = Question(P.id, P.question, "P:")


def record(text, finish="eos"):
    chosen = Terminal([text], 0.5, finish=finish)
    return prediction_record(P, Q, SearchResult(P.id, chosen, [chosen], Usage()), get_dataset("gsm8k"), "greedy")


def test_a_last_number_guess_is_correct_but_not_strict():
    stated = record("3 + 4 = 7\nThe answer is 7.\n")
    guessed = record("3 + 4 = 7\n", finish="length")  # cut off before stating an answer
    wrong = record("The answer is 8.\n")
    assert (stated["correct"], stated["correct_strict"], stated["finish"]) == (True, True, "eos")
    assert (guessed["correct"], guessed["correct_strict"], guessed["finish"]) == (True, False, "length")
    assert (wrong["correct"], wrong["correct_strict"]) == (False, False)
    assert guessed["terminals"][0]["strict"] is False

    m = eval_metrics([stated, guessed, wrong], [], 200)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["accuracy_strict"] == pytest.approx(1 / 3)
    assert m["accuracy_strict_ci95"][0] <= 1 / 3 <= m["accuracy_strict_ci95"][1]
    assert m["cut_off_answers"] == 1


def test_runs_written_before_strict_grading_have_no_strict_accuracy():
    old = record("The answer is 7.\n")
    del old["correct_strict"]
    m = eval_metrics([old, record("The answer is 7.\n")], [], 100)
    assert m["accuracy"] == 1.0 and m["accuracy_strict"] is None
    assert with_ci(m["accuracy_strict"], m["accuracy_strict_ci95"]) == "-"
