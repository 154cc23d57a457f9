"""Step-level beam search with the QVM: keep the `width` best partial solutions each round.

Each round a question expands its whole beam (K candidates per node) and scores all children with
the QVM; a child's score is Q(parent, action). `driver.drive` batches these calls across questions
(lockstep rounds of ONE policy and ONE QVM call for all, or continuously on vLLM). Children that
end the solution become terminals; the best `width` open children form the next beam. A question stops when it has
`width` terminals, its beam is empty or `max_depth` is reached; its answer (`answer`, `answers.choose`)
is the best-scored terminal ("best_f"; finished ones before those cut at the depth or token limit),
the majority answer over its terminals ("vote"), or the answer whose terminals' Q sum highest
("weighted", search-and-learn's weighted vote; Q is in [0, 1]). A question left without
terminals has its best beam completed greedily (counted).
Every child becomes a node of the question's tree (kept with `trees=True`): h = f = its Q, g = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar_cli.search.answers import AnswerChoice, choose_answer
from qstar_cli.search.base import PathStep, Question, SearchEnv, SearchResult, Terminal, Usage
from qstar_cli.search.driver import Complete, Propose, QValues, Search, run_each


@dataclass
class BeamConfig:
    width: int = field(default=4, metadata={"min": 1})
    k: int = field(default=6, metadata={"min": 1})  # candidates per beam node
    temperature: float = field(default=0.9, metadata={"min": 0})
    max_depth: int = field(default=32, metadata={"min": 1})
    max_tokens: int = field(default=512, metadata={"key": "sampling.max_tokens", "min": 1})
    answer: AnswerChoice = "best_f"  # weighted sums each terminal's score, Q of its last step


@dataclass
class _Beam:
    steps: list[str]
    path: list[PathStep]
    score: float
    tokens: int
    node: int = 0  # its row in the question's tree


def search(questions: list[Question], env: SearchEnv, cfg: BeamConfig, trees: bool = False) -> list[SearchResult]:
    return run_each(search_one, questions, env, cfg, trees)


def search_one(env: SearchEnv, question: Question, cfg: BeamConfig, usage: Usage, trees: bool) -> Search:
    """The beam search of one question; `drive` batches its requests with the other questions'."""
    beam = [_Beam([], [], 0.0, 0)]
    # the rows are cheap, so they are always kept and returned only when asked for
    tree = [_row(0, -1, "", 0.0, False)]
    terminals: list[Terminal] = []
    for depth in range(cfg.max_depth):
        if not beam or len(terminals) >= cfg.width:
            break
        proposals = yield Propose([b.steps for b in beam], cfg.k, cfg.temperature)
        usage.expansions += len(beam)
        children = []
        for b, cands in zip(beam, proposals):
            tree[b.node]["expanded"] = True
            usage.generated(cands)
            children += [(b, c) for c in cands if c.text]
            if any(not c.text and c.finish == "eos" for c in cands):  # the solution ended with b's last step
                node = len(tree)
                tree.append(_row(node, b.node, "", b.score, True))
                terminals.append(Terminal(list(b.steps), b.score, b.path, "eos", node))
        scores = (yield QValues([(b.steps, c.text) for b, c in children])) if children else []
        nxt: list[_Beam] = []
        seen: set[str] = set()
        for (b, c), s in zip(children, scores):
            key = "".join(b.steps) + c.text
            if key in seen:
                continue
            seen.add(key)
            terminal = c.finish == "eos" or b.tokens + c.tokens >= cfg.max_tokens or depth + 1 >= cfg.max_depth
            child = _Beam(b.steps + [c.text], b.path + [PathStep(c.text, h=s, f=s)], s, b.tokens + c.tokens, len(tree))
            tree.append(_row(child.node, b.node, c.text, s, terminal))
            if terminal:
                terminals.append(Terminal(child.steps, s, child.path, c.finish, child.node))
            else:
                nxt.append(child)
        # stable sort: equal scores keep proposal order, so runs are deterministic
        beam = sorted(nxt, key=lambda b: -b.score)[: cfg.width]
    if not terminals and beam:
        # no terminal: complete the best beam greedily (one more policy call, counted)
        b = max(beam, key=lambda b: b.score)
        [cands] = yield Complete([b.steps], 1, 0.0)
        usage.generated(cands)
        steps = b.steps + env.split_steps(cands[0].text, cands[0].tokens)
        node = len(tree)
        tree.append(_row(node, b.node, cands[0].text, b.score, True))
        terminals.append(Terminal(steps, b.score, b.path, cands[0].finish, node))
    return SearchResult(
        question.id, choose_answer(env, question, terminals, cfg.answer), terminals, usage, tree=tree if trees else None
    )


def _row(node: int, parent: int, step: str, score: float, terminal: bool) -> dict:
    return {
        "id": node,
        "parent": parent,
        "step": step,
        "g": 0.0,
        "h": score,
        "f": score,
        "terminal": terminal,
        "expanded": False,
    }
