"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, a malformed record) is raised as a
`QstarError` with one sentence that says what is wrong and what to do; the CLI prints it on one
line and exits non-zero. Any other exception is a bug in qstar and keeps its traceback.
"""


class QstarError(Exception):
    """An error the user can fix; its message is shown as-is, without a traceback."""

    exit_code = 2


class Stopped(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, `kill`): unwinds like Ctrl-C, so every stage closes its records
    and records the stopped session; the CLI exits with 128 + the signal's number."""

    received: int | None = None  # the signal that stopped this process, if one did

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        Stopped.received = signum


def stop_signal(exc: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: a library that catches qstar's Stopped and raises a plain
    KeyboardInterrupt in its place (Ray's ray.wait does) must not turn a SIGTERM into a Ctrl-C."""
    import signal

    return getattr(exc, "signum", None) or Stopped.received or signal.SIGINT
