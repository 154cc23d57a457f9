"""Fitted Q-iteration (offline RL) over the collected step trees: the pure parts of
`qstar label --method fqi` (fqi_run.py samples the candidates, runs the fits and writes the run).

1. Candidates: at every non-terminal s_{t+1} the policy proposes K next actions once (one
   batched call per batch of questions); they are saved in candidates.jsonl and reused by every
   iteration. A candidate that ends the solution is graded, so its reward is known.
2. For l = 1..L: y_l(s_t, a_t) = R + gamma * max_a' Q_{l-1}(s_{t+1}, a') (y = R at the end). The
   actions a' at s_{t+1} are the K candidates and the trajectories' own next steps (the node's
   children in the step tree). An a' that ends the solution is worth its reward R(s_{t+1}, a'),
   which is known, so it is never scored; every other a' is worth Q_{l-1}(s_{t+1}, a'). A fresh
   QVM Q_l is fitted on y_l with the train-q core, and it scores the open a' for the next round.
   Q_0 = 0, or `label.init_qvm`. Each iteration keeps its targets' statistics, its training
   metrics and its model in iter_<l>/; a finished iteration is not redone on resume.
The final targets y_L become the run's qlabels.jsonl, and iter_L/qvm is a QVM ready for search.
"""

from __future__ import annotations

from qstar_cli.artifacts import records as R
from qstar_cli.errors import QstarError
from qstar_cli.labelers.continuation import grade_all
from qstar_cli.labelers.targets import fqi_label
from qstar_cli.labelers.tree import Node, build_tree, path, tree_to_records

CANDIDATES = "candidates.jsonl"


def candidate_records(
    records: list[dict], trees: list[list[Node]], owners: list[tuple[int, int]], proposals: list[list], grade
) -> list[dict]:
    """One candidates record per question: for each node, the K next actions proposed at its next
    state (`proposals[i]`, the search env's candidates for `owners[i]` = (question, node), as
    `tree.open_states` lists them). Only EOS ends a solution ("length" is a step cut at its token
    limit): those are graded, in one call."""
    ends = [
        (records[qi], "".join(path(trees[qi], ni)) + c.text)
        for (qi, ni), cands in zip(owners, proposals)
        for c in cands
        if c.finish == "eos"
    ]
    rewards = iter(grade_all(grade, ends))
    per_node = {
        (qi, ni): [
            {"step": c.text, "terminal": c.finish == "eos", "reward": next(rewards) if c.finish == "eos" else 0.0}
            for c in cands
        ]
        for (qi, ni), cands in zip(owners, proposals, strict=True)
    }
    return [
        {
            "schema": R.schema_tag("candidates"),
            "id": rec["id"],
            "nodes": [per_node.get((qi, n.index), []) for n in nodes],
        }
        for qi, (rec, nodes) in enumerate(zip(records, trees))
    ]


def next_actions(nodes: list[Node], node_candidates: list[list[dict]]) -> list[list[dict]]:
    """Per node, the actions a' at its next state s_{t+1}, each {"step", "terminal", "reward"}: its
    sampled candidates, then the trajectories' own next steps (its children in the tree)."""
    actions = [list(c) for c in node_candidates]
    for child in nodes:
        if child.parent >= 0:
            actions[child.parent].append({"step": child.step, "terminal": child.terminal, "reward": child.reward})
    return actions


def targets(
    records: list[dict],
    candidates: dict[str, list[list[dict]]],
    scores: dict[str, list[list[float | None]]] | None,
    gamma: float,
) -> list[list[float]]:
    """y_l per node of every record, from `score_candidates`'s Q_{l-1} (None: Q_0 = 0).

    An a' that ends the solution is worth its reward, every other one its Q_{l-1}(s_{t+1}, a').
    """
    out = []
    for rec in records:
        nodes = build_tree(rec["trajectories"])
        ys = []
        for node, actions in zip(nodes, next_actions(nodes, candidates[rec["id"]])):
            q_next = scores[rec["id"]][node.index] if scores is not None else [0.0] * len(actions)
            values = [a["reward"] if a["terminal"] else q for a, q in zip(actions, q_next, strict=True)]
            ys.append(fqi_label(node, values, gamma))
        out.append(ys)
    return out


def score_candidates(
    qvm, records: list[dict], candidates: dict[str, list[list[dict]]]
) -> dict[str, list[list[float | None]]]:
    """Q_l(s_{t+1}, a') per node for each of its `next_actions`, in one batched scoring pass.

    An a' that ends the solution is not scored (None): its reward is its value.
    """
    items, owners = [], []
    scores = {}
    for rec in records:
        nodes = build_tree(rec["trajectories"])
        actions = next_actions(nodes, candidates[rec["id"]])
        scores[rec["id"]] = [[None] * len(a) for a in actions]
        for node in nodes:
            steps = path(nodes, node.index)
            for a_i, action in enumerate(actions[node.index]):
                if not action["terminal"]:
                    items.append((rec["question"], steps, action["step"]))
                    owners.append((rec["id"], node.index, a_i))
    flat = qvm.score(items)
    for (qid, ni, ai), s in zip(owners, flat, strict=True):
        scores[qid][ni][ai] = s
    return scores


def label_records(records: list[dict], ys: list[list[float]], gamma: float) -> list[dict]:
    """The qlabels records of `records` with targets `ys` (one per node, as `targets` gives them)."""
    labelled = []
    for rec, row in zip(records, ys):
        nodes = build_tree(rec["trajectories"])
        if len(row) != len(nodes):
            raise QstarError(f"internal: {len(row)} targets for {len(nodes)} nodes of {rec['id']}")
        labels = [{"y": y} for y in row]
        labelled.append(R.qlabel_record(source=rec, method="fqi", gamma=gamma, nodes=tree_to_records(nodes, labels)))
    return labelled


def target_stats(iteration: int, ys: list[list[float]]) -> dict:
    flat = [y for row in ys for y in row]
    return {
        "iteration": iteration,
        "labels": len(flat),
        "mean_y": sum(flat) / len(flat),
        "positive_rate": sum(y >= 0.5 for y in flat) / len(flat),
        "max_y": max(flat),
        "min_y": min(flat),
    }
