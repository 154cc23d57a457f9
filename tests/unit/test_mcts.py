"""MCTS on a scripted toy policy: hand-computed visit counts and values, batching, answer rules."""

import math

import pytest

from qstar_cli.search.base import Candidate, Question, SearchEnv
from qstar_cli.search.mcts import REFLECTION, MCTSConfig, search


def label(steps):
    return steps[-1].strip() if steps else ""


class ToyEnv(SearchEnv):
    """A scripted policy. Node X's children are "XA\\n", "XB\\n", ...; a rollout from a path whose last
    step is X is "rX\\nanswer\\n" (eos). Confidences come from `rollout_conf` (by X) and `step_conf`
    (by step label), default 0.5; each candidate has two tokens of that confidence. Steps named in
    `eos_steps` end the solution. `q` gives QVM values by the scored step's text. Calls are logged."""

    def __init__(self, rollout_conf=None, step_conf=None, eos_steps=(), q=None):
        self.rollout_conf, self.step_conf = rollout_conf or {}, step_conf or {}
        self.eos_steps, self.q = set(eos_steps), q or {}
        self.calls = []

    @staticmethod
    def cand(text, conf, finish, logprobs):
        if not logprobs:
            return Candidate(text, 2, finish)
        # top-5 mass 1 + e^-3 at each position, so this sampled logprob has confidence exactly conf
        lp = math.log(conf * (1 + math.exp(-3.0)))
        return Candidate(text, 2, finish, [lp] * 2, [[0.0, -3.0]] * 2)

    def propose(self, requests, k, temperature, logprobs=False):
        self.calls.append(("propose", [list(s) for _, s in requests], logprobs))
        out = []
        for _, steps in requests:
            names = [label(steps) + c for c in "ABCDEFGH"[:k]]
            out.append(
                [
                    self.cand(n + "\n", self.step_conf.get(n, 0.5), "eos" if n in self.eos_steps else "stop", logprobs)
                    for n in names
                ]
            )
        return out

    def complete(self, requests, n, temperature, logprobs=False):
        assert n == 1
        self.calls.append(("complete", [list(s) for _, s in requests], logprobs))
        return [
            [self.cand(f"r{label(s)}\nanswer\n", self.rollout_conf.get(label(s), 0.5), "eos", logprobs)]
            for _, s in requests
        ]

    def q_values(self, requests):
        self.calls.append(("q_values", [(list(s), a) for _, s, a in requests], None))
        return [self.q.get(a, 0.5) for _, _, a in requests]

    def split_steps(self, text, tokens):
        return text.splitlines(keepends=True)

    def count(self, kind):
        return sum(1 for c in self.calls if c[0] == kind)

    def requests(self, kind):
        return [c[1] for c in self.calls if c[0] == kind]


Q = Question("q1", "toy?", "P:")
ROLLOUTS = {"A": 0.2, "BA": 0.6, "BBA": 0.1, "AA": 0.9, "BAA": 0.5}


def run(cfg, env=None, questions=(Q,)):
    env = env or ToyEnv(ROLLOUTS)
    return search(list(questions), env, cfg, trees=True), env


def nodes(result):
    return {(n["step"].strip() or "root"): (n["visits"], n["value"]) for n in result.tree}


def test_hand_computed_values_with_exploration():
    # it1: expand root -> A, B; roll out A: 0.2.   it2: B unvisited -> expand B; roll out BA: 0.6.
    # it3: UCT(A) = 0.2 + sqrt(ln 2 / 1) = 1.0326, UCT(B) = 0.6 + 0.8326 = 1.4326 -> B; BB unvisited
    #      -> expand BB; roll out BBA: 0.1.
    # it4: UCT(A) = 0.2 + sqrt(ln 3 / 1) = 1.2481, UCT(B) = 0.35 + sqrt(ln 3 / 2) = 1.0912 -> A;
    #      expand A; roll out AA: 0.9.
    (res,), env = run(MCTSConfig(iterations=4, k=2, c_uct=1.0))
    assert env.requests("propose") == [[[]], [["B\n"]], [["B\n", "BB\n"]], [["A\n"]]]
    assert env.requests("complete") == [[["A\n"]], [["B\n", "BA\n"]], [["B\n", "BB\n", "BBA\n"]], [["A\n", "AA\n"]]]
    expected = {
        "root": (4, 1.8 / 4),
        "A": (2, 1.1 / 2),
        "B": (2, 0.7 / 2),
        "BA": (1, 0.6),
        "BB": (1, 0.1),
        "BBA": (1, 0.1),
        "BBB": (0, 0.0),
        "AA": (1, 0.9),
        "AB": (0, 0.0),
    }
    got = nodes(res)
    assert set(got) == set(expected)
    for name, (n, v) in expected.items():
        assert got[name][0] == n, name
        assert got[name][1] == pytest.approx(v, abs=1e-12), name
    assert [n["parent"] for n in res.tree] == [-1, 0, 0, 2, 2, 4, 4, 1, 1]
    u = res.usage
    assert (u.policy_calls, u.qvm_calls, u.expansions) == (8, 0, 4)
    assert u.generated_tokens == 4 * 2 * 2 + 4 * 2  # 4 expansions x 2 candidates x 2 tokens, 4 rollouts


def test_hand_computed_values_without_exploration():
    # c_uct = 0: it3 picks B (0.6 > 0.2) then its unvisited BB; it4 picks B (0.35 > 0.2), then BA
    # (0.6 > 0.1), expands it and rolls out BAA: 0.5.
    (res,), env = run(MCTSConfig(iterations=4, k=2, c_uct=0.0))
    assert env.requests("propose")[3] == [["B\n", "BA\n"]]
    expected = {
        "root": (4, 1.4 / 4),
        "A": (1, 0.2),
        "B": (3, 1.2 / 3),
        "BA": (2, 1.1 / 2),
        "BB": (1, 0.1),
        "BAA": (1, 0.5),
        "BAB": (0, 0.0),
        "BBA": (1, 0.1),
        "BBB": (0, 0.0),
    }
    got = nodes(res)
    assert set(got) == set(expected)
    for name, (n, v) in expected.items():
        assert got[name] == (n, pytest.approx(v, abs=1e-12)), name


def test_answer_rules_differ_when_the_best_rollout_is_off_the_most_visited_path():
    # c_uct = 0. A: 0.9, BA: 0.95, BBA: 0.1, AA: 0.8, ABA: 0.7. After 5 iterations A has 3 visits and
    # B 2; most_visited goes A -> AA (AA and AB: 1 visit each, AA has the higher mean) and returns
    # the rollout through AA; best_value returns the 0.95 rollout through BA.
    conf = {"A": 0.9, "BA": 0.95, "BBA": 0.1, "AA": 0.8, "ABA": 0.7}
    (mv,), _ = run(MCTSConfig(iterations=5, k=2, c_uct=0.0), ToyEnv(conf))
    (bv,), _ = run(MCTSConfig(iterations=5, k=2, c_uct=0.0, answer="best_value"), ToyEnv(conf))
    assert nodes(mv)["A"][0] == 3 and nodes(mv)["B"][0] == 2
    assert mv.answer.steps == ["A\n", "AA\n", "rAA\n", "answer\n"]
    assert mv.answer.score == pytest.approx(0.8)
    assert [p.utility for p in mv.answer.path] == pytest.approx([(0.9 + 0.8 + 0.7) / 3, 0.8, 0.8, 0.8])
    assert bv.answer.steps == ["B\n", "BA\n", "rBA\n", "answer\n"] and bv.answer.score == pytest.approx(0.95)
    assert [p.f for p in bv.answer.path] == pytest.approx([(0.95 + 0.1) / 2, 0.95, 0.95, 0.95])
    assert len(mv.terminals) == 5 and all(t.finish == "eos" for t in mv.terminals)
    assert mv.answer in mv.terminals


def test_terminal_leaves_are_not_rolled_out_and_are_the_most_visited_answer():
    # A ends the solution (confidence 0.9): it is scored by its own confidence, never rolled out, and
    # re-selected with c_uct = 0 at iteration 3 without any policy call.
    env = ToyEnv({"BA": 0.2}, step_conf={"A": 0.9}, eos_steps={"A"})
    (res,), env = run(MCTSConfig(iterations=3, k=2, c_uct=0.0), env)
    assert env.requests("propose") == [[[]], [["B\n"]]]
    assert env.requests("complete") == [[["B\n", "BA\n"]]]
    got = nodes(res)
    assert got["A"] == (2, pytest.approx(0.9)) and got["root"] == (3, pytest.approx(2.0 / 3))
    assert res.answer.steps == ["A\n"] and res.answer.finish == "eos" and res.answer.score == pytest.approx(0.9)
    assert [t.steps for t in res.terminals] == [["A\n"], ["B\n", "BA\n", "rBA\n", "answer\n"]]
    assert res.usage.policy_calls == 3


def test_depth_limit_cuts_a_node_off_and_a_cut_off_solution_is_no_terminal():
    # max_depth 2: BA (depth 2) is terminal and scored by its own step confidence (0.3); it is a
    # solution cut off, not a finished one: it is not among the terminals and is not the answer
    env = ToyEnv(step_conf={"BA": 0.3})
    (res,), env = run(MCTSConfig(iterations=2, k=2, max_depth=2), env)
    assert env.count("complete") == 1
    assert nodes(res)["BA"] == (1, pytest.approx(0.3))
    assert next(n for n in res.tree if n["step"] == "BA\n")["terminal"] is True
    assert [t.steps for t in res.terminals] == [["A\n", "rA\n", "answer\n"]]
    assert res.answer.finish == "eos"


def test_the_most_visited_path_ending_cut_off_answers_with_a_finished_solution_above_it():
    # it1: root -> A; roll out A (0.2, finished). it2: expand A -> AA (depth 2: cut off), scored by
    # its own confidence 0.9. it3: root -> A -> AA again. The most visited path ends at AA, whose
    # solution was cut off; the answer climbs to A, whose best outcome is its finished rollout.
    env = ToyEnv({"A": 0.2}, step_conf={"AA": 0.9})
    (res,), env = run(MCTSConfig(iterations=3, k=1, max_depth=2), env)
    assert nodes(res)["AA"] == (2, pytest.approx(0.9))
    assert res.answer.steps == ["A\n", "rA\n", "answer\n"] and res.answer.finish == "eos"


def test_reflection_follows_a_finished_attempt():
    # Marco-o1 appends the reflection after a finished attempt: A ends the solution, so A gets the
    # reflection as its one child; the root gets none. it1: root -> A (finished, scored 0.5), B.
    # it2: B -> BA, BB; roll out BA (0.5). it3 (c_uct 0, tie -> lower index): A -> its reflection,
    # expanded from the state [A, reflection]; its first child is rolled out.
    env = ToyEnv(eos_steps={"A"})
    (res,), env = run(MCTSConfig(iterations=3, k=2, c_uct=0.0, reflection=True), env)
    root_kids = [n["step"] for n in res.tree if n["parent"] == 0]
    assert root_kids == ["A\n", "B\n"]
    a = next(n["id"] for n in res.tree if n["step"] == "A\n")
    assert [n["step"] for n in res.tree if n["parent"] == a] == [REFLECTION]
    assert env.requests("propose")[2] == [["A\n", REFLECTION]]
    assert ["A\n"] in [t.steps for t in res.terminals]
    # the reflection is injected text: 3 proposals of 2 x 2 tokens and 2 rollouts of 2 tokens, nothing else
    assert res.usage.generated_tokens == 3 * 2 * 2 + 2 * 2


def test_no_reflection_where_it_would_be_cut_off_at_once():
    env = ToyEnv(eos_steps={"A"})
    (res,), env = run(MCTSConfig(iterations=2, k=1, reflection=True, max_depth=2), env)
    assert all(n["step"] != REFLECTION for n in res.tree)


def test_batching_one_question_and_twenty_issue_the_same_calls():
    cfg = MCTSConfig(iterations=6, k=3)
    one, env1 = run(cfg, ToyEnv())
    many, env20 = run(cfg, ToyEnv(), [Question(f"q{i}", "toy?", "P:") for i in range(20)])
    assert [(c[0], len(c[1])) for c in env1.calls] == [(c[0], 1) for c in env20.calls]
    assert all(len(c[1]) == 20 for c in env20.calls)
    assert env1.count("propose") == env1.count("complete") == 6
    assert all(r.usage == one[0].usage for r in many)
    assert all(r.tree == one[0].tree for r in many)


def test_mixed_questions_still_take_one_call_per_kind_per_iteration():
    # the toy policy is the same for all questions, so vary them by configuration instead: trees
    # with a terminal first child skip rollouts, but calls stay batched
    env = ToyEnv(eos_steps={"A"})
    res, env = run(MCTSConfig(iterations=5, k=2), env, [Question(f"q{i}", "toy?", "P:") for i in range(7)])
    assert env.count("propose") <= 5 and env.count("complete") <= 5
    assert len(res) == 7 and [r.question_id for r in res] == [f"q{i}" for i in range(7)]


def test_deterministic():
    cfg = MCTSConfig(iterations=10, k=3, reflection=True)
    first, _ = run(cfg)
    second, _ = run(cfg)
    for a, b in zip(first, second):
        a.wall_seconds = b.wall_seconds = 0.0
    assert first == second


def test_qvm_reward_uses_one_q_values_call_per_iteration():
    env = ToyEnv(q={"answer\n": 0.25})
    (res,), env = run(MCTSConfig(iterations=4, k=2, reward="qvm"), env)
    assert env.count("q_values") == 4
    assert all(c[2] is False for c in env.calls if c[0] in ("propose", "complete"))
    # the first rollout: (question, steps before the last, last step) of A + "rA\n" + "answer\n"
    assert env.requests("q_values")[0] == [(["A\n", "rA\n"], "answer\n")]
    assert nodes(res)["root"] == (4, pytest.approx(0.25))
    assert res.usage.qvm_calls == 4 and res.usage.scored == 4


def test_qvm_reward_for_20_questions_is_still_one_call():
    env = ToyEnv()
    _res, env = run(
        MCTSConfig(iterations=3, k=2, reward="qvm"), env, [Question(f"q{i}", "toy?", "P:") for i in range(20)]
    )
    assert env.count("q_values") == 3 and all(len(r) == 20 for r in env.requests("q_values"))


def test_tree_is_optional():
    (res,) = search([Q], ToyEnv(), MCTSConfig(iterations=2, k=2))
    assert res.tree is None
    assert search([], ToyEnv(), MCTSConfig()) == []
    (empty,), _ = run(MCTSConfig(iterations=0))
    assert empty.answer is None and empty.terminals == []
