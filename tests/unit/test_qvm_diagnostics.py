"""Held-out QVM diagnostics: the by-question bootstrap interval, ROC-AUC by depth, the position
baseline, the too-small warning. Expected values are worked out by hand in the comments."""

import pytest

from qstar_cli.search.base import Usage
from qstar_cli.stages.train_q import show_summary
from qstar_cli.value.metrics import (
    _tie_blocks,
    _weighted_auc,
    auc_by_depth,
    auc_ci,
    bootstrap_aucs,
    paired_auc_delta,
    position_auc,
    roc_auc,
    too_small,
)
from qstar_cli.value.train import Example, evaluate


def test_auc_by_depth_by_hand():
    scores = [0.2, 0.7, 0.6, 0.4, 0.9, 0.3, 0.1]
    positives = [False, True, False, True, True, True, True]
    depths = [0, 0, 1, 1, 1, 8, 11]
    # depth 0: pos 0.7 beats neg 0.2 -> 1/1 = 1.0; positive rate 1/2
    # depth 1: pos 0.4 loses to neg 0.6, pos 0.9 beats it -> 1/2 = 0.5; positive rate 2/3
    # depths 8 and 11 pool into "8+": two positives, no negative -> no AUC; positive rate 1
    assert auc_by_depth(scores, positives, depths) == [
        {"depth": 0, "examples": 2, "positive_rate": 0.5, "roc_auc": 1.0},
        {"depth": 1, "examples": 3, "positive_rate": pytest.approx(2 / 3), "roc_auc": 0.5},
        {"depth": "8+", "examples": 2, "positive_rate": 1.0, "roc_auc": None},
    ]


def test_position_baseline_by_hand_and_never_sign_flipped():
    # the positive at depth 2 beats the negatives at depths 0 and 1 and ties the one at 2 -> 2.5 / 3
    assert position_auc([0, 1, 2, 2], [False, False, True, False]) == pytest.approx(2.5 / 3)
    # the positive is the shallower step: 0.0 as it is, not flipped to 1.0 on the held-out data
    assert position_auc([0, 3], [True, False]) == 0.0


def test_weighted_auc_equals_auc_of_repeated_examples():
    scores = [0.5, 0.5, 0.2, 0.8, 0.2]
    positives = [True, False, False, True, True]
    groups = [0, 0, 1, 1, 2]
    # weights [2, 0, 1]: group 0 twice, group 1 left out, group 2 once. Positives 0.5, 0.5, 0.2 and
    # negatives 0.5, 0.5: each positive 0.5 ties both negatives (2 x 1/2), the 0.2 loses both
    # -> (1 + 1 + 0) / (3 * 2) = 1/3
    blocks = _tie_blocks(scores, positives, groups)
    assert _weighted_auc(blocks, [2, 0, 1]) == pytest.approx(1 / 3)
    repeated = [0, 1, 0, 1, 4]
    assert roc_auc([scores[i] for i in repeated], [positives[i] for i in repeated]) == pytest.approx(1 / 3)


def test_bootstrap_resamples_questions_not_examples():
    # question a ranks its pair right (0.9 pos > 0.1 neg), question b wrong (0.2 pos < 0.8 neg).
    # Drawing 2 questions: {a, a} -> 1.0, {b, b} -> 0.0, {a, b} -> pairs (0.9, 0.1) win, (0.9, 0.8)
    # win, (0.2, 0.1) win, (0.2, 0.8) loss -> 0.75. Every draw holds both classes, none is skipped.
    scores = [0.9, 0.1, 0.2, 0.8]
    positives = [True, False, True, False]
    aucs = bootstrap_aucs(scores, positives, ["a", "a", "b", "b"], resamples=1000)
    assert len(aucs) == 1000
    assert set(aucs) == {0.0, 0.75, 1.0}
    # a quarter of the draws are {b, b} and a quarter {a, a}: the 2.5% and 97.5% points are 0 and 1
    assert auc_ci(scores, positives, ["a", "a", "b", "b"]) == (0.0, 1.0)
    # resampling single examples instead gives other values, e.g. {0.9 pos, 0.2 pos, 0.8 neg} -> 0.5
    assert 0.5 in bootstrap_aucs(scores, positives, [0, 1, 2, 3], resamples=1000)


def test_paired_auc_delta_draws_the_same_questions_for_both_scorers():
    positives = [True, False, True, False]
    groups = ["a", "a", "b", "b"]
    # a ranks question b right and a wrong, b the other way round (the case above is b):
    # a: positives 0.1, 0.8 against negatives 0.9, 0.2 -> one win of four = 0.25; b: 0.75 -> -0.5
    a, b = [0.1, 0.9, 0.8, 0.2], [0.9, 0.1, 0.2, 0.8]
    delta, ci = paired_auc_delta(a, b, positives, groups)
    assert delta == pytest.approx(-0.5)
    # draws {a, a}: 0 - 1 = -1, {b, b}: 1 - 0 = +1, {a, b}: -0.5, a quarter, a quarter and a half
    assert ci == (-1.0, 1.0)
    # a scorer against a monotone transform of itself ranks alike in every resample: the difference
    # is 0 in each, so the interval is exactly (0, 0), though each AUC alone varies from 0 to 1
    # (resampling the two scorers' questions apart would give differences of +-1 and +-0.75)
    assert auc_ci(b, positives, groups) == (0.0, 1.0)
    assert paired_auc_delta(b, [x / 2 for x in b], positives, groups) == (0.0, (0.0, 0.0))
    assert paired_auc_delta(b, b, [True, True, True, True], groups) is None  # no negative: no AUC


def test_ci_of_a_separable_case_is_exactly_one():
    # every positive outscores every negative, so each resample holding both classes has AUC 1;
    # drawing only q3 (positives only) is skipped
    scores = [0.9, 0.2, 0.8, 0.1, 0.3, 0.7]
    positives = [True, False, True, False, False, True]
    groups = ["q1", "q1", "q2", "q2", "q2", "q3"]
    assert roc_auc(scores, positives) == 1.0
    assert auc_ci(scores, positives, groups) == (1.0, 1.0)


def test_ci_needs_two_questions_and_a_valid_resample():
    assert auc_ci([0.9, 0.1], [True, False], ["q1", "q1"]) is None  # one question: nothing to resample
    assert auc_ci([0.9, 0.1], [True, True], ["q1", "q2"]) is None  # one class: no resample has an AUC


def test_ci_is_deterministic_for_a_seed():
    scores = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.7, 0.3]
    positives = [True, False, True, False, True, False, False, True]
    groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
    ci = auc_ci(scores, positives, groups, seed=3)
    assert ci == auc_ci(scores, positives, groups, seed=3)
    assert ci[0] <= roc_auc(scores, positives) <= ci[1]


def test_too_small():
    assert too_small(2, [True] * 10 + [False] * 10)  # the demo's 2 questions
    assert not too_small(20, [True] * 10 + [False] * 10)
    assert too_small(20, [True] * 9 + [False] * 11)  # 9 positives
    assert too_small(20, [True] * 11 + [False] * 9)  # 9 negatives


class _Lookup:
    """A stand-in QVM scoring each action by a fixed table."""

    def __init__(self, table):
        self.table = table

    def score(self, items):
        return [self.table[action] for _, _, action in items]


def test_evaluate_reports_the_diagnostics():
    # 2 questions: q1 with a step at depth 0 (y 1) and at depth 1 (y 0), q2 the same with y 0.6 and 0.2
    held = [
        Example("q1", "Q1", [], "a", 1.0),
        Example("q1", "Q1", ["a"], "b", 0.0),
        Example("q2", "Q2", [], "c", 0.6),
        Example("q2", "Q2", ["c"], "d", 0.2),
    ]
    m = evaluate(_Lookup({"a": 0.9, "b": 0.3, "c": 0.4, "d": 0.6}), held)
    # positives (y >= 0.5) a 0.9, c 0.4; negatives b 0.3, d 0.6: a wins twice, c beats b -> 3/4
    assert m["roc_auc"] == 0.75
    assert m["questions"] == 2 and m["examples"] == 4 and m["positive_rate"] == 0.5
    # both positives are at depth 0 and both negatives at depth 1: depth scores the wrong way round
    assert m["baseline_position_auc"] == 0.0
    assert m["auc_by_depth"] == [
        {"depth": 0, "examples": 2, "positive_rate": 1.0, "roc_auc": None},
        {"depth": 1, "examples": 2, "positive_rate": 0.0, "roc_auc": None},
    ]
    # q1 alone -> 1.0 (0.9 > 0.3), q2 alone -> 0.0 (0.4 < 0.6), both -> 0.75
    assert m["roc_auc_ci95"] == [0.0, 1.0]
    assert m["too_small"] is True
    assert {"mse", "baseline_mse", "mean_pred", "calibration"} <= set(m)
    # within a question: q1 a > b (win), q2 c < d (loss) -> 1/2 over 2 questions; the examples have
    # no state, so each question's steps count as one state's siblings too
    assert (m["within_question_auc"], m["within_question_questions"]) == (0.5, 2)
    assert (m["sibling_auc"], m["sibling_states"]) == (0.5, 2)
    # depth within a question: the positive is the shallower step in both -> 0
    assert m["baseline_position_within_question_auc"] == 0.0
    assert m["final_step_auc"] is None and m["final_step_questions"] == 0  # no final steps here


def test_final_step_auc_ranks_a_questions_final_steps_only():
    held = [
        Example("q1", "Q", [], "s", 1.0),
        Example("q1", "Q", [], "s2", 0.0),  # inner steps: ignored
        Example("q1", "Q", ["s"], "right", 1.0, terminal=True),
        Example("q1", "Q", ["s"], "wrong", 0.0, terminal=True),
        Example("q1", "Q", ["s2"], "wrong2", 0.0, terminal=True),
        Example("q2", "Q2", [], "only", 1.0, terminal=True),
    ]  # one class: no pair
    scores = {"s": 0.1, "s2": 0.9, "right": 0.5, "wrong": 0.6, "wrong2": 0.2, "only": 0.9}
    m = evaluate(_Lookup(scores), held)
    # q1's right final step (0.5) vs wrong ones 0.6 (loss) and 0.2 (win) -> 1/2 over one question
    assert (m["final_step_auc"], m["final_step_questions"]) == (0.5, 1)


def test_show_summary_shows_the_interval_the_baseline_and_warns(capsys, tmp_path):
    held = {
        "examples": 40,
        "questions": 2,
        "mse": 0.2,
        "baseline_mse": 0.25,
        "roc_auc": 0.6123,
        "roc_auc_ci95": [0.551, 0.6749],
        "baseline_position_auc": 0.5432,
        "positive_rate": 0.25,
        "mean_pred": 0.3,
        "calibration": [],
        "auc_by_depth": [
            {"depth": 0, "examples": 30, "positive_rate": 0.2, "roc_auc": 0.7},
            {"depth": "8+", "examples": 10, "positive_rate": 0.4, "roc_auc": None},
        ],
        "too_small": True,
    }
    show_summary(
        {
            "heldout": held,
            "train_eval": {"roc_auc": 0.9},
            "train_examples": 100,
            "train_questions": 8,
            "train_loss_first": 0.7,
            "train_loss_last": 0.3,
            "train_seconds": 1.0,
        },
        tmp_path,
    )
    captured = capsys.readouterr()
    out, err = captured.out, " ".join(captured.err.split())
    assert "0.6123 [0.55, 0.67]" in out
    assert "0.5432" in out
    assert "8+" in out and "0.7000" in out
    # 40 examples at a positive rate of 0.25: 10 positive, 30 negative
    assert "means little with 2 question(s), 10 positive and 30 negative" in err
    assert "train.heldout_fraction" in err


def test_terminal_auc_compares_terminals_within_a_question_only():
    from qstar_cli.stages.eval import eval_metrics

    def rec(*terminals):  # (score, correct) per terminal
        return {
            "correct": False,
            "answer": None,
            "finish": "eos",
            "usage": Usage().__dict__,
            "terminals": [{"score": s, "correct": c} for s, c in terminals],
        }

    records = [
        rec((0.9, True), (0.5, False), (0.9, False)),  # 0.9 > 0.5 wins, 0.9 = 0.9 ties: 1.5 of 2 pairs
        rec((0.2, True), (0.4, False)),  # the correct terminal ranks below: 0 of 1
        rec((0.1, True)),  # no wrong terminal: no pair, not counted
        rec((5.0, False)),  # a high score in another question is never compared
    ]
    m = eval_metrics(records, [], resamples=10)
    assert m["terminal_auc"] == pytest.approx(1.5 / 3) and m["terminal_auc_questions"] == 2
    assert eval_metrics([rec((0.1, True))], [], resamples=10)["terminal_auc"] is None


def test_the_policy_log_prob_baseline_comes_from_the_rollouts_steps():
    from qstar_cli.labelers.tree import build_tree, tree_to_records

    trajs = [
        {
            "reward": 1.0,
            "steps": [{"text": "a\n", "tokens": 4, "logprob": -2.0}, {"text": "b\n", "tokens": 2, "logprob": -0.2}],
        },
        {
            "reward": 0.0,
            "steps": [{"text": "a\n", "tokens": 4, "logprob": -2.0}, {"text": "c\n", "tokens": 5, "logprob": -5.0}],
        },
        {"reward": 0.0, "steps": [{"text": "d\n", "tokens": 1, "logprob": None}]},
    ]
    nodes = build_tree(trajs)
    # a: -2.0 / 4 tokens = -0.5 per token (shared by two trajectories); b: -0.1; c: -1.0; d: not recorded
    assert [n.mean_logprob for n in nodes] == [-0.5, -0.1, -1.0, None]
    assert [r["mean_logprob"] for r in tree_to_records(nodes, [{}] * 4)] == [-0.5, -0.1, -1.0, None]

    class ConstantQVM:
        def score(self, items):
            return [0.5] * len(items)

    # positives b (-0.1) and a2 (-0.3) against negatives c (-1.0) and d (-0.2): b beats both, a2
    # beats c only -> 3 of 4 pairs = 0.75
    held = [
        Example("q1", "Q", ["a\n"], "b\n", 1.0, -0.1),
        Example("q1", "Q", [], "a2\n", 0.7, -0.3),
        Example("q2", "Q", ["a\n"], "c\n", 0.0, -1.0),
        Example("q2", "Q", [], "d\n", 0.0, -0.2),
    ]
    assert evaluate(ConstantQVM(), held)["baseline_logprob_auc"] == pytest.approx(0.75)
    held[3].mean_logprob = None  # older label runs recorded no log-prob: no baseline, not a partial one
    assert evaluate(ConstantQVM(), held)["baseline_logprob_auc"] is None


def test_grouped_auc_compares_only_inside_a_group():
    from qstar_cli.value.metrics import grouped_auc

    # question a: positive 0.2 vs negatives 0.1 (win) and 0.3 (loss); question b: positive 0.9 vs 0.9 (tie)
    # pooled, b's high scores would also beat a's: inside groups it is (1 + 0 + 0.5) / 3
    scores = [0.2, 0.1, 0.3, 0.9, 0.9, 0.8]
    positives = [True, False, False, True, False, True]
    keys = ["a", "a", "a", "b", "b", "c"]  # c has one class only: left out
    auc, groups = grouped_auc(scores, positives, keys)
    assert auc == pytest.approx(1.5 / 3) and groups == 2


def test_a_within_group_auc_has_an_interval_by_question():
    from qstar_cli.value.metrics import grouped_auc, grouped_auc_ci

    # q1 ranks its right step above its wrong one (1 win of 1 pair), q2 the other way round (0 of 1):
    # AUC 0.5. A resample of two questions draws q1 twice (AUC 1), q2 twice (0) or one each (0.5),
    # each pure draw with probability 1/4, so the 2.5% and 97.5% quantiles are 0 and 1.
    scores, positives, questions = [0.9, 0.1, 0.2, 0.8], [True, False, True, False], ["q1", "q1", "q2", "q2"]
    assert grouped_auc(scores, positives, questions) == (0.5, 2)
    assert grouped_auc_ci(scores, positives, questions, questions) == (0.0, 1.0)
    # q1 twice over: every resample ranks right above wrong
    same = grouped_auc_ci([0.9, 0.1, 0.8, 0.2], positives, ["a", "a", "b", "b"], ["a", "a", "b", "b"])
    assert same == (1.0, 1.0)
    # groups inside questions (sibling states): a question without a pair still counts as a draw
    keys = [("q1", "s"), ("q1", "s"), ("q2", "s"), ("q2", "s"), ("q3", "s")]
    wide = grouped_auc_ci([*scores, 0.5], [*positives, True], keys, [*questions, "q3"])
    assert wide[0] == 0.0 and wide[1] == 1.0
    assert grouped_auc_ci(scores[:2], positives[:2], questions[:2], questions[:2]) is None  # one question
