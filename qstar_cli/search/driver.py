"""Run one search per question, written as plain sequential code, with every call batched across questions.

A search method writes the search of ONE question as a generator that yields what it needs next:
`Propose` or `Complete` (policy), `QValues` (the QVM), `Utilities` (A*'s R_P) or `StepScores` (a
PRM), and receives the answer. `drive` runs all questions' generators together. Model requests waiting at the same time
become ONE call for all of them. Policy requests go to the environment's stream (`SearchEnv.submit`
/ `collect`) as they come:

- on an environment without continuous batching (the default `collect`, the toy graphs, the hf
  backend) all questions' policy requests of a round are one call, so a round is exactly one
  policy call and one QVM call across all questions, as before;
- on vLLM, `collect` returns as soon as part of the batch has finished, and those questions score,
  push and submit their next expansion while the others are still decoding: the engine's batch
  stays full instead of draining to the round's longest step, and a question that needs its
  fallback completion gets it at once, inside the running batch, not alone at the end.

Either way each question's own sequence of requests, and so its search, is the same; the driver
charges every call to the questions that took part in it (policy, QVM and PRM calls; pairs scored;
the tokens of the oracle heuristic's continuations, apart from the search's own).
`stream` admits questions into a window as others finish and yields each result as it is ready, so
a long eval keeps the engine full to its last questions and saves every result at once. Its jobs
may be a live source (a server's queue): it is asked for more at every round, and a question a
caller gives up (`cancelled`) is dropped with its requests in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qstar_cli.search.base import Candidate, Question, SearchEnv, Usage


@dataclass
class PolicyCall:
    """n samples from the policy at each of these states (steps so far): one policy call."""

    states: list[list[str]]
    n: int
    temperature: float
    logprobs: bool = False


class Propose(PolicyCall):
    """n (the paper's K) next steps at each state."""

    kind = "propose"


class Complete(PolicyCall):
    """n continuations to the end of each state."""

    kind = "complete"


@dataclass
class QValues:
    """Q(s, a) of each (steps so far, action): one QVM call."""

    pairs: list[tuple[list[str], str]]


@dataclass
class Utilities:
    """R_P of each new step (steps so far, candidate), by kind: a model call only for "prm"."""

    steps: list[tuple[list[str], Candidate]]
    kind: str


@dataclass
class StepScores:
    """A process reward model's score of every step of each solution (its steps): one PRM call."""

    solutions: list[list[str]]


Search = Generator[Any, Any, Any]  # yields requests, receives their answers, returns its result
MODEL_REQUESTS = (QValues, Utilities, StepScores)  # batched across the questions waiting at the same time


def run_each(one, questions: list[Question], env: SearchEnv, cfg: Any, trees: bool = False) -> list[Any]:
    """A method's batch search: `one(env, question, cfg, usage, trees)` for every question, driven together."""
    usages = [Usage() for _ in questions]
    return drive(env, questions, [one(env, q, cfg, u, trees) for q, u in zip(questions, usages)], usages)


def drive(env: SearchEnv, questions: list[Question], searches: list[Search], usages: list[Usage]) -> list[Any]:
    """Run each question's search to its end, all at once; returns their results in question order."""
    results: list[Any] = [None] * len(searches)
    for i, result in stream(env, zip(questions, searches, usages)):
        results[i] = result
    return results


def stream(
    env: SearchEnv,
    jobs: Iterable[tuple[Question, Search, Usage]],
    window: int | None = None,
    cancelled: Callable[[], Iterable[int]] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Run searches with up to `window` at a time (None: all), admitting the next job as one finishes;
    yields (job index, result) as each finishes, so a caller can save results as they come.

    `jobs` is asked for more at every round, so an iterator that stops now and has more later (a
    server's queue) gets its new jobs admitted while others run; the stream ends when it has
    nothing in flight. `cancelled()`, asked at every round, names admitted jobs (by index, in the
    order they were admitted) to give up: each one's search is closed, its policy requests are
    cancelled in the environment, and it yields nothing."""
    jobs = iter(jobs)
    questions: list[Question] = []
    searches: list[Search] = []
    usages: list[Usage] = []
    finished: list[tuple[int, Any]] = []
    waiting: dict[type, list[tuple[int, Any]]] = {kind: [] for kind in MODEL_REQUESTS}
    tickets: dict[int, tuple[int, int]] = {}  # policy ticket -> (job, index of the state)
    answers: dict[int, list] = {}  # job -> its policy request's answers so far
    ended: set[int] = set()  # jobs finished or dropped
    active = 0

    def admit() -> None:
        nonlocal active
        while window is None or active < window:
            job = next(jobs, None)
            if job is None:
                return
            questions.append(job[0])
            searches.append(job[1])
            usages.append(job[2])
            active += 1
            advance(len(searches) - 1, None)

    def advance(i: int, answer: Any) -> None:
        nonlocal active
        try:
            request = searches[i].send(answer)
        except StopIteration as stop:
            finished.append((i, stop.value))
            ended.add(i)
            active -= 1
            return
        if isinstance(request, PolicyCall):
            usages[i].policy_calls += 1
            answers[i] = [None] * len(request.states)
            for j, steps in enumerate(request.states):
                tickets[
                    env.submit(request.kind, questions[i], steps, request.n, request.temperature, request.logprobs)
                ] = (i, j)
            if not request.states:
                advance(i, answers.pop(i))
        else:
            waiting[type(request)].append((i, request))

    def drop(i: int) -> None:
        nonlocal active
        if i >= len(searches) or i in ended:
            return  # not admitted, ended (its result is on its way) or dropped before
        ended.add(i)
        searches[i].close()
        mine = [ticket for ticket, (job, _) in tickets.items() if job == i]
        for ticket in mine:
            del tickets[ticket]
        env.cancel(mine)
        answers.pop(i, None)
        for kind in MODEL_REQUESTS:
            waiting[kind] = [(j, r) for j, r in waiting[kind] if j != i]
        active -= 1

    while True:
        for i in cancelled() if cancelled else ():
            drop(i)
        admit()  # a live source may have new jobs since the last round
        while any(waiting.values()):
            for kind in MODEL_REQUESTS:
                batch, waiting[kind] = waiting[kind], []
                if batch:
                    for (i, _), out in zip(batch, _call_model(env, questions, batch, usages)):
                        advance(i, out)
        while finished:
            yield finished.pop(0)
            admit()
        if any(waiting.values()):
            continue  # admitted searches asked the models first
        if not tickets:
            return
        for ticket, cands in env.collect():
            if ticket not in tickets:
                continue  # a cancelled question's request that had already finished
            i, j = tickets.pop(ticket)
            answers[i][j] = cands
            if all(a is not None for a in answers[i]):
                advance(i, answers.pop(i))


def _call_model(
    env: SearchEnv, questions: list[Question], batch: list[tuple[int, Any]], usages: list[Usage]
) -> list[list[float]]:
    """One model call for all waiting requests of one type (and kind); each gets its own slice back."""
    if isinstance(batch[0][1], StepScores):
        flat = env.prm_scores([(questions[i], steps) for i, r in batch for steps in r.solutions])
        for i, _ in batch:
            usages[i].prm_calls += 1
        parts = _split(flat, [len(r.solutions) for _, r in batch])
        for (i, _), scores in zip(batch, parts):
            usages[i].scored += sum(len(s) for s in scores)
        return parts
    if isinstance(batch[0][1], QValues):
        flat, cost = env.q_values_counted(
            [(questions[i], steps, action) for i, r in batch for steps, action in r.pairs]
        )
        sizes = [len(r.pairs) for _, r in batch]
        for (i, r), spent in zip(batch, _split(cost, sizes)):
            usages[i].qvm_calls += 1
            usages[i].scored += len(r.pairs)
            usages[i].oracle_tokens += sum(spent)  # the oracle's continuations (0 for a QVM)
        return _split(flat, sizes)
    kinds = {r.kind for _, r in batch}
    if len(kinds) > 1:  # searches of one method ask for one kind; keep the calls exact if not
        parts = {
            kind: _call_model(env, questions, [(i, r) for i, r in batch if r.kind == kind], usages) for kind in kinds
        }
        return [parts[r.kind].pop(0) for _, r in batch]
    kind = kinds.pop()
    flat = env.process_utility([(questions[i], steps, cand) for i, r in batch for steps, cand in r.steps], kind)
    if kind == "prm":  # confidence and the rule cost no model call
        for i, _ in batch:
            usages[i].prm_calls += 1
    return _split(flat, [len(r.steps) for _, r in batch])


def _split(flat: list, sizes: list[int]) -> list[list]:
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out
