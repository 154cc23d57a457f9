"""A* over reasoning steps (Algorithm 1 of the Q* paper), batched across questions.

f(s) = g(s) + lambda * h(s). g aggregates the process utilities R_P of the steps so far (min, max,
sum or last; 0 with no utility). h(child) = Q(parent, action) from one batched QVM pass over all
children ("qvalue"); "lookahead" instead samples K actions at each child and takes the max Q
(the paper's h(s_t) = max_a Q(s_t, a), at K^2 the policy and QVM cost); "zero" is uniform-cost
search. Each question pops its best open node (terminals popped on the way are recorded), expands
it and scores its children; `driver.drive` batches these calls across questions (in lockstep
rounds of ONE policy call and ONE QVM call for all questions, or, on vLLM, continuously). A
proposal that is empty and ends the solution (the model's EOS right after a finished step) makes
its parent's state a terminal, with the parent's f. A question stops after N
terminals or `budget` expansions; terminals still in its open set then join its solutions (best f
first, up to N). Its answer (`answer`, `answers.choose`) is the finished terminal with the highest f
(terminals cut at the depth or token limit rank below every finished one, "best_f"), the majority
answer over its terminals ("vote"), or the answer whose terminals' f sum highest ("weighted"; an f
below zero adds nothing). Ties in f go to the node pushed first, so runs are deterministic. With
`parallel` P > 1 a question pops and expands its P best open nodes at once (fewer, fuller rounds; no longer exact
A*, since the second node is expanded before the first's children are scored). A question whose
budget ends without any terminal gets its best open node completed greedily (one more policy
call, counted), unless fallback is "none".
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.search.answers import AnswerChoice, choose_answer
from qstar_cli.search.base import Candidate, PathStep, Question, SearchEnv, SearchResult, Terminal, Usage
from qstar_cli.search.driver import Complete, Propose, QValues, Search, Utilities, run_each

AGGREGATES = {
    "min": min,
    "max": max,
    "sum": sum,
    "last": lambda xs: xs[-1],
}


@dataclass
class AStarConfig:
    k: int = field(default=6, metadata={"min": 1})  # candidate next steps per expansion (paper: 6)
    lam: float = field(default=1.0, metadata={"min": 0})  # lambda: weight of h
    n_terminals: int = field(default=6, metadata={"min": 1})  # stop after this many terminals (paper: 6)
    budget: int = field(default=64, metadata={"min": 1})  # expansions per question
    temperature: float = field(default=0.9, metadata={"min": 0})  # of the candidate steps
    utility: Literal["none", "confidence", "prm", "rule"] = "none"  # R_P: what g aggregates
    agg: Literal["min", "max", "sum", "last"] = "min"  # how g aggregates the step utilities
    heuristic: Literal["qvalue", "lookahead", "zero"] = "qvalue"
    # weighted sums f, the score A* ranks by, not h: with no process utility f = lambda h (the same
    # choice), and with one g's penalties count against an answer as they count in "best_f"
    answer: AnswerChoice = "best_f"
    max_depth: int = field(default=32, metadata={"min": 1})  # steps; a node this deep is terminal (cut off)
    # generated tokens of a solution; reaching it makes a node terminal (cut off)
    max_tokens: int = field(default=512, metadata={"key": "sampling.max_tokens", "min": 1})
    fallback: Literal["complete", "none"] = "complete"  # what a question with no terminal gets
    # open nodes each question expands at once, its best ones: 1 is exact A*; more keeps a small
    # batch's engine busier (bench_search.py) at the cost of expanding some nodes A* would not yet
    parallel: int = field(default=1, metadata={"min": 1})

    def problems(self, prm: str | None = None) -> list[str]:
        out = []
        if self.n_terminals > self.budget:
            out.append(
                f"--n-terminals {self.n_terminals} is more than the --budget of {self.budget} expansions; "
                f"raise the budget or lower N"
            )
        if self.utility == "prm" and not prm:
            out.append("--utility prm needs --prm MODEL")
        return out


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
            new = n.steps[len(nodes[n.parent].steps) :]  # one step, or several from a fallback completion
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
    order: itertools.count = field(default_factory=itertools.count)  # push order: ties in f go to the first


def search(questions: list[Question], env: SearchEnv, cfg: AStarConfig, trees: bool = False) -> list[SearchResult]:
    return run_each(search_one, questions, env, cfg, trees)


def search_one(env: SearchEnv, question: Question, cfg: AStarConfig, usage: Usage, trees: bool) -> Search:
    """The A* search of one question; `drive` batches its requests with the other questions'."""
    agg = AGGREGATES[cfg.agg]
    st = _State(question)
    _push(st, Node(0, -1, (), (), 0.0, 0.0, 0.0, 0, False))
    st.seen.add("")
    while parents := _pop_batch(st, cfg):
        proposals = yield Propose(
            [list(p.steps) for p in parents], cfg.k, cfg.temperature, logprobs=cfg.utility == "confidence"
        )
        usage.expansions += len(parents)
        children: list[tuple[Node, Candidate]] = []
        for parent, cands in zip(parents, proposals):
            parent.expanded = True
            usage.generated(cands)
            for cand in cands:
                key = "".join(parent.steps) + cand.text
                if not cand.text:
                    if cand.finish == "eos" and key + "\0eos" not in st.seen:  # ended with the parent's last step
                        st.seen.add(key + "\0eos")
                        _push(
                            st,
                            Node(
                                len(st.nodes),
                                parent.index,
                                parent.steps,
                                parent.utilities,
                                parent.g,
                                parent.h,
                                parent.f,
                                parent.tokens + cand.tokens,
                                True,
                                "eos",
                            ),
                        )
                    continue  # an empty step that does not end the solution repeats its parent's state
                if key in st.seen:
                    continue  # the same state reached again: keep the first, cheaper-or-equal path
                st.seen.add(key)
                children.append((parent, cand))
        hs = yield from _heuristic(children, cfg, usage)
        us = yield from _utilities(children, cfg)
        for (parent, cand), h, u in zip(children, hs, us):
            utilities = parent.utilities + (u,)
            g = agg(list(utilities)) if cfg.utility != "none" else 0.0
            tokens = parent.tokens + cand.tokens
            terminal = cand.finish == "eos" or tokens >= cfg.max_tokens or len(parent.steps) + 1 >= cfg.max_depth
            # a node cut at the depth or token limit keeps its proposal's finish (stop/length): not finished
            _push(
                st,
                Node(
                    len(st.nodes),
                    parent.index,
                    parent.steps + (cand.text,),
                    utilities,
                    g,
                    h,
                    g + cfg.lam * h,
                    tokens,
                    terminal,
                    cand.finish,
                ),
            )
    _harvest(st, cfg)
    if cfg.fallback == "complete" and not st.terminals and st.open:
        # no terminal: complete the best open node greedily (one more policy call, counted)
        node = st.nodes[min(st.open)[2]]
        [cands] = yield Complete([list(node.steps)], 1, 0.0)
        cand = cands[0]
        usage.generated(cands)
        steps = node.steps + tuple(env.split_steps(cand.text, cand.tokens))
        done = Node(
            len(st.nodes),
            node.index,
            steps,
            node.utilities,
            node.g,
            node.h,
            node.f,
            node.tokens + cand.tokens,
            True,
            cand.finish,
        )
        st.nodes.append(done)
        st.terminals.append(done)
    terminals = [Terminal(list(n.steps), n.f, n.path(st.nodes), n.finish, n.index) for n in st.terminals]
    answer = choose_answer(env, question, terminals, cfg.answer)
    tree = [_tree_row(n, st.nodes) for n in st.nodes] if trees else None
    return SearchResult(question.id, answer, terminals, usage, tree=tree)


def _push(st: _State, node: Node) -> None:
    st.nodes.append(node)
    heapq.heappush(st.open, (-node.f, next(st.order), node.index))


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


def _pop_batch(st: _State, cfg: AStarConfig) -> list[Node]:
    """The next `parallel` nodes to expand (one: exact A*), each counted against the budget."""
    batch = []
    while len(batch) < cfg.parallel and (node := _pop_expandable(st, cfg)) is not None:
        batch.append(node)
        st.expansions += 1
    return batch


def _harvest(st: _State, cfg: AStarConfig) -> None:
    """Terminals still in the open set join the solutions (best f first, up to N).

    The budget ended before they were popped: that says nothing against them, and dropping them
    would let a worse terminal popped earlier, or the greedy fallback, answer instead.
    """
    rest = []
    while st.open and len(st.terminals) < cfg.n_terminals:
        item = heapq.heappop(st.open)
        if st.nodes[item[2]].terminal:
            st.terminals.append(st.nodes[item[2]])
        else:
            rest.append(item)
    for item in rest:
        heapq.heappush(st.open, item)


def _heuristic(children: list[tuple[Node, Candidate]], cfg: AStarConfig, usage: Usage) -> Search:
    if not children or cfg.heuristic == "zero":
        return [0.0] * len(children)
    qs = yield QValues([(list(parent.steps), cand.text) for parent, cand in children])
    if cfg.heuristic != "lookahead":
        return qs
    # h(child) = max over K sampled actions a' at the child of Q(child, a'): K^2 calls' worth
    inner = [(i, list(parent.steps) + [cand.text]) for i, (parent, cand) in enumerate(children) if cand.finish != "eos"]
    if not inner:
        return qs
    looks = yield Propose([steps for _, steps in inner], cfg.k, cfg.temperature)
    for cands in looks:
        usage.generated(cands)
    pairs = [(i, steps, c.text) for (i, steps), cands in zip(inner, looks) for c in cands if c.text]
    if not pairs:
        return qs
    scores = yield QValues([(steps, text) for _, steps, text in pairs])
    best: dict[int, float] = {}
    for (i, _, _), s in zip(pairs, scores):
        best[i] = max(best.get(i, 0.0), s)
    return [best.get(i, q) for i, q in enumerate(qs)]


def _utilities(children: list[tuple[Node, Candidate]], cfg: AStarConfig) -> Search:
    if not children or cfg.utility == "none":
        return [0.0] * len(children)
    return (yield Utilities([(list(parent.steps), cand) for parent, cand in children], cfg.utility))


def _tree_row(n: Node, nodes: list[Node]) -> dict:
    # a fallback completion adds several steps at once: the node's text is all of them
    new = n.steps[len(nodes[n.parent].steps) :] if n.parent >= 0 else ()
    return {
        "id": n.index,
        "parent": n.parent,
        "step": "".join(new),
        "g": n.g,
        "h": n.h,
        "f": n.f,
        "terminal": n.terminal,
        "expanded": n.expanded,
    }
