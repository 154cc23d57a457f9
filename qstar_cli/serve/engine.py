"""The engine thread: the one thread that touches the policy, the QVM and the search driver.

Requests put their questions (`Job`s) on a bounded queue and wait on each job's future. The
thread runs `search.driver.stream` over the queue as a live source, so a question that arrives
while others decode joins the running batch at the next round, and concurrent requests share the
engine exactly as the questions of one `qstar eval` do (up to `window` in flight, the rest wait).
A job whose client went away is cancelled: dropped from the queue, or closed in the driver with
its requests aborted in the engine.

The schedule can follow the load: below `lockstep_below` questions in flight a round waits for
all of them (a lockstep round, refill 1); from there on the engine refills its batch as soon as
the backend's `refill` fraction has finished (the streamed schedule). On a fixed batch of A*
questions `benchmarks/bench_search.py` found lockstep ahead at 16 questions (0.50 of flat decoding
against 0.40) and streamed ahead at 64 (0.61 against 0.47); a server's questions arrive while
others decode, and there `benchmarks/bench_serve.py` measured streamed ahead at every load (greedy,
8 clients: 80 against 56 tokens/s; 64 clients: 131 against 119), so the default streams always
(`lockstep_below` 0) and the switch stays for workloads measured to gain from lockstep rounds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from qstar_cli.search.base import Question, Usage


class QueueFull(Exception):
    pass


@dataclass(eq=False)
class Job:
    """One question of a request, searched with its request's method and settings."""

    question: Question
    search: str
    config: Any  # the method's config (SEARCHERS[search].configure(...))
    trees: bool = False
    usage: Usage = field(default_factory=Usage)
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.monotonic)
    admitted: float | None = None
    prompt_tokens: int = 0
    # the request set max_tokens itself: a prompt that leaves less room is refused, not cut short
    asked_limit: bool = False


class TooLong(Exception):
    """A prompt that does not fit the model's context with its token limit (a 400 for its request)."""


class Engine:
    def __init__(self, env, backend, *, window: int, max_queue: int, max_model_len: int, lockstep_below: int):
        self.env = _Scheduled(env, backend, self, lockstep_below)
        self.backend = backend
        self.window, self.max_queue, self.max_model_len = window, max_queue, max_model_len
        self._lock = threading.Lock()
        self._waiting: deque[Job] = deque()
        self._running: set[Job] = set()
        self._cancelled: list[Job] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="qstar-engine", daemon=True)
        self.failure: BaseException | None = None  # the last error of the engine itself

    # ---- what the app calls (the event loop's thread) ---------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, jobs: list[Job]) -> None:
        """Queue a request's questions, all or none: QueueFull when they would pass `max_queue`."""
        with self._lock:
            if len(self._waiting) + len(self._running) + len(jobs) > self.max_queue:
                raise QueueFull
            self._waiting.extend(jobs)
        self._wake.set()

    def cancel(self, job: Job) -> None:
        """Give a question up (its client went away): nothing more is generated for it."""
        with self._lock:
            if job.future.done():
                return
            if job in self._waiting:
                self._waiting.remove(job)
                job.future.cancel()
            elif job in self._running:
                self._cancelled.append(job)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the app has drained its requests); questions still queued fail."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        with self._lock:
            left = [*self._waiting, *self._running]
            self._waiting.clear()
        for job in left:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server stopped before this question was answered"))

    # ---- the engine's thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        from qstar_cli.search.driver import stream

        while not self._stopping:
            self._wake.wait(0.05)
            self._wake.clear()
            if not self._waiting:
                continue
            source = _Source(self)
            try:
                for i, result in stream(self.env, source, self.window, source.cancelled):
                    job = source.admitted.pop(i)
                    with self._lock:
                        self._running.discard(job)
                    if not job.future.done():  # a question cancelled as it finished has no one to answer
                        job.future.set_result(result)
            except Exception as exc:  # the engine failed, not a request: its questions in flight get the error
                self.failure = exc
                with self._lock:
                    for job in source.admitted.values():
                        self._running.discard(job)
                for job in source.admitted.values():
                    if not job.future.done():
                        job.future.set_exception(exc)


class _Source:
    """The queue as `stream` reads it: the next waiting job now, or nothing (more may come)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.admitted: dict[int, Job] = {}  # index in this stream -> job
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self):
        from qstar_cli.search import SEARCHERS

        engine = self.engine
        while True:
            with engine._lock:
                if not engine._waiting:
                    raise StopIteration
                job = engine._waiting.popleft()
                engine._running.add(job)
            # counted here, on the engine's thread: the tokenizer is not shared with the event loop
            job.prompt_tokens = len(engine.backend.encode(job.question.prompt))
            room = engine.max_model_len - job.prompt_tokens
            limit = job.question.max_tokens or room
            if limit > room and not job.asked_limit and room > 0:
                job.question.max_tokens = limit = room  # as OpenAI's servers do: up to the end of the context
            if limit > room:
                with engine._lock:
                    engine._running.discard(job)
                job.future.set_exception(
                    TooLong(
                        f"the prompt is {job.prompt_tokens} tokens; with max_tokens {limit} it passes the "
                        f"model's context of {engine.max_model_len} tokens"
                    )
                )
                continue
            job.admitted = time.monotonic()
            index, self.count = self.count, self.count + 1
            self.admitted[index] = job
            search = SEARCHERS[job.search].search(engine.env, job.question, job.config, job.usage, job.trees)
            return job.question, search, job.usage

    def cancelled(self) -> list[int]:
        """Indices of this stream's jobs whose clients went away (asked by the driver every round)."""
        engine = self.engine
        if not engine._cancelled:  # asked every round: nothing to do is the common case
            return []
        with engine._lock:
            gone, engine._cancelled = engine._cancelled, []
            for job in gone:
                engine._running.discard(job)
        indices = {id(job): i for i, job in self.admitted.items()}
        out = []
        for job in gone:
            i = indices.get(id(job))
            if i is not None:
                # it stays in `admitted`: one that finished before this round is still yielded once
                out.append(i)
            job.future.cancel()
        return out


class _Scheduled:
    """The search environment, with the engine's schedule chosen at every collect by the load."""

    def __init__(self, env, backend, engine: Engine, lockstep_below: int):
        self._env, self._backend, self._engine = env, backend, engine
        self.lockstep_below = lockstep_below
        self.streamed_refill = backend.refill
        self.rounds = {"lockstep": 0, "streamed": 0}

    def collect(self):
        streamed = self._engine.in_flight >= self.lockstep_below
        self._backend.refill = self.streamed_refill if streamed else 1.0
        self.rounds["streamed" if streamed else "lockstep"] += 1
        return self._env.collect()

    def __getattr__(self, name: str):
        return getattr(self._env, name)
