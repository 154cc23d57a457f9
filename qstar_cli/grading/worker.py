"""A persistent helper process that runs one function per call under a hard deadline.

Grading must not hang a search over hundreds of questions, but sympy can spin for minutes on a
pathological answer (`9^{9^{9^9}}`), sometimes inside one long C call that holds the GIL — where
neither a SIGALRM handler nor a watchdog thread can interrupt it. A separate process can always be
killed. `DeadlineWorker.call` sends JSON arguments to a long-lived `python -m
qstar_cli.grading.worker MODULE:FUNCTION` child, waits at most `timeout` seconds for its JSON
answer, and on overrun kills the child and starts a fresh one for the next call. A plain subprocess
rather than multiprocessing: spawn re-imports the caller's main script, which runs unguarded
scripts twice. If no child can be started, calls run in a daemon thread with the same deadline,
which bounds the caller's wait but not the thread's CPU use.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_SECONDS = 60.0
_READY = "ready"


class DeadlineWorker:
    """Calls a module-level `func(*args)` in a helper process; JSON in, JSON out.

    `call` returns the result, or None on a timeout or an exception in `func`. Thread-safe:
    concurrent calls take turns, each bounded by its own timeout.
    """

    def __init__(self, func: Callable[..., Any]):
        self.func = func
        self._target = f"{func.__module__}:{func.__qualname__}"
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._use_threads = False

    def call(self, args: tuple, timeout: float) -> Any:
        with self._lock:
            if not self._use_threads and self._ensure_started():
                return self._call_process(args, timeout)
        return _call_in_thread(self.func, args, timeout)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure_started(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        self._stop()
        # The child must import the same qstar_cli as this process, installed or not.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, self._target],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            return self._give_up(f"could not start it: {exc}")
        replies: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, replies), name="qstar-grader-reader", daemon=True).start()
        self._process, self._replies = process, replies
        try:
            ready = replies.get(timeout=_STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            ready = None
        if ready != _READY:
            self._stop()
            return self._give_up("it did not start")
        return True

    def _give_up(self, why: str) -> bool:
        logger.warning("grading in-process without a helper process (%s)", why)
        self._use_threads = True
        return False

    def _call_process(self, args: tuple, timeout: float) -> Any:
        try:
            self._process.stdin.write(json.dumps(list(args)) + "\n")
            self._process.stdin.flush()
            reply = self._replies.get(timeout=timeout)
        except (OSError, ValueError, queue.Empty):
            reply = None
        if reply is None:  # overran, or the child died (out of memory, say)
            self._stop()
            return None
        return reply.get("result") if reply.get("ok") else None

    def _stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=5)
            for stream in (self._process.stdin, self._process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self._process = None


def _pump(stream, replies: queue.Queue) -> None:
    """Reader thread: turn the child's output lines into queue items (None at end of stream)."""
    for line in stream:
        try:
            replies.put(json.loads(line))
        except ValueError:
            continue
    replies.put(None)


def _call_in_thread(func: Callable[..., Any], args: tuple, timeout: float) -> Any:
    result: list = []

    def target() -> None:
        try:
            result.append(func(*args))
        except Exception:  # a failed call is "no result"
            result.append(None)

    worker = threading.Thread(target=target, name="qstar-grader", daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0] if result else None


def _serve(target: str) -> None:
    """Child side: answer each JSON argument list on stdin with one JSON line on stdout."""
    # Keep the real stdout for replies and send anything the function prints to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    module, _, name = target.partition(":")
    func = getattr(importlib.import_module(module), name)
    replies.write(json.dumps(_READY) + "\n")
    replies.flush()
    for line in sys.stdin:
        try:
            reply = {"ok": True, "result": func(*json.loads(line))}
        except Exception as exc:  # report it and keep serving
            reply = {"ok": False, "error": repr(exc)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
