"""Monte Carlo tree search over reasoning steps, as in Marco-o1, batched across questions.

Each iteration a question walks its tree from the root by UCT (unvisited children first, in
index order), expands the leaf it reaches into K proposed steps, rolls out the leaf's first new
child to the end of a solution, scores that rollout (mean token confidence, or the QVM on its last
step) and back-propagates the reward to the root. `driver.drive` batches the questions' calls:
in lockstep, one iteration costs at most one `propose`, one `complete` and one `q_values` call
however many questions there are; on vLLM, continuously. The answer follows the most visited
children from the root (or takes the best-scored solution); a solution cut at the depth limit, like
a rollout cut at the token limit, is never preferred to a finished one. With `reflection`, as in
Marco-o1, every finished attempt (a node whose step ends the solution) gets one child, "Wait! Maybe
I made some mistakes! I need to rethink from scratch.", from which the search can continue; the walk
to the answer moves past a finished attempt into its reflection only when the reflection's mean
value beats the attempt's own reward. The reflection text is injected, not generated, so it is not
counted as generated tokens. Everything is deterministic given the environment; pure Python, no
torch or vLLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.search.base import (
    Candidate,
    PathStep,
    Question,
    SearchEnv,
    SearchResult,
    Terminal,
    Usage,
)
from qstar_cli.search.confidence import mean_confidence
from qstar_cli.search.driver import Complete, Propose, QValues, Search, run_each

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

    def __init__(self, question: Question, usage: Usage):
        self.q = question
        self.nodes = [_Node(parent=-1, step="", depth=0)]
        self.outcomes: list[_Outcome] = []
        self.node_outcome: dict[int, int] = {}  # terminal node -> its outcome, evaluated once
        self.usage = usage

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

            # uct reads this iteration's log_n: only the max() just below calls it, within the iteration
            def uct(c: int) -> tuple[float, int]:
                n = self.nodes[c]
                return (n.mean + c_uct * math.sqrt(log_n / n.visits), -c)  # ties: lower index  # noqa: B023

            i = max(kids, key=uct)
        return i

    def add(self, parent: int, cand: Candidate, cfg: MCTSConfig) -> int:
        depth = self.nodes[parent].depth + 1
        self.nodes.append(
            _Node(
                parent=parent,
                step=cand.text,
                depth=depth,
                candidate=cand,
                terminal=cand.finish == "eos" or depth >= cfg.max_depth,
            )
        )
        self.nodes[parent].children.append(len(self.nodes) - 1)
        return len(self.nodes) - 1

    def expand(self, i: int, cands: list[Candidate], cfg: MCTSConfig) -> None:
        self.nodes[i].expanded = True
        self.usage.expansions += 1
        self.usage.generated(cands)
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
        path = [
            PathStep(self.nodes[j].step, f=self.nodes[j].mean, utility=self.nodes[j].mean) for j in self.chain(o.node)
        ]
        path += [PathStep(s, f=o.reward, utility=o.reward) for s in o.extra]
        return Terminal(steps=[p.text for p in path], score=o.reward, path=path, finish=o.finish, node=o.node)

    def dump(self) -> list[dict]:
        return [
            {
                "id": i,
                "parent": n.parent,
                "step": n.step,
                "visits": n.visits,
                "value": n.mean,
                "terminal": n.terminal,
                "expanded": n.expanded,
            }
            for i, n in enumerate(self.nodes)
        ]


def search(questions: list[Question], env: SearchEnv, cfg: MCTSConfig, trees: bool = False) -> list[SearchResult]:
    """MCTS for every question at once; one SearchResult per question, in order."""
    return run_each(search_one, questions, env, cfg, trees)


def search_one(env: SearchEnv, question: Question, cfg: MCTSConfig, usage: Usage, trees: bool = False) -> Search:
    """The MCTS of one question; `drive` batches its requests with the other questions'."""
    t = _Tree(question, usage)
    for _ in range(cfg.iterations):
        yield from _iterate(env, t, cfg)
    built = {idx: t.terminal(o) for idx, o in enumerate(t.outcomes)}
    chosen = t.answer(cfg.answer)
    return SearchResult(
        question_id=t.q.id,
        answer=built[chosen] if chosen is not None else None,
        terminals=[built[idx] for idx, o in enumerate(t.outcomes) if o.kept],
        usage=t.usage,
        tree=t.dump() if trees else None,
    )


def _iterate(env: SearchEnv, t: _Tree, cfg: MCTSConfig) -> Search:
    """One simulation: select, expand, roll out, score, back-propagate."""
    conf = cfg.reward == "confidence"
    leaf = t.select(cfg.c_uct)
    node = leaf
    if not t.nodes[leaf].terminal and not t.nodes[leaf].expanded:
        [cands] = yield Propose([t.steps(leaf)], cfg.k, cfg.temperature, logprobs=conf)
        t.expand(leaf, cands, cfg)
        # evaluate the leaf's first new child, or the leaf itself when its expansion gave none
        node = t.nodes[leaf].children[0] if t.nodes[leaf].children else leaf

    terminal = t.nodes[node].terminal
    if terminal and node in t.node_outcome:  # a terminal evaluated before: its reward, nothing new recorded
        t.backprop(node, t.outcomes[t.node_outcome[node]].reward)
        return
    extra, finish, reward = [], "eos", None
    if terminal:
        cand = t.nodes[node].candidate
        finish = cand.finish  # a node cut at the depth limit keeps stop/length: unfinished
        reward = mean_confidence(cand) if conf else None
    else:
        temperature = cfg.temperature if cfg.rollout_temperature is None else cfg.rollout_temperature
        [cands] = yield Complete([t.steps(node)], 1, temperature, logprobs=conf)
        # no continuation at all is a failed rollout: an empty, truncated solution
        cand = cands[0] if cands else Candidate("", 0, "length", [], [])
        extra, finish = env.split_steps(cand.text, cand.tokens), cand.finish
        reward = mean_confidence(cand) if conf else None
        t.usage.generated(cands)
    if reward is None:
        steps = t.steps(node) + extra
        [value] = yield QValues([(steps[:-1], steps[-1]) if steps else ([], "")])
        reward = float(value)
    idx = t.record(_Outcome(node, extra, reward, finish, finish == "eos"))
    if terminal:
        t.node_outcome[node] = idx
    t.backprop(node, reward)
