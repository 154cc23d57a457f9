"""A* on toy graphs whose optimum is known."""

import pytest

from qstar_cli.search.astar import AStarConfig, search
from qstar_cli.search.base import Question
from tests.toy_env import GraphEnv

Q = Question("q", "toy", "P:")

# Costs on edges; terminals marked True. The cheapest solution is a->d->g (1 + 1 + 1 = 3);
# the greedy-looking first step b (cost 0.5) leads only to expensive endings.
EDGES = {
    (): [("a", 1.0, False), ("b", 0.5, False), ("c", 2.0, False)],
    ("a",): [("d", 1.0, False), ("e", 3.0, True)],
    ("b",): [("f", 4.0, True), ("h", 5.0, True)],
    ("c",): [("i", 1.5, True)],
    ("a", "d"): [("g", 1.0, True)],
}
# An admissible (optimistic) h: -(true cheapest remaining cost) from each state
PERFECT = {("a",): -2.0, ("b",): -4.0, ("c",): -1.5, ("a", "d"): -1.0, ("a", "e"): 0.0, ("b", "f"): 0.0,
           ("b", "h"): 0.0, ("c", "i"): 0.0, ("a", "d", "g"): 0.0}


def run(h, **kw):
    env = GraphEnv(EDGES, h)
    cfg = AStarConfig(k=6, n_terminals=1, use_utility=True, agg="sum", budget=50, **kw)
    result, = search([Q], env, cfg, trees=True)
    return result, env


def test_finds_the_cheapest_solution_with_an_admissible_h():
    result, env = run(PERFECT)
    assert result.answer.steps == ["a", "d", "g"]
    assert result.answer.score == pytest.approx(-3.0)
    assert result.usage.expansions == 3  # root, a, a-d: a perfect h goes straight to the goal


def test_uniform_cost_finds_it_too_but_expands_at_least_as_much():
    zero, _ = run({}, heuristic="zero")
    perfect, _ = run(PERFECT)
    assert zero.answer.steps == ["a", "d", "g"]
    assert zero.usage.expansions >= perfect.usage.expansions
    assert zero.usage.expansions == 5  # root, b, a, c, a-d (every state cheaper than 3)


def test_ties_are_broken_by_push_order_deterministically():
    edges = {(): [("x", 1.0, False), ("y", 1.0, False)], ("x",): [("t1", 1.0, True)], ("y",): [("t2", 1.0, True)]}
    picks = {search([Q], GraphEnv(edges), AStarConfig(n_terminals=1, use_utility=True, agg="sum"))[0].answer.steps[-1]
             for _ in range(5)}
    assert picks == {"t1"}


def test_identical_states_are_expanded_once():
    edges = {(): [("a", 1.0, False), ("a", 1.0, False)], ("a",): [("z", 1.0, True)]}
    env = GraphEnv(edges)
    result, = search([Q], env, AStarConfig(n_terminals=1, use_utility=True, agg="sum"), trees=True)
    assert [row["step"] for row in result.tree] == ["", "a", "z"]


def test_n_terminals_and_budget():
    result, _ = run(PERFECT, )
    many, = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=3, use_utility=True, agg="sum"))
    assert len(many.terminals) == 3
    assert [t.steps for t in many.terminals][0] == ["a", "d", "g"]  # found in f order
    short, = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=6, use_utility=True, agg="sum", budget=1))
    assert short.usage.expansions == 1
    # no terminal within the budget: the best open node is completed greedily (one counted call)
    assert short.answer.steps == ["a", "done"] and short.usage.policy_calls == 2
    none, = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(use_utility=True, agg="sum", budget=1, fallback="none"))
    assert none.answer is None


def test_h_from_the_qvm_drives_the_order_without_utilities():
    # g = 0 (no utility): f = h = Q(parent, action); the QVM prefers c, then i
    h = {("a",): 0.2, ("b",): 0.1, ("c",): 0.9, ("c", "i"): 0.8}
    result, = search([Q], GraphEnv(EDGES, h), AStarConfig(n_terminals=1))
    assert result.answer.steps == ["c", "i"] and result.answer.score == pytest.approx(0.8)
    assert [p.h for p in result.answer.path] == pytest.approx([0.9, 0.8])


def test_vote_picks_the_answer_with_the_largest_total_f():
    edges = {(): [("p", 0, True), ("q", 0, True), ("r", 0, True)]}
    h = {("p",): 0.9, ("q",): 0.5, ("r",): 0.6}
    env = GraphEnv(edges, h, answers={"p": "7", "q": "8", "r": "8"})
    best, = search([Q], env, AStarConfig(n_terminals=3))
    vote, = search([Q], env, AStarConfig(n_terminals=3, answer="vote"))
    assert best.answer.steps == ["p"] and vote.answer.steps == ["r"]  # 8 totals 1.1 > 0.9


@pytest.mark.parametrize("n", [1, 50])
def test_one_policy_and_one_qvm_call_per_round_whatever_the_number_of_questions(n):
    env = GraphEnv(EDGES, PERFECT)
    questions = [Question(f"q{i}", "toy", "P:") for i in range(n)]
    results = search(questions, env, AStarConfig(n_terminals=1, use_utility=True, agg="sum"))
    assert all(r.answer.steps == ["a", "d", "g"] for r in results)
    assert env.calls == {"propose": 3, "complete": 0, "q": 3, "u": 3}


def test_lookahead_heuristic_costs_k_squared():
    env = GraphEnv(EDGES, PERFECT)
    result, = search([Q], env, AStarConfig(n_terminals=1, use_utility=True, agg="sum", heuristic="lookahead"))
    assert result.answer.steps == ["a", "d", "g"]
    # each round with a non-terminal child adds a lookahead proposal and a second QVM pass
    assert env.calls["propose"] > result.usage.expansions and env.calls["q"] == env.calls["propose"]
    plain, = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=1, use_utility=True, agg="sum"))
    assert result.usage.scored > plain.usage.scored
