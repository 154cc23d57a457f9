"""A* over reasoning steps (Algorithm 1 of the Q* paper), batched across questions.

f(s) = g(s) + lambda * h(s). g aggregates the process utilities R_P of the steps so far (min, max,
sum or last; 0 with no utility). h(child) = Q(parent, action) from one batched QVM pass over all
children ("qvalue"); "lookahead" instead samples K actions at each child and takes the max Q
(the paper's h(s_t) = max_a Q(s_t, a), at K^2 the policy and QVM cost); "zero" is uniform-cost
search. Each round every unfinished question pops its best open node (terminals popped on the way
are recorded), and all expansions go to the policy in ONE call and all children to the QVM in ONE
call. A question stops after N terminals or `budget` expansions; its answer is the terminal with
the highest f (or an f-weighted vote over the terminals' answers). Ties in f go to the node
pushed first, so runs are deterministic. A question whose budget ends without any terminal gets
its best open node completed greedily (one more batched call, counted), unless fallback is "none".
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field

from qstar_cli.search.base import (Candidate, PathStep, Question, SearchEnv, SearchResult, Terminal, Usage,
                                   charge)

AGGREGATES = {
    "min": min,
    "max": max,
    "sum": sum,
    "last": lambda xs: xs[-1],
}


@dataclass
class AStarConfig:
    k: int = 6  # candidate next steps per expansion
    lam: float = 1.0  # lambda: weight of h
    n_terminals: int = 6  # stop after this many terminals (paper: 6)
    budget: int = 64  # expansions per question
    temperature: float = 0.9
    agg: str = "min"  # how g aggregates the step utilities: min | max | sum | last
    heuristic: str = "qvalue"  # qvalue | lookahead | zero
    answer: str = "best_f"  # best_f | vote
    max_depth: int = 32  # steps; a node this deep is terminal
    max_tokens: int = 512  # generated tokens of a solution; reaching it makes a node terminal
    fallback: str = "complete"  # complete | none: what a question with no terminal gets
    use_utility: bool = False  # ask the env for R_P (set when a PRM / confidence / rule is configured)


@dataclass
class Node:
    index: int
    parent: int
    steps: tuple[str, ...]
    utilities: tuple[float, ...]
    g: float
    h: float
    f: float
    tokens: int
    terminal: bool
    finish: str = "stop"
    expanded: bool = False

    def path(self, nodes: list[Node]) -> list[PathStep]:
        chain, i = [], self.index
        while i > 0:
            n = nodes[i]
            new = n.steps[len(nodes[n.parent].steps):]  # one step, or several from a fallback completion
            for text in reversed(new):
                chain.append(PathStep(text, g=n.g, h=n.h, f=n.f, utility=n.utilities[-1] if n.utilities else 0.0))
            i = n.parent
        return chain[::-1]


@dataclass
class _State:
    """The search state of one question."""

    question: Question
    nodes: list[Node] = field(default_factory=list)
    open: list[tuple[float, int, int]] = field(default_factory=list)  # (-f, push order, node index)
    seen: set[str] = field(default_factory=set)
    terminals: list[Node] = field(default_factory=list)
    expansions: int = 0
    done: bool = False
    started: float = 0.0
    finished: float = 0.0


def search(questions: list[Question], env: SearchEnv, cfg: AStarConfig, trees: bool = False) -> list[SearchResult]:
    agg = AGGREGATES[cfg.agg]
    order = itertools.count()
    now = time.perf_counter()
    states = [_State(q, started=now) for q in questions]
    usages = [Usage() for _ in questions]
    for st in states:
        st.nodes.append(Node(0, -1, (), (), 0.0, 0.0, 0.0, 0, False))
        heapq.heappush(st.open, (0.0, next(order), 0))
        st.seen.add("")

    while True:
        frontier: list[tuple[int, Node]] = []
        for qi, st in enumerate(states):
            if st.done:
                continue
            node = _pop_expandable(st, cfg)
            if node is None:
                st.done, st.finished = True, time.perf_counter()
            else:
                frontier.append((qi, node))
        if not frontier:
            break
        requests = [(states[qi].question, list(node.steps)) for qi, node in frontier]
        owners = [qi for qi, _ in frontier]
        proposals = env.propose(requests, cfg.k, cfg.temperature, logprobs=cfg.use_utility)
        charge(usages, owners, "policy_calls")
        charge(usages, owners, "expansions", [1] * len(owners))
        children: list[tuple[int, Node, Candidate]] = []
        for (qi, parent), cands in zip(frontier, proposals):
            parent.expanded = True
            states[qi].expansions += 1
            usages[qi].generated_tokens += sum(c.tokens for c in cands)
            for cand in cands:
                key = "".join(parent.steps) + cand.text
                if key in states[qi].seen or not cand.text:
                    continue  # the same state reached again: keep the first, cheaper-or-equal path
                states[qi].seen.add(key)
                children.append((qi, parent, cand))
        hs = _heuristic(env, states, children, cfg, usages)
        us = _utilities(env, states, children, cfg, usages)
        for (qi, parent, cand), h, u in zip(children, hs, us):
            st = states[qi]
            utilities = parent.utilities + (u,)
            g = agg(list(utilities)) if cfg.use_utility else 0.0
            tokens = parent.tokens + cand.tokens
            terminal = cand.finish == "eos" or tokens >= cfg.max_tokens or len(parent.steps) + 1 >= cfg.max_depth
            child = Node(len(st.nodes), parent.index, parent.steps + (cand.text,), utilities, g, h, g + cfg.lam * h,
                         tokens, terminal, cand.finish)
            st.nodes.append(child)
            heapq.heappush(st.open, (-child.f, next(order), child.index))

    _fallback(env, states, cfg, usages)
    results = []
    for st, usage in zip(states, usages):
        terminals = [Terminal(list(n.steps), n.f, n.path(st.nodes), n.finish, n.index) for n in st.terminals]
        answer = _choose(env, st.question, terminals, cfg.answer)
        tree = [_tree_row(n, st.nodes) for n in st.nodes] if trees else None
        results.append(SearchResult(st.question.id, answer, terminals, usage, st.finished - st.started, tree))
    return results


def _pop_expandable(st: _State, cfg: AStarConfig) -> Node | None:
    """Pop until a node to expand; terminals popped on the way are solutions. None: question done."""
    while st.open:
        if len(st.terminals) >= cfg.n_terminals:
            return None
        _, _, index = heapq.heappop(st.open)
        node = st.nodes[index]
        if node.terminal:
            st.terminals.append(node)
            continue
        if st.expansions >= cfg.budget:
            heapq.heappush(st.open, (-node.f, -1, index))  # keep it for the fallback
            return None
        return node
    return None


def _heuristic(env: SearchEnv, states, children, cfg: AStarConfig, usages) -> list[float]:
    if not children or cfg.heuristic == "zero":
        return [0.0] * len(children)
    owners = [qi for qi, _, _ in children]
    qs = env.q_values([(states[qi].question, list(parent.steps), cand.text) for qi, parent, cand in children])
    charge(usages, owners, "qvm_calls")
    charge(usages, owners, "scored", [1] * len(owners))
    if cfg.heuristic != "lookahead":
        return qs
    # h(child) = max over K sampled actions a' at the child of Q(child, a'): K^2 calls' worth
    inner = [(i, qi, parent.steps + (cand.text,)) for i, (qi, parent, cand) in enumerate(children)
             if cand.finish != "eos"]
    if not inner:
        return qs
    looks = env.propose([(states[qi].question, list(steps)) for _, qi, steps in inner], cfg.k, cfg.temperature)
    charge(usages, [qi for _, qi, _ in inner], "policy_calls")
    pairs = [(j, qi, steps, c) for j, (_, qi, steps) in enumerate(inner) for c in looks[j]]
    for (_, qi, _), cands in zip(inner, looks):
        usages[qi].generated_tokens += sum(c.tokens for c in cands)
    scores = env.q_values([(states[qi].question, list(steps), c.text) for _, qi, steps, c in pairs])
    charge(usages, [qi for _, qi, _, _ in pairs], "qvm_calls")
    charge(usages, [qi for _, qi, _, _ in pairs], "scored", [1] * len(pairs))
    best: dict[int, float] = {}
    for (j, _, _, _), s in zip(pairs, scores):
        best[j] = max(best.get(j, 0.0), s)
    out = list(qs)
    for j, (i, _, _) in enumerate(inner):
        if j in best:
            out[i] = best[j]
    return out


def _utilities(env: SearchEnv, states, children, cfg: AStarConfig, usages) -> list[float]:
    if not children or not cfg.use_utility:
        return [0.0] * len(children)
    owners = [qi for qi, _, _ in children]
    us = env.process_utility([(states[qi].question, list(parent.steps), cand) for qi, parent, cand in children])
    charge(usages, owners, "prm_calls")
    return us


def _fallback(env: SearchEnv, states: list[_State], cfg: AStarConfig, usages) -> None:
    """Questions without any terminal: complete their best open node greedily."""
    if cfg.fallback == "none":
        return
    needy = [(qi, st) for qi, st in enumerate(states) if not st.terminals and st.open]
    if not needy:
        return
    best = [(qi, st, st.nodes[min(st.open)[2]]) for qi, st in needy]
    outs = env.complete([(st.question, list(node.steps)) for _, st, node in best], 1, 0.0)
    charge(usages, [qi for qi, _, _ in best], "policy_calls")
    for (qi, st, node), cands in zip(best, outs):
        cand = cands[0]
        usages[qi].generated_tokens += cand.tokens
        steps = node.steps + tuple(env.split_steps(cand.text, cand.tokens))
        done = Node(len(st.nodes), node.index, steps, node.utilities, node.g, node.h, node.f,
                    node.tokens + cand.tokens, True, cand.finish)
        st.nodes.append(done)
        st.terminals.append(done)
        st.finished = time.perf_counter()


def _choose(env: SearchEnv, question: Question, terminals: list[Terminal], how: str) -> Terminal | None:
    if not terminals:
        return None
    if how == "vote":
        totals: dict[str | None, float] = {}
        for t in terminals:
            key = env.extract_answer(question, t.text)
            totals[key] = totals.get(key, 0.0) + t.score
        winner = max((k for k in totals if k is not None), key=lambda k: totals[k], default=None)
        pool = [t for t in terminals if env.extract_answer(question, t.text) == winner] or terminals
        return max(pool, key=lambda t: t.score)
    return max(terminals, key=lambda t: t.score)  # max keeps the first of equal scores


def _tree_row(n: Node, nodes: list[Node]) -> dict:
    # a fallback completion adds several steps at once: the node's text is all of them
    new = n.steps[len(nodes[n.parent].steps):] if n.parent >= 0 else ()
    return {"id": n.index, "parent": n.parent, "step": "".join(new), "g": n.g, "h": n.h,
            "f": n.f, "terminal": n.terminal, "expanded": n.expanded}
