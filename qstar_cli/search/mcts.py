"""Monte Carlo tree search over reasoning steps, as in Marco-o1, batched across questions.

Each iteration every question walks its tree from the root by UCT (unvisited children first, in
index order), expands the leaf it reaches into K proposed steps, rolls out the leaf's first new
child to the end of a solution, scores that rollout (mean token confidence, or the QVM on its last
step) and back-propagates the reward to the root. Questions move in lockstep so that one iteration
costs at most one `propose`, one `complete` and one `q_values` call however many questions there
are. The answer follows the most visited children from the root (or takes the best-scored
solution); a solution cut at the depth limit, like a rollout cut at the token limit, is never
preferred to a finished one. With `reflection`, as in Marco-o1, every finished attempt (a node
whose step ends the solution) gets one child, "Wait! Maybe I made some mistakes! I need to rethink
from scratch.", from which the search can continue; the walk to the answer moves past a finished
attempt into its reflection only when the reflection's mean value beats the attempt's own reward.
The reflection text is injected, not generated, so it is not counted as generated tokens.
Everything is deterministic given the environment; pure Python, no torch or vLLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.search.base import (Candidate, PathStep, Question, SearchEnv, SearchResult, Terminal,
                                   Usage, generated_tokens)
from qstar_cli.search.confidence import mean_confidence

REFLECTION = "Wait! Maybe I made some mistakes! I need to rethink from scratch.\n"


@dataclass
class MCTSConfig:
    iterations: int = field(default=16, metadata={"min": 1})  # simulations per question
    k: int = field(default=6, metadata={"min": 1})  # children per expansion
    c_uct: float = field(default=1.0, metadata={"min": 0})
    temperature: float = field(default=0.9, metadata={"min": 0})  # of the proposed steps
    # of the rollouts; None = the proposals' temperature
    rollout_temperature: float | None = field(default=None, metadata={"min": 0})
    reward: Literal["confidence", "qvm"] = field(default="confidence", metadata={"key": "mcts_reward"})
    reflection: bool = False
    answer: Literal["most_visited", "best_value"] = field(default="most_visited", metadata={"key": "mcts_answer"})
    max_depth: int = field(default=32, metadata={"min": 1})  # a node this deep is cut off (terminal, unfinished)


@dataclass
class _Node:
    parent: int
    step: str
    depth: int
    candidate: Candidate | None = None
    terminal: bool = False
    expanded: bool = False
    children: list[int] = field(default_factory=list)
    visits: int = 0
    total: float = 0.0
    best: int | None = None  # the best outcome recorded at or below this node

    @property
    def mean(self) -> float:
        return self.total / self.visits if self.visits else 0.0


@dataclass
class _Outcome:
    """A solution the search reached: a terminal node's own path, or a rollout from a node."""

    node: int
    extra: list[str]  # the rollout's steps after the node's path (empty for a terminal node)
    reward: float
    finish: str
    kept: bool  # finished solutions (the model ended them): the result's terminals

    def rank(self) -> tuple[bool, float]:
        # a finished solution beats a truncated one whatever their rewards: only it has an answer
        return (self.kept, self.reward)


class _Tree:
    """One question's search tree, its recorded outcomes and the compute it has used."""

    def __init__(self, question: Question):
        self.q = question
        self.nodes = [_Node(parent=-1, step="", depth=0)]
        self.outcomes: list[_Outcome] = []
        self.node_outcome: dict[int, int] = {}  # terminal node -> its outcome, evaluated once
        self.usage = Usage()

    def chain(self, i: int) -> list[int]:
        """Node ids from the root's child down to node i (the root holds no step)."""
        ids = []
        while i > 0:
            ids.append(i)
            i = self.nodes[i].parent
        return ids[::-1]

    def steps(self, i: int) -> list[str]:
        return [self.nodes[j].step for j in self.chain(i)]

    def select(self, c_uct: float) -> int:
        i = 0
        while self.nodes[i].children:
            kids = self.nodes[i].children
            fresh = [c for c in kids if self.nodes[c].visits == 0]
            if fresh:
                return fresh[0]  # never visited, hence never expanded: a leaf
            log_n = math.log(self.nodes[i].visits)

            def uct(c: int) -> tuple[float, int]:
                n = self.nodes[c]
                return (n.mean + c_uct * math.sqrt(log_n / n.visits), -c)  # ties: lower index

            i = max(kids, key=uct)
        return i

    def add(self, parent: int, cand: Candidate, cfg: MCTSConfig) -> int:
        depth = self.nodes[parent].depth + 1
        self.nodes.append(_Node(parent=parent, step=cand.text, depth=depth, candidate=cand,
                                terminal=cand.finish == "eos" or depth >= cfg.max_depth))
        self.nodes[parent].children.append(len(self.nodes) - 1)
        return len(self.nodes) - 1

    def expand(self, i: int, cands: list[Candidate], cfg: MCTSConfig) -> None:
        self.nodes[i].expanded = True
        self.usage.expansions += 1
        self.usage.generated_tokens += generated_tokens(cands)
        # an empty step that does not end the solution would repeat its parent's state
        for cand in [c for c in cands if c.text or c.finish == "eos"]:
            j = self.add(i, cand, cfg)
            if cfg.reflection and cand.finish == "eos" and self.nodes[j].depth + 1 < cfg.max_depth:
                # Marco-o1 reflects after a finished attempt: the attempt stays a solution, and the
                # search may go on from it, rethinking (injected text: no tokens generated)
                self.add(j, Candidate(REFLECTION, 0, "stop"), cfg)

    def record(self, outcome: _Outcome) -> int:
        self.outcomes.append(outcome)
        idx = len(self.outcomes) - 1
        for j in [0] + self.chain(outcome.node):
            node = self.nodes[j]
            if node.best is None or outcome.rank() > self.outcomes[node.best].rank():
                node.best = idx
        return idx

    def backprop(self, i: int, reward: float) -> None:
        for j in [0] + self.chain(i):
            self.nodes[j].visits += 1
            self.nodes[j].total += reward

    def answer(self, how: str) -> int | None:
        """The chosen outcome's index (None when nothing was reached)."""
        if how == "best_value":
            return self.nodes[0].best
        i = 0
        while self.nodes[i].children:
            node = self.nodes[i]
            if node.terminal and i in self.node_outcome:
                # a finished attempt with a reflection below: go on only if rethinking did better
                rethink = self.nodes[node.children[0]]
                if not (rethink.visits and rethink.mean > self.outcomes[self.node_outcome[i]].reward):
                    break
            i = max(node.children, key=lambda c: (self.nodes[c].visits, self.nodes[c].mean, -c))
        chosen = self.node_outcome.get(i, self.nodes[i].best) if self.nodes[i].terminal else self.nodes[i].best
        # a cut-off solution only when no ancestor on the path has a finished one below it
        while chosen is not None and not self.outcomes[chosen].kept and i > 0:
            i = self.nodes[i].parent
            chosen = self.nodes[i].best
        return chosen

    def terminal(self, o: _Outcome) -> Terminal:
        # values are read at the end, so each step carries its node's final mean value; rollout
        # steps below the tree have no node and carry the rollout's own reward
        path = [PathStep(self.nodes[j].step, f=self.nodes[j].mean, utility=self.nodes[j].mean)
                for j in self.chain(o.node)]
        path += [PathStep(s, f=o.reward, utility=o.reward) for s in o.extra]
        return Terminal(steps=[p.text for p in path], score=o.reward, path=path, finish=o.finish, node=o.node)

    def dump(self) -> list[dict]:
        return [{"id": i, "parent": n.parent, "step": n.step, "visits": n.visits, "value": n.mean,
                 "terminal": n.terminal, "expanded": n.expanded} for i, n in enumerate(self.nodes)]


def _qvm_request(q: Question, steps: list[str]) -> tuple[Question, list[str], str]:
    return (q, steps[:-1], steps[-1]) if steps else (q, [], "")


@dataclass
class _Eval:
    """One question's evaluation in an iteration: which node, and what it reached and scored."""

    tree: _Tree
    node: int
    extra: list[str] = field(default_factory=list)
    finish: str = "eos"
    reward: float | None = None  # None until scored
    seen: bool = False  # a terminal node evaluated before: reuse its reward, record nothing new


def _iterate(trees: list[_Tree], env: SearchEnv, cfg: MCTSConfig) -> None:
    """One simulation for every question: select, expand, roll out, score, back-propagate."""
    conf = cfg.reward == "confidence"
    leaves = [t.select(cfg.c_uct) for t in trees]

    grow = [(t, i) for t, i in zip(trees, leaves) if not t.nodes[i].terminal and not t.nodes[i].expanded]
    if grow:
        proposals = env.propose([(t.q, t.steps(i)) for t, i in grow], k=cfg.k,
                                temperature=cfg.temperature, logprobs=conf)
        for (t, i), cands in zip(grow, proposals):
            t.usage.policy_calls += 1
            t.expand(i, cands, cfg)

    # each question evaluates its leaf's first new child, or the leaf itself when the leaf is
    # terminal or its expansion gave it no children
    grown = {(id(t), i) for t, i in grow}
    evals = [_Eval(t, t.nodes[i].children[0] if (id(t), i) in grown and t.nodes[i].children else i)
             for t, i in zip(trees, leaves)]
    for e in evals:
        node = e.tree.nodes[e.node]
        if node.terminal and e.node in e.tree.node_outcome:
            e.seen, e.reward = True, e.tree.outcomes[e.tree.node_outcome[e.node]].reward
        elif node.terminal:
            e.finish = node.candidate.finish  # a node cut at the depth limit keeps stop/length: unfinished
            e.reward = mean_confidence(node.candidate) if conf else None

    roll = [e for e in evals if not e.tree.nodes[e.node].terminal]
    if roll:
        temperature = cfg.temperature if cfg.rollout_temperature is None else cfg.rollout_temperature
        outs = env.complete([(e.tree.q, e.tree.steps(e.node)) for e in roll], n=1, temperature=temperature,
                            logprobs=conf)
        for e, cands in zip(roll, outs):
            # no continuation at all is a failed rollout: an empty, truncated solution
            cand = cands[0] if cands else Candidate("", 0, "length", [], [])
            e.extra, e.finish = env.split_steps(cand.text, cand.tokens), cand.finish
            e.reward = mean_confidence(cand) if conf else None
            e.tree.usage.policy_calls += 1
            e.tree.usage.generated_tokens += generated_tokens(cands)

    score = [e for e in evals if e.reward is None]
    if score:
        values = env.q_values([_qvm_request(e.tree.q, e.tree.steps(e.node) + e.extra) for e in score])
        for e, v in zip(score, values):
            e.reward = float(v)
            e.tree.usage.qvm_calls += 1
            e.tree.usage.scored += 1

    for e in evals:
        t, terminal = e.tree, e.tree.nodes[e.node].terminal
        if not e.seen:
            idx = t.record(_Outcome(e.node, e.extra, e.reward, e.finish, e.finish == "eos"))
            if terminal:
                t.node_outcome[e.node] = idx
        t.backprop(e.node, e.reward)


def search(questions: list[Question], env: SearchEnv, cfg: MCTSConfig,
           trees: bool = False) -> list[SearchResult]:
    """MCTS for every question at once; one SearchResult per question, in order."""
    state = [_Tree(q) for q in questions]
    for _ in range(cfg.iterations):
        _iterate(state, env, cfg)
    results = []
    for t in state:
        built = {idx: t.terminal(o) for idx, o in enumerate(t.outcomes)}
        chosen = t.answer(cfg.answer)
        results.append(SearchResult(
            question_id=t.q.id,
            answer=built[chosen] if chosen is not None else None,
            terminals=[built[idx] for idx, o in enumerate(t.outcomes) if o.kept],
            usage=t.usage, tree=t.dump() if trees else None))
    return results
