"""Q-label formulas on a hand-built step tree, with hand-computed targets."""

import pytest

from qstar_cli.labelers.continuation import label_batch
from qstar_cli.labelers.fqi import targets
from qstar_cli.labelers.tree import build_tree, path, prefix
from qstar_cli.steps import StepFormat
from tests.fakes import ScriptedBackend

LINE = StepFormat.parse("line")


def traj(steps, reward):
    return {"steps": [{"text": s} for s in steps], "reward": reward}


# Three trajectories of one question; C ends right, D and E wrong.
#   A ─ B ─ C (R=1)
#   │    └─ D (R=0)
#   └─ E (R=0)
TRAJS = [traj(["A\n", "B\n", "C right"], 1.0), traj(["A\n", "B\n", "D wrong"], 0.0), traj(["A\n", "E wrong"], 0.0)]
RECORD = {"id": "q1", "dataset": "toy", "split": "test", "question": "toy?", "reference": "1", "prompt": "P:",
          "step_format": "line", "trajectories": TRAJS}


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
    backend = ScriptedBackend(script)
    rec, = label_batch([RECORD], backend, grade, LINE, n=n, temperature=0.9, max_tokens=64, gamma=gamma,
                       include_own=include_own, method=method)
    return rec, backend


def test_rollout_labels_gamma_1():
    rec, backend = labels(1.0)
    nodes = rec["nodes"]
    # A: continuations {0, 1} + own endings {1, 0, 0} -> max 1, mean 2/5
    assert nodes[0]["y"] == 1.0 and nodes[0]["soft"] == pytest.approx(0.4) and nodes[0]["n"] == 5
    assert nodes[0]["n_correct"] == 2
    # B: continuations {0, 0} + own endings {1, 0} -> max 1, mean 1/4
    assert nodes[1]["y"] == 1.0 and nodes[1]["soft"] == pytest.approx(0.25)
    assert [n["y"] for n in nodes[2:]] == [1.0, 0.0, 0.0]  # terminals: their own reward
    # one backend call for both non-terminal states, M samples each
    assert len(backend.seen) == 1 and backend.seen[0][0] == ["P:A\n", "P:A\nB\n"] and backend.seen[0][1].n == 2


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
    rec, backend = labels(1.0, include_own=False, n=1, script=strong, method="completion")
    assert [n["y"] for n in rec["nodes"]] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert rec["method"] == "completion" and backend.seen[0][1].n == 1
    # best of M: one right completion among two is enough
    rec2, _ = labels(1.0, include_own=False, n=2, script={"P:A\n": ["wrong\n", "right\n"], "P:A\nB\n": ["no\n"]})
    assert rec2["nodes"][0]["y"] == 1.0 and rec2["nodes"][0]["soft"] == 0.5


def test_fqi_targets_over_two_iterations_with_a_scripted_q():
    candidates = {"q1": [[{"step": "a1"}, {"step": "a2"}], [{"step": "b1"}, {"step": "b2"}, {"step": "b3"}], [], [], []]}
    y1 = targets([RECORD], candidates, None, gamma=0.9)  # Q_0 = 0
    assert y1 == [[0.0, 0.0, 1.0, 0.0, 0.0]]
    q1 = {"q1": [[0.2, 0.7], [0.4, 0.1, 0.3], [], [], []]}  # a scripted Q_1 on the candidates
    y2 = targets([RECORD], candidates, q1, gamma=0.9)
    assert y2[0] == pytest.approx([0.63, 0.36, 1.0, 0.0, 0.0])
