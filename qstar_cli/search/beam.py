"""Step-level beam search with the QVM: keep the `width` best partial solutions each round.

Every round expands all questions' beams in ONE policy call (K candidates each) and scores all
children in ONE QVM call; a child's score is Q(parent, action). Children that end the solution
become terminals; the best `width` open children form the next beam. A question stops when it has
`width` terminals, its beam is empty or `max_depth` is reached; its answer is the best-scored
terminal, finished ones before those cut at the depth or token limit. A question left without
terminals has its best beam completed greedily (counted).
Every child becomes a node of the question's tree (kept with `trees=True`): h = f = its Q, g = 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar_cli.search.base import (PathStep, Question, SearchEnv, SearchResult, Terminal, Usage, best_terminal,
                                   charge, generated_tokens)


@dataclass
class BeamConfig:
    width: int = field(default=4, metadata={"min": 1})
    k: int = field(default=6, metadata={"min": 1})  # candidates per beam node
    temperature: float = field(default=0.9, metadata={"min": 0})
    max_depth: int = field(default=32, metadata={"min": 1})
    max_tokens: int = field(default=512, metadata={"key": "sampling.max_tokens", "min": 1})


@dataclass
class _Beam:
    steps: list[str]
    path: list[PathStep]
    score: float
    tokens: int
    node: int = 0  # its row in the question's tree


def search(questions: list[Question], env: SearchEnv, cfg: BeamConfig, trees: bool = False) -> list[SearchResult]:
    usages = [Usage() for _ in questions]
    beams = [[_Beam([], [], 0.0, 0)] for _ in questions]
    # the rows are cheap, so they are always kept and returned only when asked for
    tree = [[_row(0, -1, "", 0.0, False)] for _ in questions]
    terminals: list[list[Terminal]] = [[] for _ in questions]
    for depth in range(cfg.max_depth):
        live = [qi for qi in range(len(questions)) if beams[qi] and len(terminals[qi]) < cfg.width]
        if not live:
            break
        requests, owners = [], []
        for qi in live:
            for b in beams[qi]:
                requests.append((questions[qi], b.steps))
                owners.append((qi, b))
        proposals = env.propose(requests, cfg.k, cfg.temperature)
        charge(usages, [qi for qi, _ in owners], "policy_calls")
        charge(usages, [qi for qi, _ in owners], "expansions", [1] * len(owners))
        children = []
        for (qi, b), cands in zip(owners, proposals):
            tree[qi][b.node]["expanded"] = True
            usages[qi].generated_tokens += generated_tokens(cands)
            children += [(qi, b, c) for c in cands if c.text]
            if any(not c.text and c.finish == "eos" for c in cands):  # the solution ended with b's last step
                node = len(tree[qi])
                tree[qi].append(_row(node, b.node, "", b.score, True))
                terminals[qi].append(Terminal(list(b.steps), b.score, b.path, "eos", node))
        scores = env.q_values([(questions[qi], b.steps, c.text) for qi, b, c in children])
        charge(usages, [qi for qi, _, _ in children], "qvm_calls")
        charge(usages, [qi for qi, _, _ in children], "scored", [1] * len(children))
        nxt: dict[int, list[_Beam]] = {qi: [] for qi in live}
        seen: dict[int, set[str]] = {qi: set() for qi in live}
        for (qi, b, c), s in zip(children, scores):
            key = "".join(b.steps) + c.text
            if key in seen[qi]:
                continue
            seen[qi].add(key)
            terminal = c.finish == "eos" or b.tokens + c.tokens >= cfg.max_tokens or depth + 1 >= cfg.max_depth
            child = _Beam(b.steps + [c.text], b.path + [PathStep(c.text, h=s, f=s)], s, b.tokens + c.tokens,
                          len(tree[qi]))
            tree[qi].append(_row(child.node, b.node, c.text, s, terminal))
            if terminal:
                terminals[qi].append(Terminal(child.steps, s, child.path, c.finish, child.node))
            else:
                nxt[qi].append(child)
        for qi in live:
            # stable sort: equal scores keep proposal order, so runs are deterministic
            beams[qi] = sorted(nxt[qi], key=lambda b: -b.score)[: cfg.width]
    _complete_leftovers(questions, env, beams, terminals, usages, tree)
    return [SearchResult(q.id, best_terminal(terminals[qi]), terminals[qi], usages[qi], tree=tree[qi] if trees else None)
            for qi, q in enumerate(questions)]


def _row(node: int, parent: int, step: str, score: float, terminal: bool) -> dict:
    return {"id": node, "parent": parent, "step": step, "g": 0.0, "h": score, "f": score, "terminal": terminal,
            "expanded": False}


def _complete_leftovers(questions, env: SearchEnv, beams, terminals, usages, tree) -> None:
    needy = [qi for qi in range(len(questions)) if not terminals[qi] and beams[qi]]
    if not needy:
        return
    best = [max(beams[qi], key=lambda b: b.score) for qi in needy]
    outs = env.complete([(questions[qi], b.steps) for qi, b in zip(needy, best)], 1, 0.0)
    charge(usages, needy, "policy_calls")
    for qi, b, cands in zip(needy, best, outs):
        usages[qi].generated_tokens += generated_tokens(cands)
        steps = b.steps + env.split_steps(cands[0].text, cands[0].tokens)
        node = len(tree[qi])
        tree[qi].append(_row(node, b.node, cands[0].text, b.score, True))
        terminals[qi].append(Terminal(steps, b.score, b.path, cands[0].finish, node))
