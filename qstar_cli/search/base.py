"""What every search method shares: the narrow batched environment it talks to, and its results.

Search code imports neither torch nor vLLM. It sees the policy and the value models only through
`SearchEnv`, whose calls each take MANY requests at once (all unfinished questions' frontier
nodes) and count themselves, so a search over 500 questions issues as many backend calls per
round as a search over one. Toy environments implement the same class for tests on graphs whose
optimum is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Candidate:
    """One proposed next step (or a whole continuation) from the policy."""

    text: str
    tokens: int
    finish: str  # stop: a step boundary | eos: the solution ended | length: cut at the token limit
    token_logprobs: list[float] | None = None
    top_logprobs: list[list[float]] | None = None
    # tokens the backend generated to produce this candidate: its own, plus those of identical
    # proposals merged into it (None: just its own). Compute is charged on this, not on `tokens`.
    generated: int | None = None

    @property
    def cost(self) -> int:
        return self.tokens if self.generated is None else self.generated


@dataclass
class Question:
    """A question as the search sees it: an id, its text and the prompt the policy continues."""

    id: str
    text: str
    prompt: str


@dataclass
class Usage:
    """Compute spent on one question (or, summed, on a run)."""

    policy_calls: int = 0  # batched policy calls this question took part in
    qvm_calls: int = 0  # batched QVM scoring calls this question took part in
    prm_calls: int = 0
    generated_tokens: int = 0
    expansions: int = 0  # nodes expanded (A*, beam, MCTS)
    scored: int = 0  # (state, action) pairs scored by the QVM / PRM
    # tokens the oracle heuristic's continuations generated (search/oracle.py): never in
    # generated_tokens, which is what methods are compared on
    oracle_tokens: int = 0

    def add(self, other: Usage) -> None:
        for key in vars(self):
            setattr(self, key, getattr(self, key) + getattr(other, key))


class SearchEnv:
    """The batched calls a search makes. Each list argument holds one entry per request."""

    def propose(
        self, requests: list[tuple[Question, list[str]]], k: int, temperature: float, logprobs: bool = False
    ) -> list[list[Candidate]]:
        """K sampled next steps for each (question, steps so far), de-duplicated. ONE policy call."""
        raise NotImplementedError

    def complete(
        self, requests: list[tuple[Question, list[str]]], n: int, temperature: float, logprobs: bool = False
    ) -> list[list[Candidate]]:
        """n continuations to the end for each (question, steps so far). ONE policy call."""
        raise NotImplementedError

    def q_values(self, requests: list[tuple[Question, list[str], str]]) -> list[float]:
        """Q(s, a) in [0, 1] for each (question, steps so far, action). ONE QVM call."""
        raise NotImplementedError

    def q_values_counted(self, requests: list[tuple[Question, list[str], str]]) -> tuple[list[float], list[int]]:
        """`q_values`, and the policy tokens each value cost: 0 for a QVM; the oracle's continuations."""
        return self.q_values(requests), [0] * len(requests)

    def process_utility(self, requests: list[tuple[Question, list[str], Candidate]], kind: str) -> list[float]:
        """A*'s R_P of each new step, by `kind` (none | confidence | prm | rule). At most ONE model call."""
        raise NotImplementedError

    def prm_scores(self, requests: list[tuple[Question, list[str]]]) -> list[list[float]]:
        """A process reward model's score of every step of each (question, steps). ONE PRM call."""
        raise NotImplementedError

    def split_steps(self, text: str, tokens: int) -> list[str]:
        """Cut a continuation into steps with the run's step format."""
        raise NotImplementedError

    def extract_answer(self, question: Question, text: str) -> str | None:
        """The final answer a solution states (for voting), normalized; None when there is none."""
        raise NotImplementedError

    def same_answer(self, question: Question, a: str, b: str) -> bool:
        """Whether two extracted answers are the same by the grader's own equivalence."""
        return a == b

    # ---- streamed policy requests (see driver.py) -----------------------------------------------
    # An environment whose engine batches continuously overrides these two; this default queues
    # the requests and runs them as one propose / complete call per distinct setting: lockstep rounds.
    # Its queue is made on first use, so environments need not call a base __init__.
    def submit(
        self, kind: str, question: Question, steps: list[str], n: int, temperature: float, logprobs: bool = False
    ) -> int:
        """Queue one `propose` (kind "propose", n = K) or `complete` request; returns its ticket."""
        queue = self.__dict__.setdefault("_queue", [])
        self._tickets = ticket = getattr(self, "_tickets", -1) + 1
        queue.append((ticket, kind, question, steps, n, temperature, logprobs))
        return ticket

    def collect(self) -> list[tuple[int, list[Candidate]]]:
        """Finished requests as (ticket, candidates); at least one while any is in flight."""
        queue, self._queue = getattr(self, "_queue", []), []
        groups: dict[tuple, list[tuple[int, Question, list[str]]]] = {}
        for ticket, kind, question, steps, n, temperature, logprobs in queue:
            groups.setdefault((kind, n, temperature, logprobs), []).append((ticket, question, steps))
        out = []
        for (kind, n, temperature, logprobs), items in groups.items():
            call = self.propose if kind == "propose" else self.complete
            results = call([(q, steps) for _, q, steps in items], n, temperature, logprobs=logprobs)
            out.extend((ticket, cands) for (ticket, _, _), cands in zip(items, results))
        return out


def generated_tokens(cands: list[Candidate]) -> int:
    """What the backend generated for a list of candidates, merged duplicates included."""
    return sum(c.cost for c in cands)


def group_answers(answers: list[str | None], same: Callable[[str, str], bool]) -> list[int | None]:
    """For each answer, the index of the first answer equal to it by `same` (None: no answer)."""
    heads: list[int] = []
    groups: list[int | None] = []
    for i, a in enumerate(answers):
        if a is None:
            groups.append(None)
            continue
        head = next((h for h in heads if answers[h] == a or same(answers[h], a)), None)
        if head is None:
            heads.append(i)
            head = i
        groups.append(head)
    return groups


def answer_groups(env: SearchEnv, question: Question, texts: list[str]) -> list[int | None]:
    """For each solution text, the index of the first text whose answer is the same (None: no answer).

    Answers are grouped by the grader's equivalence, not by string, so that votes over MATH answers
    do not split \\frac{1}{2}, \\dfrac{1}{2} and 0.5 three ways.
    """
    return group_answers([env.extract_answer(question, t) for t in texts], lambda a, b: env.same_answer(question, a, b))


@dataclass
class PathStep:
    text: str
    g: float = 0.0
    h: float = 0.0
    f: float = 0.0
    utility: float = 0.0


@dataclass
class Terminal:
    """A finished solution found by a search, with the score the search ranks it by."""

    steps: list[str]
    score: float
    path: list[PathStep] = field(default_factory=list)
    finish: str = "eos"
    node: int | None = None  # its node in the search tree, when the search keeps one (the tree view)

    @property
    def text(self) -> str:
        return "".join(self.steps)

    @property
    def finished(self) -> bool:
        """The model ended this solution itself; one cut at the depth or token limit may state no answer."""
        return self.finish == "eos"


def best_terminal(terminals: list[Terminal]) -> Terminal | None:
    """The highest-scored finished solution; cut-off ones only when nothing finished (first of ties)."""
    return max(terminals, key=lambda t: (t.finished, t.score), default=None)


# How A*, beam and best-of-N choose their answer among a question's terminals (eval.answer), by
# each terminal's score (A*'s f, beam's Q, best-of-N's reranker score):
#   best_f    the best-scored terminal;
#   vote      the answer most terminals reach;
#   weighted  the answer whose terminals' scores sum highest (search-and-learn's weighted best-of-N).
# `choose` is the one rule; the searches apply it online and `qstar report` to recorded terminals.
AnswerChoice = Literal["best_f", "vote", "weighted"]


def weight(score: float) -> float:
    """A terminal's share of its answer's weighted vote: its score, or 0 below zero.

    Search-and-learn sums PRM scores, probabilities in [0, 1], and so does this for every QVM or
    PRM score. A score can fall below zero (A*'s f = g + lambda h with a process utility of -1):
    summed as it is, it would make an answer found twice (-2 + -2) lose to one found once (-0.1),
    so a terminal found with a negative score adds nothing to its answer. Scores above 1 (f with a
    positive g or lambda > 1) are summed as they are: any positive scale keeps the sums' order.
    """
    return max(score, 0.0)


def choose(scores: list[float], finished: list[bool], groups: list[int | None], how: str) -> int | None:
    """The index of the terminal `how` (an `AnswerChoice`) answers with; None when there is none.

    `groups[i]` is terminal i's answer group (`answer_groups`: None when it states no answer).
    Finished terminals come before cut-off ones: "best_f" takes the highest score among the
    finished (among all when none finished), and the votes count cut-off terminals only when none
    finished. Ties in a vote go to the group of more terminals (weighted vote only), then to the
    one with the best score, then to the one seen first; the winning group answers with its
    best-scored terminal. A vote among terminals that state no answer falls back to "best_f".
    Ties in score go to the first terminal.
    """
    if not scores:
        return None
    best = max(range(len(scores)), key=lambda i: (finished[i], scores[i]))
    if how == "best_f":
        return best
    pool = [i for i in range(len(scores)) if finished[i]] or list(range(len(scores)))
    members: dict[int, list[int]] = {}
    for i in pool:
        if groups[i] is not None:
            members.setdefault(groups[i], []).append(i)
    if not members:
        return best

    def rank(ids: list[int]) -> tuple:
        top = max(scores[i] for i in ids)
        if how == "vote":
            return (len(ids), top)
        return (sum(weight(scores[i]) for i in ids), len(ids), top)

    winner = max(members.values(), key=rank)
    return max(winner, key=lambda i: scores[i])


def choose_answer(env: SearchEnv, question: Question, terminals: list[Terminal], how: str) -> Terminal | None:
    """`choose` over a search's terminals, grouped by the grader's equivalence."""
    if how == "best_f" or not terminals:
        return best_terminal(terminals)
    groups = answer_groups(env, question, [t.text for t in terminals])
    i = choose([t.score for t in terminals], [t.finished for t in terminals], groups, how)
    return terminals[i] if i is not None else None


@dataclass
class SearchResult:
    question_id: str
    answer: Terminal | None  # the chosen solution
    terminals: list[Terminal] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    # the search time from the previous result to this one: questions are searched together, so
    # this is its share, and a run's per-question times add up to its total
    wall_seconds: float = 0.0
    tree: list[dict] | None = None  # optional full search tree (nodes with step text and f, g, h)
