"""The step tree of one question: every (s_t, a_t) pair on the collected trajectories, merged.

Trajectories that share their first steps share nodes, so each distinct (state, action) pair is
labelled once. A node is the action a_t taken in state s_t; the path from the root to the node is
a_1..a_t, i.e. the node also stands for the next state s_{t+1}. `endings` keeps, for every
collected trajectory through the node, how many steps it still took after this one and the
reward it ended with, which the rollout label reuses (the trajectory's own ending counts as one
of the rollouts). No torch and no backend here: labelers are tested on hand-built trees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Node:
    index: int
    parent: int  # -1 for a first step
    step: str
    depth: int  # t: how many steps come before this one
    terminal: bool = False  # every trajectory through it ends with this step
    reward: float = 0.0  # R at the end, when terminal
    endings: list[tuple[int, float]] = field(default_factory=list)  # (steps after this one, final R)
    # the policy's mean token log-probability of the step (a baseline a QVM must beat); None: not recorded
    mean_logprob: float | None = None


def build_tree(trajectories: list[dict]) -> list[Node]:
    """Merge trajectories (each a dict with `steps` [{text}] and `reward`) into a node list."""
    nodes: list[Node] = []
    children: dict[tuple[int, str], int] = {}
    for traj in trajectories:
        steps = [s["text"] for s in traj["steps"]]
        parent = -1
        for t, text in enumerate(steps):
            key = (parent, text)
            if key not in children:
                children[key] = len(nodes)
                nodes.append(
                    Node(
                        index=len(nodes),
                        parent=parent,
                        step=text,
                        depth=t,
                        mean_logprob=_mean_logprob(traj["steps"][t]),
                    )
                )
            node = nodes[children[key]]
            node.endings.append((len(steps) - t - 1, float(traj["reward"])))
            parent = node.index
    # A node is terminal when every trajectory through it ends there. A step that ends one
    # solution but is continued in another is not: its next state is still open.
    has_child = {parent for parent, _ in children}
    for node in nodes:
        if node.index not in has_child:
            node.terminal = True
            node.reward = node.endings[0][1]
    return nodes


def _mean_logprob(step: dict) -> float | None:
    logprob, tokens = step.get("logprob"), step.get("tokens")
    return logprob / tokens if logprob is not None and tokens else None


def path(nodes: list[Node], index: int) -> list[str]:
    """The steps a_1..a_t of a node (its own step last)."""
    steps = []
    while index >= 0:
        steps.append(nodes[index].step)
        index = nodes[index].parent
    return steps[::-1]


def prefix(nodes: list[Node], index: int) -> list[str]:
    """The steps before a node's own step (the state s_t it was taken in)."""
    return path(nodes, index)[:-1]


def tree_to_records(nodes: list[Node], labels: list[dict]) -> list[dict]:
    """Serialise nodes with their labels (one dict per node) for a qlabels record."""
    return [
        {
            "parent": n.parent,
            "step": n.step,
            "depth": n.depth,
            "terminal": n.terminal,
            "mean_logprob": n.mean_logprob,
            **lab,
        }
        for n, lab in zip(nodes, labels)
    ]


def open_states(records: list[dict], prompt_for: Callable[[dict], str] | None = None):
    """(trees, requests, owners) of a batch of collect-rollouts records: every non-terminal node's
    next state s_{t+1} as a search request (the question, with its prompt: `prompt_for(record)` or
    the recorded one; and the node's path a_1..a_t), and its (question, node) owner, in order."""
    from qstar_cli.search.base import Question

    prompt_for = prompt_for or (lambda rec: rec["prompt"])
    trees = [build_tree(rec["trajectories"]) for rec in records]
    requests, owners = [], []
    for qi, (rec, nodes) in enumerate(zip(records, trees)):
        question = Question(rec["id"], rec["question"], prompt_for(rec))
        for node in nodes:
            if not node.terminal:
                requests.append((question, path(nodes, node.index)))
                owners.append((qi, node.index))
    return trees, requests, owners
