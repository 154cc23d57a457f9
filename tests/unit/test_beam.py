"""Step-level beam search on toy graphs: which children it keeps, and how a solution ends."""

import pytest

from qstar_cli.search.base import Question
from qstar_cli.search.beam import BeamConfig, search
from tests.toy_env import GraphEnv

Q = Question("q", "toy", "P:")


def test_keeps_the_width_best_children_by_q_across_the_beam():
    # width 2: of a (.5), b (.9), c (.7) the beam keeps b and c; then every child of b and c ends
    edges = {
        (): [("a", 0, False), ("b", 0, False), ("c", 0, False)],
        ("a",): [("a1", 0, True)],
        ("b",): [("b1", 0, True)],
        ("c",): [("c1", 0, True), ("c2", 0, True)],
    }
    h = {("a",): 0.5, ("b",): 0.9, ("c",): 0.7, ("a", "a1"): 1.0, ("b", "b1"): 0.4, ("c", "c1"): 0.8, ("c", "c2"): 0.6}
    env = GraphEnv(edges, h)
    (result,) = search([Q], env, BeamConfig(width=2, k=3))
    assert env.proposed_states == [(), ("b",), ("c",)]  # best first; a is never expanded
    assert [t.steps for t in result.terminals] == [["b", "b1"], ["c", "c1"], ["c", "c2"]]
    assert result.answer.steps == ["c", "c1"] and result.answer.score == pytest.approx(0.8)
    assert env.calls["propose"] == 2 and env.calls["q"] == 2  # one call per depth for the whole beam


def test_children_are_ranked_across_parents_not_per_parent():
    # a's two children both beat b's only child: the next beam holds both of a's
    edges = {
        (): [("a", 0, False), ("b", 0, False)],
        ("a",): [("x", 0, False), ("y", 0, False)],
        ("b",): [("z", 0, False)],
        ("a", "x"): [("end", 0, True)],
        ("a", "y"): [("end", 0, True)],
    }
    h = {("a",): 0.5, ("b",): 0.5, ("a", "x"): 0.9, ("a", "y"): 0.8, ("b", "z"): 0.1}
    env = GraphEnv(edges, h)
    search([Q], env, BeamConfig(width=2, k=3))
    assert env.proposed_states == [(), ("a",), ("b",), ("a", "x"), ("a", "y")]


def test_an_empty_proposal_that_ends_the_solution_makes_the_beam_node_a_terminal():
    done = "The answer is 5.\n"
    edges = {(): [(done, 0, False)], (done,): [("", 0, True)]}
    env = GraphEnv(edges, {(done,): 0.6})
    (result,) = search([Q], env, BeamConfig(width=1, k=2), trees=True)
    assert result.answer.steps == [done] and result.answer.finish == "eos"
    assert result.answer.score == pytest.approx(0.6) and env.calls["complete"] == 0


def test_cut_off_terminals_rank_below_finished_ones():
    edges = {(): [("a", 0, False), ("b", 0, True)]}
    (result,) = search([Q], GraphEnv(edges, {("a",): 0.9, ("b",): 0.3}), BeamConfig(width=2, k=2, max_depth=1))
    assert result.answer.steps == ["b"] and not next(t for t in result.terminals if t.steps == ["a"]).finished


def test_max_tokens_cuts_solutions_off():
    edges = {(): [("a", 0, False)], ("a",): [("b", 0, False)], ("a", "b"): [("c", 0, True)]}
    (result,) = search([Q], GraphEnv(edges), BeamConfig(width=1, k=1, max_tokens=2))
    assert result.answer.steps == ["a", "b"] and result.answer.finish == "stop"


@pytest.mark.parametrize(
    "hs,picks",
    [
        # A once at Q .9, B twice at .5: best A; B wins the vote (2 > 1) and the weighted vote (1.0 > .9)
        ((0.9, 0.5, 0.5, None), {"best_f": ["a"], "vote": ["b"], "weighted": ["b"]}),
        # A once at .9, B three times at .2: B wins the vote (3 > 1), A the weighted vote (.9 > .6)
        ((0.9, 0.2, 0.2, 0.2), {"best_f": ["a"], "vote": ["b"], "weighted": ["a"]}),
    ],
)
def test_answer_choice_among_the_terminals(hs, picks):
    names = [n for n, q in zip("abcd", hs) if q is not None]
    edges = {(): [(n, 0, True) for n in names]}
    env = GraphEnv(edges, {(n,): q for n, q in zip(names, hs)}, answers={"a": "A", "b": "B", "c": "B", "d": "B"})
    got = {how: search([Q], env, BeamConfig(width=4, k=4, answer=how))[0].answer.steps for how in picks}
    assert got == picks
