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
PERFECT = {
    ("a",): -2.0,
    ("b",): -4.0,
    ("c",): -1.5,
    ("a", "d"): -1.0,
    ("a", "e"): 0.0,
    ("b", "f"): 0.0,
    ("b", "h"): 0.0,
    ("c", "i"): 0.0,
    ("a", "d", "g"): 0.0,
}


def run(h, **kw):
    env = GraphEnv(EDGES, h)
    cfg = AStarConfig(k=6, n_terminals=1, utility="rule", agg="sum", budget=50, **kw)
    (result,) = search([Q], env, cfg, trees=True)
    return result, env


def test_finds_the_cheapest_solution_with_an_admissible_h():
    result, _env = run(PERFECT)
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
    picks = {
        search([Q], GraphEnv(edges), AStarConfig(n_terminals=1, utility="rule", agg="sum"))[0].answer.steps[-1]
        for _ in range(5)
    }
    assert picks == {"t1"}


def test_identical_states_are_expanded_once():
    edges = {(): [("a", 1.0, False), ("a", 1.0, False)], ("a",): [("z", 1.0, True)]}
    env = GraphEnv(edges)
    (result,) = search([Q], env, AStarConfig(n_terminals=1, utility="rule", agg="sum"), trees=True)
    assert [row["step"] for row in result.tree] == ["", "a", "z"]


def test_n_terminals_and_budget():
    _result, _ = run(
        PERFECT,
    )
    (many,) = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=3, utility="rule", agg="sum"))
    assert len(many.terminals) == 3
    assert many.terminals[0].steps == ["a", "d", "g"]  # found in f order
    (short,) = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=6, utility="rule", agg="sum", budget=1))
    assert short.usage.expansions == 1
    # no terminal within the budget: the best open node is completed greedily (one counted call)
    assert short.answer.steps == ["a", "done"] and short.usage.policy_calls == 2
    (none,) = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(utility="rule", agg="sum", budget=1, fallback="none"))
    assert none.answer is None


def test_h_from_the_qvm_drives_the_order_without_utilities():
    # g = 0 (no utility): f = h = Q(parent, action); the QVM prefers c, then i
    h = {("a",): 0.2, ("b",): 0.1, ("c",): 0.9, ("c", "i"): 0.8}
    (result,) = search([Q], GraphEnv(EDGES, h), AStarConfig(n_terminals=1))
    assert result.answer.steps == ["c", "i"] and result.answer.score == pytest.approx(0.8)
    assert [p.h for p in result.answer.path] == pytest.approx([0.9, 0.8])


def test_vote_picks_the_answer_found_most_often():
    edges = {(): [("p", 0, True), ("q", 0, True), ("r", 0, True)]}
    h = {("p",): 0.9, ("q",): 0.5, ("r",): 0.6}
    env = GraphEnv(edges, h, answers={"p": "7", "q": "8", "r": "8"})
    (best,) = search([Q], env, AStarConfig(n_terminals=3))
    (vote,) = search([Q], env, AStarConfig(n_terminals=3, answer="vote"))
    assert best.answer.steps == ["p"] and vote.answer.steps == ["r"]  # 8 twice; r is its best f


def test_vote_counts_terminals_so_negative_f_cannot_turn_it_around():
    # under the rule utility f can be negative: a sum of f would make the answer found twice
    # (-2 + -2 = -4) lose to the one found once (-0.1)
    edges = {(): [("p", 0.1, True), ("q", 2.0, True), ("r", 2.0, True)]}
    env = GraphEnv(edges, answers={"p": "7", "q": "8", "r": "8"})
    (vote,) = search([Q], env, AStarConfig(n_terminals=3, answer="vote", utility="rule", agg="sum"))
    assert sorted(t.score for t in vote.terminals) == [-2.0, -2.0, -0.1]
    assert vote.answer.steps == ["q"]


def test_weighted_vote_sums_each_answers_f():
    # A once at f .9, B twice at .5: the best f says A; B wins the vote (2 > 1) and the weighted
    # vote (.5 + .5 = 1.0 > .9), and answers with its first terminal of the best f
    edges = {(): [("p", 0, True), ("q", 0, True), ("r", 0, True)]}
    env = GraphEnv(edges, {("p",): 0.9, ("q",): 0.5, ("r",): 0.5}, answers={"p": "A", "q": "B", "r": "B"})
    picks = {
        how: search([Q], env, AStarConfig(n_terminals=3, answer=how))[0].answer.steps
        for how in ("best_f", "vote", "weighted")
    }
    assert picks == {"best_f": ["p"], "vote": ["q"], "weighted": ["q"]}


def test_weighted_vote_and_majority_vote_can_disagree():
    # C once (.95), A twice (.6 + .6 = 1.2), B three times (.2 x 3 = .6): best C, vote B, weighted A
    edges = {(): [("c", 0, True), ("a1", 0, True), ("a2", 0, True), ("b1", 0, True), ("b2", 0, True), ("b3", 0, True)]}
    h = {("c",): 0.95, ("a1",): 0.6, ("a2",): 0.6, ("b1",): 0.2, ("b2",): 0.2, ("b3",): 0.2}
    env = GraphEnv(edges, h, answers={"c": "C", "a1": "A", "a2": "A", "b1": "B", "b2": "B", "b3": "B"})
    picks = {
        how: search([Q], env, AStarConfig(n_terminals=6, answer=how))[0].answer.steps
        for how in ("best_f", "vote", "weighted")
    }
    assert picks == {"best_f": ["c"], "vote": ["b1"], "weighted": ["a1"]}


def test_weighted_vote_counts_a_negative_f_as_nothing():
    # f = h - cost under the rule utility: A once at .5; B at .3, .3 and .3 - .5 = -.2. Summed as
    # they are B has .4 < .5; a negative f adds nothing, so B has .6 > .5
    edges = {(): [("p", 0, True), ("q", 0, True), ("r", 0, True), ("s", 0.5, True)]}
    h = {("p",): 0.5, ("q",): 0.3, ("r",): 0.3, ("s",): 0.3}
    env = GraphEnv(edges, h, answers={"p": "A", "q": "B", "r": "B", "s": "B"})
    (weighted,) = search([Q], env, AStarConfig(n_terminals=4, answer="weighted", utility="rule", agg="sum"))
    assert sorted(t.score for t in weighted.terminals) == pytest.approx([-0.2, 0.3, 0.3, 0.5])
    assert weighted.answer.steps == ["q"]
    # every f below zero: every answer weighs 0, and the answer found more often wins (not -0.1 > -4)
    edges = {(): [("p", 0.1, True), ("q", 2.0, True), ("r", 2.0, True)]}
    env = GraphEnv(edges, answers={"p": "7", "q": "8", "r": "8"})
    (weighted,) = search([Q], env, AStarConfig(n_terminals=3, answer="weighted", utility="rule", agg="sum"))
    assert weighted.answer.steps == ["q"]


class EquivalentAnswers(GraphEnv):
    """Answers are fractions written several ways; the grader knows 1/2 = 0.5."""

    def same_answer(self, question, a, b):
        value = {"\\frac{1}{2}": 0.5, "\\dfrac{1}{2}": 0.5, "0.5": 0.5, "3": 3.0}
        return value[a] == value[b]


def test_vote_groups_answers_by_the_graders_equivalence():
    edges = {(): [("p", 0, True), ("q", 0, True), ("r", 0, True), ("s", 0, True)]}
    h = {("p",): 0.9, ("q",): 0.5, ("r",): 0.4, ("s",): 0.3}
    answers = {"p": "3", "q": "\\frac{1}{2}", "r": "\\dfrac{1}{2}", "s": "0.5"}
    (vote,) = search([Q], EquivalentAnswers(edges, h, answers), AStarConfig(n_terminals=4, answer="vote"))
    assert vote.answer.steps == ["q"]  # one half, three times, beats 3 once (3 would win by strings)
    # weighted: one half has .5 + .4 + .3 = 1.2 > .9 (by strings 3's .9 would beat each alone)
    (weighted,) = search([Q], EquivalentAnswers(edges, h, answers), AStarConfig(n_terminals=4, answer="weighted"))
    assert weighted.answer.steps == ["q"]


def test_an_empty_proposal_that_ends_the_solution_makes_its_parent_a_terminal():
    # after "The answer is 5." the model's next proposal is "" with EOS: the solution is finished
    done = "The answer is 5.\n"
    edges = {(): [(done, 1.0, False)], (done,): [("", 1.0, True)]}
    env = GraphEnv(edges, {(done,): 0.7})
    (result,) = search([Q], env, AStarConfig(n_terminals=1, budget=5), trees=True)
    assert result.answer.steps == [done] and result.answer.finish == "eos"
    assert result.answer.score == pytest.approx(0.7)  # the parent's own f: the state is the same
    assert env.calls["complete"] == 0  # no fallback: a terminal was found
    assert [row["step"] for row in result.tree] == ["", done, ""] and result.tree[2]["terminal"]
    # the same ending proposed twice is one terminal
    twice = {(): [(done, 1.0, False)], (done,): [("", 1.0, True), ("", 1.0, True)]}
    (result,) = search([Q], GraphEnv(twice, {(done,): 0.7}), AStarConfig(n_terminals=6, budget=5))
    assert [t.steps for t in result.terminals] == [[done]]


def test_terminals_left_in_the_open_set_when_the_budget_ends_join_the_solutions():
    # round 1 expands the root: x (terminal, f .7), y (f .6). Round 2 pops x (a terminal), then
    # expands y (budget 2 spent): z (terminal, f .8), w (f .95). Round 3 pops w: over budget, stop.
    # z is better than x and was only waiting behind w.
    edges = {(): [("x", 0, True), ("y", 0, False)], ("y",): [("z", 0, True), ("w", 0, False)]}
    h = {("x",): 0.7, ("y",): 0.6, ("y", "z"): 0.8, ("y", "w"): 0.95}
    env = GraphEnv(edges, h)
    (result,) = search([Q], env, AStarConfig(n_terminals=6, budget=2))
    assert [t.steps for t in result.terminals] == [["x"], ["y", "z"]]
    assert result.answer.steps == ["y", "z"] and env.calls["complete"] == 0
    # up to N: with N = 1, x alone (it was popped first, and N ends the search)
    (one,) = search([Q], GraphEnv(edges, h), AStarConfig(n_terminals=1, budget=2))
    assert [t.steps for t in one.terminals] == [["x"]]


def test_a_terminal_waiting_in_the_open_set_saves_the_question_from_the_fallback():
    edges = {(): [("t", 0, True), ("u", 0, False)], ("u",): [("v", 0, False)]}
    env = GraphEnv(edges, {("t",): 0.2, ("u",): 0.9, ("u", "v"): 0.9})
    (result,) = search([Q], env, AStarConfig(n_terminals=2, budget=1))
    assert result.answer.steps == ["t"] and env.calls["complete"] == 0


def test_cut_off_terminals_rank_below_finished_ones():
    # max_depth 1: "a" becomes terminal only because the depth limit cut it (finish "stop")
    edges = {(): [("a", 0, False), ("b", 0, True)]}
    env = GraphEnv(edges, {("a",): 0.9, ("b",): 0.3})
    (result,) = search([Q], env, AStarConfig(n_terminals=2, max_depth=1))
    assert [(t.steps, t.finished) for t in result.terminals] == [(["a"], False), (["b"], True)]
    assert result.answer.steps == ["b"]


def test_the_token_limit_cuts_a_node_off():
    edges = {(): [("a", 0, False), ("b", 0, False)], ("a",): [("c", 0, True)], ("b",): [("d", 0, True)]}
    # each toy step costs 1 token: with max_tokens 1 both first steps are cut off at once
    (result,) = search([Q], GraphEnv(edges, {("a",): 0.9, ("b",): 0.3}), AStarConfig(n_terminals=2, max_tokens=1))
    assert result.usage.expansions == 1 and all(not t.finished for t in result.terminals)
    assert result.answer.steps == ["a"]  # nothing finished: the best cut-off one


@pytest.mark.parametrize("n", [1, 50])
def test_one_policy_and_one_qvm_call_per_round_whatever_the_number_of_questions(n):
    env = GraphEnv(EDGES, PERFECT)
    questions = [Question(f"q{i}", "toy", "P:") for i in range(n)]
    results = search(questions, env, AStarConfig(n_terminals=1, utility="rule", agg="sum"))
    assert all(r.answer.steps == ["a", "d", "g"] for r in results)
    assert env.calls == {"propose": 3, "complete": 0, "q": 3, "u": 3}


def test_lookahead_heuristic_costs_k_squared():
    env = GraphEnv(EDGES, PERFECT)
    (result,) = search([Q], env, AStarConfig(n_terminals=1, utility="rule", agg="sum", heuristic="lookahead"))
    assert result.answer.steps == ["a", "d", "g"]
    # each round with a non-terminal child adds a lookahead proposal and a second QVM pass
    assert env.calls["propose"] > result.usage.expansions and env.calls["q"] == env.calls["propose"]
    (plain,) = search([Q], GraphEnv(EDGES, PERFECT), AStarConfig(n_terminals=1, utility="rule", agg="sum"))
    assert result.usage.scored > plain.usage.scored


def test_parallel_expansion_pops_the_p_best_nodes_at_once_and_is_no_longer_exact():
    # Worked by hand on EDGES with the perfect h: after the root, f(a) = -3, f(c) = -3.5, f(b) = -4.5,
    # so P = 2 expands a and c together; c's terminal i (f = -3.5) is then popped as the first
    # solution while exact A* would have gone on through a-d to the cheaper a-d-g (f = -3).
    result, env = run(PERFECT, parallel=2)
    assert env.proposed_states == [(), ("a",), ("c",), ("a", "d")]
    assert result.usage.expansions == 4 and result.answer.steps == ["c", "i"]
    assert result.answer.score == pytest.approx(-3.5)
    assert run(PERFECT)[0].answer.steps == ["a", "d", "g"]
