"""Q-label formulas on a hand-built step tree, with hand-computed targets."""

import pytest

from qstar_cli.errors import QstarError
from qstar_cli.labelers.continuation import check_reuse, label_batch, relabel
from qstar_cli.labelers.fqi import score_candidates, targets
from qstar_cli.labelers.tree import build_tree, path, prefix
from qstar_cli.steps import StepFormat
from tests.toy_env import ScriptedEnv

LINE = StepFormat.parse("line")


def traj(steps, reward):
    return {"steps": [{"text": s} for s in steps], "reward": reward}


# Three trajectories of one question; C ends right, D and E wrong.
#   A ─ B ─ C (R=1)
#   │    └─ D (R=0)
#   └─ E (R=0)
TRAJS = [traj(["A\n", "B\n", "C right"], 1.0), traj(["A\n", "B\n", "D wrong"], 0.0), traj(["A\n", "E wrong"], 0.0)]
RECORD = {
    "id": "q1",
    "dataset": "toy",
    "split": "test",
    "question": "toy?",
    "reference": "1",
    "prompt": "P:",
    "step_format": "line",
    "trajectories": TRAJS,
}


def grade(record, text):
    return 1.0 if text.strip().splitlines()[-1].endswith("right") else 0.0


def test_tree_merges_identical_prefixes():
    nodes = build_tree(TRAJS)
    assert [n.step for n in nodes] == ["A\n", "B\n", "C right", "D wrong", "E wrong"]
    assert [n.parent for n in nodes] == [-1, 0, 1, 1, 0]
    assert [n.terminal for n in nodes] == [False, False, True, True, True]
    assert nodes[0].endings == [(2, 1.0), (2, 0.0), (1, 0.0)]
    assert path(nodes, 3) == ["A\n", "B\n", "D wrong"] and prefix(nodes, 3) == ["A\n", "B\n"]


def test_a_step_that_ends_one_solution_but_continues_another_is_not_terminal():
    nodes = build_tree([traj(["A\n", "B"], 1.0), traj(["A\n", "B", "C"], 0.0)])
    assert [n.terminal for n in nodes] == [False, False, True]


SCRIPT = {
    "P:A\n": ["x\ny\nwrong\n", "right\n"],  # 3 steps R=0, 1 step R=1
    "P:A\nB\n": ["p\nwrong\n", "wrong\n"],  # 2 steps R=0, 1 step R=0
}


def labels(gamma, include_own=True, n=2, script=SCRIPT, method="rollout"):
    env = ScriptedEnv(script)
    (rec,) = label_batch(
        [RECORD], env, grade, LINE, n=n, temperature=0.9, gamma=gamma, include_own=include_own, method=method
    )
    return rec, env


def test_rollout_labels_gamma_1():
    rec, env = labels(1.0)
    nodes = rec["nodes"]
    # A: continuations {0, 1} + own endings {1, 0, 0} -> max 1, mean 2/5
    assert nodes[0]["y"] == 1.0 and nodes[0]["soft"] == pytest.approx(0.4) and nodes[0]["n"] == 5
    assert nodes[0]["n_correct"] == 2
    # B: continuations {0, 0} + own endings {1, 0} -> max 1, mean 1/4
    assert nodes[1]["y"] == 1.0 and nodes[1]["soft"] == pytest.approx(0.25)
    assert [n["y"] for n in nodes[2:]] == [1.0, 0.0, 0.0]  # terminals: their own reward
    # one policy call for both non-terminal states, M samples each
    assert env.calls == [("complete", ["P:A\n", "P:A\nB\n"], 2)]


def test_rollout_labels_gamma_below_1():
    rec, _ = labels(0.9)
    nodes = rec["nodes"]
    # A: continuation "right" after 1 step: 0.9; own ending T1 after 2 steps: 0.81
    assert nodes[0]["y"] == pytest.approx(0.9)
    assert nodes[0]["soft"] == pytest.approx((0.9 + 0.81) / 5)
    # B: own ending T1 after 1 step: 0.9
    assert nodes[1]["y"] == pytest.approx(0.9) and nodes[1]["soft"] == pytest.approx(0.9 / 4)
    assert nodes[2]["y"] == 1.0  # a terminal is not discounted


def test_completion_with_a_scripted_strong_policy():
    strong = {"P:A\n": ["right\n"], "P:A\nB\n": ["wrong\n"]}
    rec, env = labels(1.0, include_own=False, n=1, script=strong, method="completion")
    assert [n["y"] for n in rec["nodes"]] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert rec["method"] == "completion" and env.calls[0][2] == 1
    # best of M: one right completion among two is enough
    rec2, _ = labels(1.0, include_own=False, n=2, script={"P:A\n": ["wrong\n", "right\n"], "P:A\nB\n": ["no\n"]})
    assert rec2["nodes"][0]["y"] == 1.0 and rec2["nodes"][0]["soft"] == 0.5


def test_labels_record_their_continuations_in_order():
    rec, _ = labels(1.0)
    # SCRIPT: from A, "x y wrong" (3 steps, R=0) then "right" (1 step, R=1); from A B, two wrong
    assert rec["nodes"][0]["continuations"] == [[3, 0.0], [1, 1.0]]
    assert rec["nodes"][1]["continuations"] == [[2, 0.0], [1, 0.0]]


def test_relabel_with_fewer_continuations_uses_the_first_ones():
    rec, _ = labels(1.0)
    reused = {"q1": rec}
    (one,) = relabel([RECORD], reused, n=1, gamma=1.0, include_own=True, method="rollout")
    nodes = one["nodes"]
    # A: first continuation {0} + own endings {1, 0, 0} -> max 1, mean 1/4
    assert nodes[0]["y"] == 1.0 and nodes[0]["soft"] == pytest.approx(0.25) and nodes[0]["n"] == 4
    # B: {0} + own {1, 0} -> mean 1/3
    assert nodes[1]["soft"] == pytest.approx(1 / 3)
    assert [n["y"] for n in nodes[2:]] == [1.0, 0.0, 0.0]
    # completion over the first continuation only (no own endings): A's first continuation is wrong
    (comp,) = relabel([RECORD], reused, n=1, gamma=1.0, include_own=False, method="completion")
    assert [n["y"] for n in comp["nodes"][:2]] == [0.0, 0.0] and comp["method"] == "completion"
    # all M recorded continuations reproduce the original labels exactly, gamma included
    (again,) = relabel([RECORD], reused, n=2, gamma=1.0, include_own=True, method="rollout")
    assert again["nodes"] == rec["nodes"]
    rec9, _ = labels(0.9)
    (again9,) = relabel([RECORD], {"q1": rec9}, n=2, gamma=0.9, include_own=True, method="rollout")
    assert again9["nodes"] == rec9["nodes"]


def test_own_endings_only_label_each_node_by_the_trajectories_through_it():
    (rec,) = relabel([RECORD], {}, n=0, gamma=1.0, include_own=True, method="rollout")
    nodes = rec["nodes"]
    # A: own endings {1, 0, 0} -> max 1, mean 1/3; B: {1, 0} -> max 1, mean 1/2; terminals their reward
    assert nodes[0]["y"] == 1.0 and nodes[0]["soft"] == pytest.approx(1 / 3) and nodes[0]["n"] == 3
    assert nodes[1]["y"] == 1.0 and nodes[1]["soft"] == pytest.approx(0.5)
    assert [n["y"] for n in nodes[2:]] == [1.0, 0.0, 0.0]
    # gamma: A's right ending is 2 steps after A -> 0.81
    (rec9,) = relabel([RECORD], {}, n=0, gamma=0.9, include_own=True, method="rollout")
    assert rec9["nodes"][0]["y"] == pytest.approx(0.81)


def test_reuse_is_refused_for_other_rollouts_or_too_few_continuations():
    rec, _ = labels(1.0)
    with pytest.raises(QstarError, match="sampled 2 continuations per state; 4 asked"):
        check_reuse([RECORD], {"q1": rec}, 4, "old")
    with pytest.raises(QstarError, match="no labels for question 'q1'"):
        check_reuse([RECORD], {}, 1, "old")
    other = {**RECORD, "trajectories": [traj(["A\n", "Z wrong"], 0.0)]}
    with pytest.raises(QstarError, match="other steps"):
        check_reuse([other], {"q1": rec}, 1, "old")
    legacy = {**rec, "nodes": [{k: v for k, v in n.items() if k != "continuations"} for n in rec["nodes"]]}
    with pytest.raises(QstarError, match="did not record its continuations"):
        check_reuse([RECORD], {"q1": legacy}, 1, "old")
    check_reuse([RECORD], {"q1": rec}, 2, "old")  # enough: no error


def cand(step, terminal=False, reward=0.0):
    return {"step": step, "terminal": terminal, "reward": reward}


class FixedQVM:
    """Scores each action text from a table, and keeps every batch it was asked to score."""

    def __init__(self, q):
        self.q = q
        self.calls = []

    def score(self, items):
        self.calls.append(list(items))
        return [self.q[action] for _, _, action in items]


def test_fqi_a_finishing_candidate_is_worth_its_reward_under_q0():
    # A ─ B wrong (R=0); at s after A a candidate "right" ends the solution with R=1
    record = {**RECORD, "id": "q2", "trajectories": [traj(["A\n", "B wrong"], 0.0)]}
    candidates = {"q2": [[cand("x\n"), cand("right", True, 1.0)], []]}
    # A: 0.9 * max(Q_0 x = 0, R right = 1, R own B = 0) = 0.9; B: its own reward 0
    assert targets([record], candidates, None, gamma=0.9) == [[pytest.approx(0.9), 0.0]]


def test_fqi_a_terminal_correct_own_next_step_counts_without_candidates():
    # B's own next steps are C (R=1) and D (R=0); A's are B (open, Q_0 = 0) and E (R=0)
    no_candidates = {"q1": [[], [], [], [], []]}
    assert targets([RECORD], no_candidates, None, gamma=0.9) == [[0.0, pytest.approx(0.9), 1.0, 0.0, 0.0]]
    open_candidates = {"q1": [[cand("a1")], [cand("b1"), cand("b2")], [], [], []]}
    assert targets([RECORD], open_candidates, None, gamma=0.9) == [[0.0, pytest.approx(0.9), 1.0, 0.0, 0.0]]


def test_fqi_targets_over_two_iterations_with_a_fixed_qvm():
    candidates = {
        "q1": [
            [cand("a1"), cand("a2"), cand("a3 done", True, 0.0)],
            [cand("b1"), cand("b2 done", True, 1.0)],
            [],
            [],
            [],
        ]
    }
    y1 = targets([RECORD], candidates, None, gamma=0.9)  # Q_0 = 0
    # A: 0.9 * max(0, 0, R a3 = 0, Q_0 B = 0, R E = 0) = 0; B: 0.9 * max(0, R b2 = 1, R C = 1, R D = 0)
    assert y1 == [[0.0, pytest.approx(0.9), 1.0, 0.0, 0.0]]
    # the finishing actions have high scores that must not be used: their rewards count instead
    qvm = FixedQVM(
        {
            "a1": 0.2,
            "a2": 0.7,
            "a3 done": 0.95,
            "B\n": 0.8,
            "E wrong": 0.99,
            "b1": 0.4,
            "b2 done": 0.05,
            "C right": 0.01,
            "D wrong": 0.97,
        }
    )
    q1 = score_candidates(qvm, [RECORD], candidates)
    y2 = targets([RECORD], candidates, q1, gamma=0.9)
    # A: 0.9 * max(Q a1 0.2, Q a2 0.7, R a3 0, Q own B 0.8, R own E 0) = 0.72
    # B: 0.9 * max(Q b1 0.4, R b2 1, R own C 1, R own D 0) = 0.9
    assert y2[0] == pytest.approx([0.72, 0.9, 1.0, 0.0, 0.0])
    # one batch with the open actions only, each scored at s_{t+1} (the path through its node)
    assert qvm.calls == [
        [("toy?", ["A\n"], "a1"), ("toy?", ["A\n"], "a2"), ("toy?", ["A\n"], "B\n"), ("toy?", ["A\n", "B\n"], "b1")]
    ]


def test_fqi_never_scores_a_finishing_action():
    candidates = {"q1": [[cand("a3 done", True, 0.0)], [cand("b2 done", True, 1.0)], [], [], []]}
    qvm = FixedQVM({"B\n": 0.5})
    q1 = score_candidates(qvm, [RECORD], candidates)
    assert qvm.calls == [[("toy?", ["A\n"], "B\n")]]
    # A: 0.9 * max(R a3 0, Q own B 0.5, R own E 0) = 0.45; B: 0.9 * max(R b2 1, R C 1, R D 0) = 0.9
    assert targets([RECORD], candidates, q1, gamma=0.9)[0] == pytest.approx([0.45, 0.9, 1.0, 0.0, 0.0])


def test_fqi_candidates_at_every_open_state_with_only_eos_graded():
    # the open states of RECORD are after A and after A B; the policy proposes two steps at each
    from qstar_cli.labelers.fqi import candidate_records
    from qstar_cli.labelers.tree import open_states

    script = {"P:A\n": [("x\n", "stop"), ("right", "eos")], "P:A\nB\n": [("y", "length"), ("wrong", "eos")]}
    env = ScriptedEnv(script)
    trees, requests, owners = open_states([RECORD])
    assert [(q.id, steps) for q, steps in requests] == [("q1", ["A\n"]), ("q1", ["A\n", "B\n"])]
    assert owners == [(0, 0), (0, 1)]
    graded = []

    def counting_grade(record, text):
        graded.append(text)
        return grade(record, text)

    (rec,) = candidate_records([RECORD], trees, owners, env.propose(requests, 2, 0.9), counting_grade)
    assert rec["id"] == "q1" and rec["schema"].startswith("candidates")
    assert rec["nodes"] == [[cand("x\n"), cand("right", True, 1.0)], [cand("y"), cand("wrong", True, 0.0)], [], [], []]
    # a step cut at its token limit ("length") is not an ending: only the two EOS texts are graded
    assert graded == ["A\nright", "A\nB\nwrong"]


def test_the_next_batch_is_submitted_before_this_one_is_waited_for():
    from qstar_cli.labelers.continuation import label_batches

    other = {**RECORD, "id": "q2", "prompt": "Q:"}
    script = {**SCRIPT, "Q:A\n": ["right\n"], "Q:A\nB\n": ["wrong\n"]}
    env = ScriptedEnv(script)
    out = list(
        label_batches(
            [[RECORD], [other]], env, grade, LINE, n=1, temperature=0.9, gamma=1.0, include_own=False, method="rollout"
        )
    )
    assert [[r["id"] for r in batch] for batch in out] == [["q1"], ["q2"]]
    # the toy env runs what is queued when first waited on: both batches' states went in one call
    assert env.calls == [("complete", ["P:A\n", "P:A\nB\n", "Q:A\n", "Q:A\nB\n"], 1)]
    assert [n["y"] for n in out[1][0]["nodes"]][:2] == [1.0, 0.0]
