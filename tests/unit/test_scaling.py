"""Self-consistency and best-of-N at n = 1, 2, 4, ..., N from one pool of N samples per question
(`report.scaling`): expected values worked by hand, the exact and Monte-Carlo paths, and n = N
giving back the accuracy a toy run recorded."""

from __future__ import annotations

import itertools
import math
import random
import re

import pytest

from qstar_cli.artifacts.rundir import RunDir
from qstar_cli.config import EvalConfig, resolve, to_dict
from qstar_cli.datasets.base import Problem
from qstar_cli.datasets.registry import get_dataset
from qstar_cli.report import scaling, tables
from qstar_cli.report.runs import load_runs
from qstar_cli.search import sampling
from qstar_cli.search.answers import choose
from qstar_cli.search.base import Question
from qstar_cli.stages import report
from qstar_cli.stages.eval import RECORDS, STAGE, eval_metrics, prediction_record
from tests.unit.test_sampling import Samples


def test_pool_sizes_are_powers_of_two_then_n():
    assert scaling.pool_sizes(1) == [1]
    assert scaling.pool_sizes(3) == [1, 2, 3]
    assert scaling.pool_sizes(8) == [1, 2, 4, 8]
    assert scaling.pool_sizes(12) == [1, 2, 4, 8, 12]


def sc_at(answers, correct, n, finished=None):
    groups = [answers.index(a) for a in answers]
    finished = finished or [True] * len(answers)
    return scaling.vote_at([0.0] * len(answers), finished, groups, correct, n, "vote")


def test_self_consistency_at_n_worked_by_hand():
    # A (right), B, B. n = 1: one of three samples is right. n = 2: {A, B} twice, a 1-1 tie that
    # goes to the answer seen first (A, right), and {B, B} (wrong): 2/3. n = 3: B wins 2-1.
    answers, correct = ["A", "B", "B"], [True, False, False]
    assert sc_at(answers, correct, 1) == pytest.approx(1 / 3)
    assert sc_at(answers, correct, 2) == pytest.approx(2 / 3)
    assert sc_at(answers, correct, 3) == 0.0
    # B, B, A: now B is seen first, so the pairs {B, A} go to B: only n = 1's A is right
    assert sc_at(["B", "B", "A"], [False, False, True], 2) == 0.0
    # the cut-off A votes only in a subset where nothing finished: {A, B} -> B; n = 1 -> A still right
    assert sc_at(answers, correct, 2, finished=[False, True, True]) == 0.0
    assert sc_at(answers, correct, 1, finished=[False, True, True]) == pytest.approx(1 / 3)


def test_best_scored_at_n_by_order_statistics_worked_by_hand():
    scores, correct = [0.9, 0.5, 0.7, 0.1], [False, True, True, False]
    fin = [True] * 4
    # ranked 0 (.9, wrong), 2 (.7, right), 1 (.5, right), 3 (.1): the k-th best is chosen in C(3-k, n-1) subsets
    assert scaling.best_scored_at(scores, fin, correct, 1) == pytest.approx(2 / 4)
    assert scaling.best_scored_at(scores, fin, correct, 2) == pytest.approx((2 + 1) / 6)  # {1,2} {1,3} {2,3}
    assert scaling.best_scored_at(scores, fin, correct, 3) == pytest.approx(1 / 4)  # only {1, 2, 3}
    assert scaling.best_scored_at(scores, fin, correct, 4) == 0.0
    # the .9 sample cut off ranks last: 2 and 1 lead, right in 3 + 2 of the 6 pairs
    assert scaling.best_scored_at(scores, [False, True, True, True], correct, 2) == pytest.approx(5 / 6)
    # a tie in score goes to the sample seen first: (.5 right, .5 wrong) -> right at n = 2
    assert scaling.best_scored_at([0.5, 0.5], fin[:2], [True, False], 2) == 1.0
    assert scaling.best_scored_at([0.5, 0.5], fin[:2], [False, True], 2) == 0.0


def test_best_scored_equals_choose_over_every_subset():
    rng = random.Random(3)
    for _ in range(30):
        size = rng.randint(1, 7)
        scores = [rng.choice([0.1, 0.4, 0.4, 0.8]) for _ in range(size)]
        finished = [rng.random() < 0.8 for _ in range(size)]
        correct = [rng.random() < 0.4 for _ in range(size)]
        for n in range(1, size + 1):
            subs = list(itertools.combinations(range(size), n))
            want = sum(
                correct[s[choose([scores[j] for j in s], [finished[j] for j in s], [None] * n, "best_f")]] for s in subs
            ) / len(subs)
            assert scaling.best_scored_at(scores, finished, correct, n) == pytest.approx(want)


def test_many_subsets_are_sampled_with_a_seed_near_the_exact_value(monkeypatch):
    rng = random.Random(5)
    size = 16  # C(16, 8) = 12,870 subsets: more than EXACT_SUBSETS
    answers = [rng.choice("AABC") for _ in range(size)]
    groups = [answers.index(a) for a in answers]
    scores = [rng.random() for _ in range(size)]
    correct = [a == "B" for a in answers]
    args = (scores, [True] * size, groups, correct, 8, "weighted")
    assert math.comb(size, 8) > scaling.EXACT_SUBSETS
    sampled = scaling.vote_at(*args, seed="q1")
    assert sampled == scaling.vote_at(*args, seed="q1")  # reruns agree
    monkeypatch.setattr(scaling, "EXACT_SUBSETS", 20000)
    exact = scaling.vote_at(*args, seed="q1")
    assert 0 < exact < 1 and abs(sampled - exact) < 0.05  # 1,000 subsets: standard error below 0.016


def toy_run(path, search, answer="best_f", questions=12, n=6, seed=0):
    """Run self-consistency or best-of-N on scripted samples (answers 7, 8, 9, reference 7; scores
    with ties; some samples cut off), record it as `qstar eval` does, return the run's folder."""
    rng = random.Random(seed)
    dataset = get_dataset("mawps")
    config = to_dict(resolve(EvalConfig, None, [f"eval.search={search}", "data.name=mawps"], {}))
    ids = [f"q{i}" for i in range(questions)]
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
    for qid in ids:
        samples = [(f"s{i} x={rng.choice('7789')}\n", "eos" if rng.random() < 0.85 else "length") for i in range(n)]
        q = {text: rng.choice([0.2, 0.5, 0.5, 0.8]) for text, _ in samples}
        env = Samples(samples, q=q)
        question = Question(qid, "toy", "P:")
        if search == "self_consistency":
            [result] = sampling.self_consistency([question], env, sampling.SelfConsistencyConfig(n=n))
        else:
            [result] = sampling.best_of_n([question], env, sampling.BestOfNConfig(n=n, answer=answer))
        rec = prediction_record(Problem(qid, "toy", "7"), question, result, dataset, search)
        run.append(rec)
        records.append(rec)
    metrics = eval_metrics(records, [{"seconds": 1.0}], 100)
    metrics.update(
        search=search,
        dataset="mawps/test",
        dataset_name="mawps",
        split="test",
        model="embedded",
        settings={"n": n, "answer": answer} if search == "best_of_n" else {"n": n},
    )
    run.finish(metrics)
    return str(path), metrics


@pytest.mark.parametrize(
    "search,answer",
    [("self_consistency", "best_f"), ("best_of_n", "best_f"), ("best_of_n", "vote"), ("best_of_n", "weighted")],
)
def test_n_equal_to_the_pool_gives_back_the_runs_own_accuracy(tmp_path, search, answer):
    path, metrics = toy_run(tmp_path / "run", search, answer)
    assert 0.2 < metrics["accuracy"] < 0.9  # neither all right nor all wrong
    [run] = load_runs([path])
    points = scaling.curve(run, resamples=100)
    assert [p.n for p in points] == [1, 2, 4, 6]
    last = points[-1]
    assert last.accuracy[scaling.own_rule(run)] == pytest.approx(metrics["accuracy"])
    assert last.tokens == pytest.approx(metrics["tokens_per_question"])
    assert points[0].tokens == pytest.approx(metrics["tokens_per_question"] / 6)
    # n = 1: every rule answers with the one sample, so all give the share of right samples
    share = sum(sum(t["correct"] for t in r["terminals"]) / 6 for r in run.records) / len(run.records)
    assert all(v == pytest.approx(share) for v in points[0].accuracy.values())
    assert set(last.accuracy) == ({"vote"} if search == "self_consistency" else {"best_f", "vote", "weighted"})
    for p in points:
        for how, (lo, hi) in p.ci.items():
            assert lo <= p.accuracy[how] <= hi


def test_the_report_shows_the_scaling_table_and_draws_the_curve(tmp_path):
    path, metrics = toy_run(tmp_path / "bon", "best_of_n", "vote")
    sc, _ = toy_run(tmp_path / "sc", "self_consistency", seed=1)
    rows = tables.scaling_rows([(r, scaling.curve(r, 100)) for r in load_runs([path, sc])])
    assert [row[:3] for row in rows] == [["bon", "best-of-N n=6 answer=vote", n] for n in ("1", "2", "4", "6")] + [
        ["sc", "self-consistency n=6", n] for n in ("1", "2", "4", "6")
    ]
    assert re.fullmatch(r"[\d.]+% \[[\d.]+, [\d.]+\]", rows[0][4]) and rows[-1][4] == "-" and rows[-1][6] == "-"
    assert rows[3][5].startswith(f"{100 * metrics['accuracy']:.1f}% [")  # vote@6: the run's own accuracy
    out = tmp_path / "rep"
    text = report.run([path, sc], str(out), pair=False, resamples=100)
    assert "## Scaling from one sample pool" in text and "| bon | best-of-N n=6 answer=vote | 6 |" in text
    assert "Scaling from one sample pool" in (out / "report.html").read_text()
    svg = (out / "accuracy_vs_tokens.svg").read_text()
    assert svg.count("stroke-dasharray") >= 2  # one dashed curve per pooled run


def test_runs_without_a_pool_have_no_scaling_rows(tmp_path):
    from tests.unit.test_answer_choice import QUESTIONS, eval_run

    beam = eval_run(tmp_path / "astar", QUESTIONS)  # A*'s terminals are not independent samples
    assert scaling.curve(load_runs([beam])[0]) == []
    assert "Scaling from one sample pool" not in report.run([beam], pair=False, resamples=100)
