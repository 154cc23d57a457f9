"""Search trees for the tree view: A*, beam and MCTS trees on a toy graph, and eval's marking."""

from qstar_cli.search import astar, beam, mcts
from qstar_cli.search.base import Question
from qstar_cli.stages.eval_records import mark_tree
from tests.toy_env import GraphEnv

Q = Question("q", "toy", "P:")
EDGES = {
    (): [("a", 1.0, False), ("b", 0.5, False)],
    ("a",): [("d", 1.0, True), ("e", 3.0, True)],
    ("b",): [("f", 4.0, True)],
}
H = {("a",): 0.9, ("b",): 0.2, ("a", "d"): 0.8, ("a", "e"): 0.1, ("b", "f"): 0.3}


def check_tree(result):
    tree = result.tree
    assert [n["id"] for n in tree] == list(range(len(tree))) and tree[0]["parent"] == -1
    assert all(0 <= n["parent"] < n["id"] for n in tree[1:])
    for t in result.terminals:  # every terminal points at its own node, whose text ends the solution
        assert t.node is not None and t.text.endswith(tree[t.node]["step"])
    return tree


def test_astar_terminals_point_at_their_nodes():
    (result,) = astar.search([Q], GraphEnv(EDGES, H), astar.AStarConfig(k=6, n_terminals=2, budget=10), trees=True)
    tree = check_tree(result)
    assert result.answer.steps == ["a", "d"] and tree[result.answer.node]["step"] == "d"


def test_astar_fallback_node_holds_the_whole_completion():
    # budget 1: only the root is expanded; the best open node is completed greedily ("done")
    env = GraphEnv({(): [("a", 1.0, False)]}, {("a",): 0.5})
    (result,) = astar.search([Q], env, astar.AStarConfig(k=6, n_terminals=1, budget=1), trees=True)
    tree = check_tree(result)
    assert result.answer.steps == ["a", "done"] and tree[result.answer.node]["step"] == "done"


def test_beam_keeps_a_tree_only_when_asked():
    cfg = beam.BeamConfig(width=2, k=6, max_depth=4)
    (result,) = beam.search([Q], GraphEnv(EDGES, H), cfg, trees=True)
    tree = check_tree(result)
    assert [n["step"] for n in tree] == ["", "a", "b", "d", "e", "f"]
    assert [n["expanded"] for n in tree[:3]] == [True, True, True]
    assert tree[3]["terminal"] and tree[3]["h"] == tree[3]["f"] == 0.8 and tree[3]["g"] == 0.0
    assert result.answer.node == 3
    (plain,) = beam.search([Q], GraphEnv(EDGES, H), cfg)
    assert plain.tree is None and plain.answer.steps == result.answer.steps


def test_mcts_terminals_point_at_tree_nodes():
    cfg = mcts.MCTSConfig(iterations=6, k=6, reward="qvm", max_depth=4)
    (result,) = mcts.search([Q], GraphEnv(EDGES, H), cfg, trees=True)
    tree = result.tree
    assert all("expanded" in n and "visits" in n for n in tree)
    assert all(t.node is not None and 0 <= t.node < len(tree) for t in result.terminals)


def test_mark_tree_marks_terminals_and_the_chosen_path():
    (result,) = astar.search([Q], GraphEnv(EDGES, H), astar.AStarConfig(k=6, n_terminals=2, budget=10), trees=True)
    graded = [{"correct": t.steps == ["a", "d"]} for t in result.terminals]
    tree = mark_tree(result.tree, result.terminals, graded, result.answer)
    by_step = {n["step"]: n for n in tree}
    # d (f 0.8) and then f (0.3, after expanding b) are the two terminals popped; e never is
    assert by_step["d"]["correct"] is True and by_step["f"]["correct"] is False
    assert by_step["e"]["terminal"] and "correct" not in by_step["e"]
    assert [n["step"] for n in tree if n.get("chosen")] == ["", "a", "d"]
    assert "correct" not in by_step["a"] and "chosen" not in by_step["b"]
