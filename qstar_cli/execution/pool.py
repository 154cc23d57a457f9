"""A pool that runs many sandboxed programs in parallel, safely from a CUDA/vLLM parent.

Workers are threads of the calling process that only start and wait for sandbox processes: each
program is launched by `subprocess.Popen` of a fresh interpreter (fork+exec in C, or
posix_spawn), so the parent's CUDA context, vLLM engine or thread state is never copied into a
process that runs user code, and no Python code of ours runs between fork and exec. Each worker
owns a slot, i.e. its own sandbox uid, so concurrent programs cannot signal each other or share
an RLIMIT_NPROC budget.
"""

from __future__ import annotations

import os
import queue
import time
from concurrent.futures import ThreadPoolExecutor

from qstar_cli.errors import QstarError
from qstar_cli.execution.sandbox import Limits, Result, choose_isolation, default_python, run_program


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class Executor:
    """run_many(sources) -> one Result per source, in order, `workers` at a time."""

    def __init__(self, limits: Limits = Limits(), workers: int = 0, isolation: str = "auto", python: str | None = None):
        self.limits = limits
        self.workers = workers or default_workers()
        self.isolation = choose_isolation(isolation)  # probe once, fail before any work
        self.python = python or default_python()
        self.programs = 0
        self.seconds = 0.0

    def check(self) -> None:
        """Run a trivial program once, so a cage that cannot be built fails before any real work."""
        result = run_program("pass\n", self.limits, isolation=self.isolation, slot=0, python=self.python)
        if result.status != "passed":
            raise QstarError(
                f"the code sandbox does not work here ({result.status}: {result.detail.strip()[:300]}); "
                "as root, execution.python must name an interpreter every user may run"
            )

    def run(self, source: str) -> Result:
        return self.run_many([source])[0]

    def run_many(self, sources: list[str]) -> list[Result]:
        if not sources:
            return []
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.workers):
            slots.put(slot)

        def one(source: str) -> Result:
            slot = slots.get()
            try:
                return run_program(source, self.limits, isolation=self.isolation, slot=slot, python=self.python)
            finally:
                slots.put(slot)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.workers, len(sources)), thread_name_prefix="sandbox") as pool:
            results = list(pool.map(one, sources))
        self.programs += len(sources)
        self.seconds += time.perf_counter() - started
        return results
