"""The search driver: searches written per question, their calls batched across questions, and
requests that finish out of order (an engine with continuous batching) changing nothing but timing.

A scripted clock stands in for the engine: each request finishes a fixed number of ticks after it
was submitted, so a slow question's long steps and a fast question's short ones overlap the way
they do on vLLM.
"""

from __future__ import annotations

import itertools

import pytest

from qstar_cli import search
from qstar_cli.search.astar import AStarConfig
from qstar_cli.search.base import Candidate, Question, SearchEnv
from qstar_cli.search.beam import BeamConfig
from qstar_cli.search.mcts import MCTSConfig
from qstar_cli.search.sampling import BestOfNConfig

FAST, SLOW, THIRD = Question("fast", "?", "P"), Question("slow", "?", "P"), Question("third", "?", "P")
# each question's own graph: (question id, *steps) -> [(step, Q of the step, ends the solution)]
EDGES = {
    ("fast",): [("a", 0.9, False), ("z", 0.1, False)],
    ("fast", "a"): [("b", 0.8, False)],
    ("fast", "a", "b"): [("c", 0.7, True)],
    ("fast", "z"): [("zz", 0.1, True)],
    ("slow",): [("x", 0.6, False), ("w", 0.5, False)],
    ("slow", "x"): [("y", 0.9, True)],
    ("slow", "w"): [("v", 0.2, True)],
    ("third",): [("t", 0.4, True)],
}


class Graphs(SearchEnv):
    """A lockstep environment (SearchEnv's own submit/collect) over the graphs above."""

    def __init__(self):
        self.calls = {"propose": 0, "complete": 0, "q": 0}

    def propose(self, requests, k, temperature, logprobs=False):
        self.calls["propose"] += 1
        return [
            [Candidate(s, 1, "eos" if ends else "stop") for s, _, ends in EDGES.get((q.id, *steps), [])][:k]
            for q, steps in requests
        ]

    def complete(self, requests, n, temperature, logprobs=False):
        self.calls["complete"] += 1
        return [[Candidate("done", 2, "eos")] * n for _ in requests]

    def q_values(self, requests):
        self.calls["q"] += 1
        return [next((v for s, v, _ in EDGES.get((q.id, *steps), []) if s == a), 0.0) for q, steps, a in requests]

    def process_utility(self, requests, kind):
        return [0.0] * len(requests)

    def split_steps(self, text, tokens):
        return [text]

    def extract_answer(self, question, text):
        return text[-1:]


class Clocked(Graphs):
    """The same graphs behind a stream: a request finishes `ticks(question)` after its submission,
    and `collect` returns whatever finished at the next tick something did."""

    def __init__(self, ticks):
        super().__init__()
        self.ticks, self.clock, self.pending, self.log = ticks, 0, [], []
        self.tickets = itertools.count()

    def submit(self, kind, question, steps, n, temperature, logprobs=False):
        call = self.propose if kind == "propose" else self.complete
        [result] = call([(question, steps)], n, temperature, logprobs)
        ticket = next(self.tickets)
        self.pending.append((self.clock + self.ticks(question), ticket, result))
        self.log.append((self.clock, question.id, tuple(steps)))
        return ticket

    def collect(self):
        self.clock = min(due for due, _, _ in self.pending)
        done = [(ticket, result) for due, ticket, result in self.pending if due <= self.clock]
        self.pending = [p for p in self.pending if p[0] > self.clock]
        return done


def slow_ticks(question):
    return 10 if question.id == "slow" else 1


def test_a_fast_question_goes_on_while_a_slow_ones_step_is_still_decoding():
    env = Clocked(slow_ticks)
    search.run("astar", [FAST, SLOW], env, AStarConfig(k=2, n_terminals=1, budget=8))
    fast = [(tick, steps) for tick, q, steps in env.log if q == "fast"]
    # A* on the fast graph: root, then a, then a-b; each expansion submitted the tick the last returned
    assert fast == [(0, ()), (1, ("a",)), (2, ("a", "b"))]
    assert [(tick, steps) for tick, q, steps in env.log if q == "slow"] == [(0, ()), (10, ("x",))]


@pytest.mark.parametrize(
    "method, cfg",
    [
        ("astar", AStarConfig(k=2, n_terminals=2, budget=3)),
        ("astar", AStarConfig(k=2, n_terminals=1, budget=1)),  # no terminal: the fallback completion
        ("astar", AStarConfig(k=2, n_terminals=1, budget=8, parallel=2)),
        ("beam", BeamConfig(width=2, k=2)),
        ("mcts", MCTSConfig(iterations=5, k=2, reward="qvm")),
        ("best_of_n", BestOfNConfig(n=2)),
    ],
)
def test_streaming_changes_no_question_s_search_and_no_count(method, cfg):
    questions = [FAST, SLOW, THIRD]
    lockstep = search.run(method, questions, Graphs(), cfg, trees=True)
    streamed = search.run(method, questions, Clocked(slow_ticks), cfg, trees=True)
    windowed = search.run(method, questions, Clocked(slow_ticks), cfg, trees=True)  # run() admits all at once
    one_at_a_time = [
        r
        for _, r in sorted(
            search.stream(method, questions, Clocked(slow_ticks), cfg, True, window=1), key=lambda x: x[0]
        )
    ]
    for other in (streamed, windowed, one_at_a_time):
        for a, b in zip(lockstep, other):
            assert a.question_id == b.question_id
            assert (a.answer.steps, a.answer.score) == (b.answer.steps, b.answer.score)
            assert [t.steps for t in a.terminals] == [t.steps for t in b.terminals]
            assert a.usage == b.usage and a.tree == b.tree


def test_lockstep_rounds_are_one_policy_and_one_qvm_call_for_all_questions():
    env = Graphs()
    results = search.run("astar", [FAST, SLOW, THIRD], env, AStarConfig(k=2, n_terminals=1, budget=8))
    rounds = max(r.usage.expansions for r in results)
    assert env.calls["propose"] == rounds and env.calls["q"] <= rounds


def test_a_window_admits_the_next_question_only_as_one_finishes():
    env = Clocked(slow_ticks)
    order = [
        i
        for i, _ in search.stream(
            "astar", [SLOW, FAST, THIRD], env, AStarConfig(k=2, n_terminals=1, budget=8), window=2
        )
    ]
    first_third = min(tick for tick, q, _ in env.log if q == "third")
    # FAST finishes (tick 3) long before SLOW (tick 20): THIRD takes its place then, not at the start
    assert first_third == 3 and order == [1, 2, 0]


class Live:
    """A server's queue as the driver sees it: it has nothing now, and more later."""

    def __init__(self, *jobs):
        self.jobs = list(jobs)

    def __iter__(self):
        return self

    def __next__(self):
        if not self.jobs:
            raise StopIteration
        return self.jobs.pop(0)


class Cancellable(Clocked):
    def __init__(self, ticks):
        super().__init__(ticks)
        self.cancelled = []

    def cancel(self, tickets):
        self.cancelled += tickets
        self.pending = [p for p in self.pending if p[1] not in tickets]


def job(env, question, cfg):
    """One A* job for the driver: the question, its search, its usage."""
    from qstar_cli.search.base import Usage

    usage = Usage()
    return question, search.SEARCHERS["astar"].search(env, question, cfg, usage, False), usage


def test_a_job_that_arrives_while_others_decode_joins_them_and_searches_as_alone():
    from qstar_cli.search.driver import stream

    cfg = AStarConfig(k=2, n_terminals=1, budget=8)
    env = Clocked(slow_ticks)
    source = Live(job(env, SLOW, cfg))
    collect = env.collect

    def arrive_then_collect():  # the fast question arrives while the slow one's first step decodes
        if not env.clock:
            source.jobs.append(job(env, FAST, cfg))
        return collect()

    env.collect = arrive_then_collect
    results = {result.question_id: result for _, result in stream(env, source)}
    # admitted at the next round (tick 10, the slow question's first step back), not once the slow
    # question has finished (tick 20)
    assert [tick for tick, q, _ in env.log if q == "fast"] == [10, 11, 12]
    assert [tick for tick, q, _ in env.log if q == "slow"] == [0, 10]
    alone = {q.id: search.run("astar", [q], Graphs(), cfg)[0] for q in (FAST, SLOW)}
    for qid, result in results.items():
        assert result.answer.steps == alone[qid].answer.steps and result.usage == alone[qid].usage


def test_a_cancelled_job_is_dropped_with_its_requests_and_the_others_finish():
    from qstar_cli.search.driver import stream

    cfg = AStarConfig(k=2, n_terminals=1, budget=8)
    env = Cancellable(slow_ticks)
    give_up = []
    ticks = []

    def cancelled():
        ticks.append(env.clock)
        if env.clock >= 1 and not give_up:  # after the first round: the slow question's step is in flight
            give_up.append(1)
            return [1]
        return []

    out = list(stream(env, iter([job(env, FAST, cfg), job(env, SLOW, cfg)]), cancelled=cancelled))
    assert [i for i, _ in out] == [0] and out[0][1].question_id == "fast"
    assert len(env.cancelled) == 1  # the slow question's one request in flight
    assert not any(p[1] in env.cancelled for p in env.pending)
    # the slow question never got further than its first request
    assert [steps for _, q, steps in env.log if q == "slow"] == [()]
    assert max(ticks) < 10  # nobody waited for the cancelled request to finish
