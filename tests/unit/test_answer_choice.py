"""Choosing among a question's terminals: best-scored, majority vote, weighted vote (`answers.choose`),
the groups `qstar eval` records for them, and the report's table of all three from the same runs.

Every expected value is worked by hand on a few terminals (answer, score, right or wrong).
"""

from __future__ import annotations

import re

import pytest

from qstar_cli.artifacts import records as R
from qstar_cli.artifacts.rundir import RunDir
from qstar_cli.config import EvalConfig, resolve, to_dict
from qstar_cli.datasets.base import Problem
from qstar_cli.datasets.registry import get_dataset
from qstar_cli.report import tables
from qstar_cli.report.runs import load_runs
from qstar_cli.search.answers import choose, group_answers
from qstar_cli.search.base import Question, SearchResult, Terminal, Usage
from qstar_cli.stages import report
from qstar_cli.stages.eval import RECORDS, STAGE, eval_metrics, prediction_record

HOWS = ("best_f", "vote", "weighted")


def picks(scores, answers, finished=None):
    groups = group_answers(answers, lambda a, b: False)
    finished = finished or [True] * len(scores)
    return {how: choose(scores, finished, groups, how) for how in HOWS}


def test_the_three_choices_worked_by_hand():
    # A once at .9, B twice at .5: best A; vote B (2 > 1); weighted B (1.0 > .9), its first terminal
    assert picks([0.9, 0.5, 0.5], ["A", "B", "B"]) == {"best_f": 0, "vote": 1, "weighted": 1}
    # C .95 once, A .6 twice (1.2), B .2 three times (.6): best C, vote B, weighted A
    assert picks([0.95, 0.6, 0.6, 0.2, 0.2, 0.2], ["C", "A", "A", "B", "B", "B"]) == {
        "best_f": 0,
        "vote": 3,
        "weighted": 1,
    }
    # the winning group answers with its best-scored terminal, not its first
    assert picks([0.8, 0.3, 0.6], ["A", "B", "B"]) == {"best_f": 0, "vote": 2, "weighted": 2}  # .9 > .8


def test_a_negative_score_adds_nothing_to_its_answer():
    # B: .3 + .3 + max(-.2, 0) = .6 > A's .5 (summed as they are, .4 < .5)
    assert picks([0.5, 0.3, 0.3, -0.2], ["A", "B", "B", "B"])["weighted"] == 1
    # all below zero: all weigh 0, the answer found more often wins, then the best score
    assert picks([-0.1, -2.0, -2.0], ["A", "B", "B"])["weighted"] == 1
    assert picks([-0.1, -2.0], ["A", "B"])["weighted"] == 0


def test_cut_off_terminals_and_terminals_without_an_answer():
    # the cut-off B (.99) neither answers nor votes while a terminal finished
    assert picks([0.99, 0.2, 0.3], ["B", "A", "C"], [False, True, True]) == {"best_f": 2, "vote": 2, "weighted": 2}
    assert picks([0.99, 0.2], ["B", "A"], [False, False]) == {"best_f": 0, "vote": 0, "weighted": 0}
    # no terminal states an answer: every choice is the best-scored one
    assert picks([0.1, 0.4], [None, None]) == {"best_f": 1, "vote": 1, "weighted": 1}
    assert picks([], []) == {"best_f": None, "vote": None, "weighted": None}


def test_eval_records_each_terminals_answer_group_by_the_graders_equivalence():
    problem = Problem("math/test/0", "What is 1/2?", "\\frac{1}{2}")
    texts = ["So it is \\boxed{\\frac{1}{2}}.", "So it is \\boxed{3}.", "So it is \\boxed{0.5}.", "No answer."]
    terminals = [Terminal([t], s) for t, s in zip(texts, (0.3, 0.5, 0.3, 0.9))]
    result = SearchResult(problem.id, terminals[1], terminals, Usage())
    rec = prediction_record(problem, Question(problem.id, problem.question, "P:"), result, get_dataset("math"), "beam")
    assert [t["group"] for t in rec["terminals"]] == [0, 1, 0, None]  # 0.5 is one half: the first's group


# (answer, score, correct[, finish]) per terminal; what each choice gives, worked by hand:
QUESTIONS = [
    [("7", 0.9, True), ("8", 0.5, False), ("8", 0.5, False)],  # best right; vote, weighted wrong
    [
        ("9", 0.95, False),
        ("7", 0.6, True),
        ("7", 0.6, True),
        ("8", 0.2, False),
        ("8", 0.2, False),
        ("8", 0.2, False),
    ],  # weighted right (1.2); best (9) and vote (8) wrong
    [("7", 0.2, True), ("7", 0.2, True), ("8", 0.9, False)],  # vote right; best, weighted (.4 < .9) wrong
    [("7", 0.9, True, "length"), ("8", 0.1, False)],  # right only when cut off: every choice wrong
    [
        ("9", 0.95, False),
        ("7", 0.6, True),
        ("7", 0.6, True),
        ("8", 0.2, False),
        ("8", 0.2, False),
        ("8", 0.2, False),
    ],  # as the second
    # 1/2 and 0.5 are one answer (the recorded group): vote (2 > 1) and weighted (.6 > .5) right
    [("1/2", 0.3, True), ("0.5", 0.3, True), ("3", 0.5, False)],
]
GROUPS = {5: [0, 0, 2]}


def eval_run(path, questions, groups=True, search="astar"):
    config = to_dict(resolve(EvalConfig, None, [f"eval.search={search}", "data.name=mawps"], {}))
    ids = [f"q{i}" for i in range(len(questions))]
    run = RunDir.open(
        path,
        stage=STAGE,
        kind="predictions",
        records_name=RECORDS,
        config=config,
        inputs={},
        expected_ids=ids,
        total_questions=len(ids),
        seeds={},
    )
    records = []
    for i, (qid, terms) in enumerate(zip(ids, questions)):
        terminals = [
            {"text": f"The answer is {a}", "score": s, "answer": a, "correct": c, "finish": rest[0] if rest else "eos"}
            for a, s, c, *rest in terms
        ]
        if groups:
            for t, g in zip(terminals, GROUPS.get(i) or group_answers([t["answer"] for t in terminals], str.__eq__)):
                t["group"] = g
        rec = {
            "schema": R.schema_tag("predictions"),
            "id": qid,
            "question": qid,
            "reference": "7",
            "search": search,
            "answer": terminals[0]["answer"],
            "correct": terminals[0]["correct"],
            "solution": "",
            "path": [],
            "terminals": terminals,
            "usage": {
                "generated_tokens": 10,
                "policy_calls": 1,
                "qvm_calls": 1,
                "prm_calls": 0,
                "expansions": 1,
                "scored": 0,
            },
            "wall_seconds": 0.1,
        }
        run.append(rec)
        records.append(rec)
    metrics = eval_metrics(records, [{"seconds": 1.0}], 100)
    metrics.update(
        search=search,
        dataset="mawps/test",
        dataset_name="mawps",
        split="test",
        model="embedded",
        settings={"k": 6, "n_terminals": 6, "budget": 64} if search == "astar" else {},
    )
    run.finish(metrics)
    return str(path)


def test_the_report_measures_all_three_choices_on_the_same_run(tmp_path):
    run = eval_run(tmp_path / "astar", QUESTIONS)
    [row] = tables.answer_choice_rows(load_runs([run]), resamples=200)
    assert row[:3] == ["astar", "A* K=6 N=6 budget=64", "6"]
    # best: question 0 (1/6); vote: 2 and 5 (2/6); weighted: 1, 4 and 5 (3/6); pass@terminals: all 6
    values = [float(re.match(r"([\d.]+)% \[([\d.]+), ([\d.]+)\]", cell).group(1)) for cell in row[3:]]
    assert values == [16.7, 33.3, 50.0, 100.0]
    for cell in row[3:6]:  # each interval holds its estimate
        point, lo, hi = map(float, re.match(r"([\d.]+)% \[([\d.]+), ([\d.]+)\]", cell).groups())
        assert lo <= point <= hi and hi - lo > 0
    assert row[6] == "100.0% [100.0, 100.0]"
    text = report.run([run], pair=False, resamples=200)
    assert "## Answer choice" in text and "| astar | A* K=6 N=6 budget=64 | 6 | 16.7% [" in text


def test_records_without_groups_fall_back_to_the_answer_as_written(tmp_path):
    # question 5 splits into 1/2, 0.5 and 3 (each once): the vote goes to the best score, 3, wrong
    run = eval_run(tmp_path / "old", QUESTIONS, groups=False)
    [row] = tables.answer_choice_rows(load_runs([run]), resamples=200)
    assert [cell.split("%")[0] for cell in row[3:]] == ["16.7", "16.7", "33.3", "100.0"]


def test_runs_with_one_terminal_per_question_have_no_answer_choice_row(tmp_path):
    run = eval_run(tmp_path / "greedy", [[("7", 0.0, True)], [("8", 0.0, False)]], search="greedy")
    assert tables.answer_choice_rows(load_runs([run])) == []
    assert "Answer choice" not in report.run([run], pair=False, resamples=100)


@pytest.mark.parametrize(
    "settings,label", [({"answer": "weighted"}, "beam answer=weighted"), ({"answer": "best_f"}, "beam")]
)
def test_a_runs_method_label_names_a_vote(tmp_path, settings, label):
    from qstar_cli.report.runs import EvalRun

    run = EvalRun(tmp_path, "r", {}, {"search": "beam", "settings": settings}, {})
    assert run.method == label
