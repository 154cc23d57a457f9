"""The Q-label formulas of DESIGN.md §2, as pure functions of a step tree and sampled outcomes.

rollout: y(s_t, a_t) = max over the M continuations from s_{t+1} and the trajectories' own
endings of gamma^(steps after a_t) * R; the mean of the same values is the soft label
(Math-Shepherd). A terminal node's own reward is its label.
fqi:     y_l(s_t, a_t) = R(s_t, a_t) + gamma * max_a' Q_{l-1}(s_{t+1}, a'), and y = R at the end,
         where an a' that ends the solution is worth its known reward R(s_{t+1}, a') in the max.
completion: like rollout, over the stronger policy's completions only.
"""

from __future__ import annotations

from qstar_cli.labelers.tree import Node


def discounted(outcomes: list[tuple[int, float]], gamma: float) -> list[float]:
    """(steps after the action, final reward) -> gamma^steps * R."""
    return [gamma**k * r for k, r in outcomes]


def rollout_label(node: Node, continuations: list[tuple[int, float]], gamma: float, include_own: bool = True) -> dict:
    """Best-of-rollout label (and soft mean) of one node."""
    if node.terminal and not continuations:
        # the solution ended with this step: nothing to roll out, the label is its reward
        values = [node.reward]
    else:
        values = discounted(continuations + (node.endings if include_own else []), gamma)
    if not values:
        return {"y": 0.0, "soft": 0.0, "n": 0, "n_correct": 0}
    # the sampled continuations are kept, in order, so a later run can relabel the same states
    # with fewer of them (label.reuse) instead of sampling again
    return {
        "y": max(values),
        "soft": sum(values) / len(values),
        "n": len(values),
        "n_correct": sum(v > 0 for v in values),
        "continuations": [list(c) for c in continuations],
    }


def fqi_label(node: Node, next_values: list[float], gamma: float) -> float:
    """One fitted-Q-iteration target: R at the end, else gamma * the best value of a next action a'.

    `next_values` holds one value per a' at s_{t+1}: its reward R(s_{t+1}, a') when a' ends the
    solution, else Q_{l-1}(s_{t+1}, a'). A step before the end earns no reward of its own, and a
    node with no next action at all gets 0.
    """
    if node.terminal:
        return node.reward
    return gamma * max(next_values) if next_values else 0.0
