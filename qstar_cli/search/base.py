"""What every search method shares: the narrow batched environment it talks to, and its results.

Search code imports neither torch nor vLLM. It sees the policy and the value models only through
`SearchEnv`, whose calls each take MANY requests at once (all unfinished questions' frontier
nodes) and count themselves, so a search over 500 questions issues as many backend calls per
round as a search over one. Toy environments implement the same class for tests on graphs whose
optimum is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    # the token limit of this question's whole solutions (complete requests); None: the run's
    # sampling.max_tokens. A server sets it per request.
    max_tokens: int | None = None


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

    def generated(self, cands: list[Candidate]) -> None:
        """Count what the backend generated for one request's candidates, merged duplicates included."""
        self.generated_tokens += sum(c.cost for c in cands)


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

    def cancel(self, tickets: list[int]) -> None:
        """Drop these requests (a question given up: a server's client went away); their
        generations, if any come, are never handed back."""
        drop = set(tickets)
        self._queue = [item for item in getattr(self, "_queue", []) if item[0] not in drop]

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
