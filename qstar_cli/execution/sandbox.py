"""Run one untrusted Python program under limits, and say how it ended.

`run_program(source, limits)` writes the program into a fresh temporary directory and starts the
launcher (launcher.py) in a new session with a minimal environment and stdin on /dev/null. The
wall-clock limit is enforced from out here: when it passes, the whole process group is killed,
which (namespaces) takes the program's pid namespace with it. Isolation, picked once per process:

- `namespaces` (root, `unshare` present and allowed): new pid, mount, network, ipc and uts
  namespaces; the filesystem read-only except a size-capped tmpfs work dir; /root (or whichever
  directory hides the interpreter) replaced by an empty tmpfs; no network interface but a down
  loopback; the program runs as an unprivileged uid of its own, so RLIMIT_NPROC counts only its
  processes and it cannot signal anything outside; everything it started dies with it.
- `process` (the fallback): the same rlimits, clean environment, fresh temp dir and session, and
  a subreaper that kills left-behind processes; but the filesystem, the network and other
  processes of the same user are NOT isolated (as root, the program still drops to its own uid).

A program "passes" when it exits 0 AND prints a per-run random marker that is appended after its
tests, so `sys.exit(0)` or `os._exit(0)` before the asserts run is a failure (`early_exit`), not
a pass. (A program that deliberately reads its own source could forge the marker; it defeats
early exits, not forgery.) Statuses, in the order they are decided: timeout (wall clock or
RLIMIT_CPU), output_limit, killed (any other signal), passed, and from the traceback's last line
syntax, assertion, memory or exception; early_exit (exit 0 without the marker or a non-zero exit
without a traceback); sandbox_error (the cage itself could not be set up).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from qstar_cli.errors import QstarError

STATUSES = (
    "passed",
    "assertion",
    "exception",
    "syntax",
    "timeout",
    "memory",
    "output_limit",
    "killed",
    "early_exit",
    "sandbox_error",
)
ISOLATIONS = ("auto", "namespaces", "process")
LAUNCHER = Path(__file__).with_name("launcher.py")
# Sandbox uids: far above any real account's, one per concurrent slot, so that RLIMIT_NPROC and
# signal permissions are per program and never shared with a person or a service.
UID_BASE = 1_900_000_000
TAIL_BYTES = 2000
UNSHARE = ("--fork", "--pid", "--mount-proc", "--mount", "--net", "--ipc", "--uts", "--kill-child")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0  # enforced from outside: the whole group is killed
    cpu_seconds: int = 10  # RLIMIT_CPU (soft; SIGKILL one second later)
    memory_mb: int = 1024  # RLIMIT_AS
    max_processes: int = 16  # RLIMIT_NPROC (per sandbox uid)
    max_output_kb: int = 1024  # RLIMIT_FSIZE: stdout, stderr and any file the program writes
    max_open_files: int = 64  # RLIMIT_NOFILE
    work_mb: int = 64  # size of the tmpfs work dir (namespaces)


@dataclass
class Result:
    status: str  # one of STATUSES
    passed: bool
    detail: str  # e.g. "AssertionError", "killed by SIGSEGV", "wall clock 10 s"
    exit_code: int | None
    signal: int | None
    seconds: float
    stdout_tail: str
    stderr_tail: str
    isolation: str

    def to_dict(self) -> dict:
        return asdict(self)


def _python_prefix(python: str) -> str:
    """The install prefix of `python` (its lib/pythonX.Y must stay reachable in the cage)."""
    real = Path(os.path.realpath(python))
    return str(real.parent.parent)


@cache
def namespaces_available() -> bool:
    """Whether this process may build the namespace cage (root with a working `unshare`)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        probe = subprocess.run(["unshare", *UNSHARE, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def choose_isolation(requested: str = "auto") -> str:
    if requested not in ISOLATIONS:
        raise QstarError(f"unknown execution.isolation {requested!r}; choose one of: {', '.join(ISOLATIONS)}")
    if requested == "process":
        return "process"
    if namespaces_available():
        return "namespaces"
    if requested == "namespaces":
        raise QstarError(
            "execution.isolation=namespaces needs root and a working `unshare` (util-linux); "
            "run as root, or set execution.isolation=process and accept weaker isolation"
        )
    return "process"


def default_python() -> str:
    """The interpreter programs run on: this one, without the venv (programs get the stdlib only)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def run_program(
    source: str, limits: Limits = Limits(), *, isolation: str = "auto", slot: int = 0, python: str | None = None
) -> Result:
    """Run `source` as a Python program in the sandbox; never raises for anything the program does."""
    import time

    mode = choose_isolation(isolation)
    python = python or default_python()
    uid = UID_BASE + slot if os.geteuid() == 0 else None
    marker = secrets.token_hex(16)
    # the marker follows the tests; buffered prints are flushed first so it is not overtaken
    program = f"{source}\n\n__import__('sys').stdout.flush()\n__import__('os').write(1, b'\\n{marker}\\n')\n"
    root = Path(tempfile.mkdtemp(prefix="qstar-sandbox-"))
    try:
        root.chmod(0o755)  # the sandbox uid reads the program from here
        (root / "program.py").write_text(program, encoding="utf-8")
        work = root / "work"
        work.mkdir(mode=0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        with tempfile.TemporaryFile(dir=root) as out, tempfile.TemporaryFile(dir=root) as err:
            cfg = {
                "workdir": str(work),
                "program": str(root / "program.py"),
                "python": python,
                "prefix": _python_prefix(python),
                "uid": uid,
                "work_mb": limits.work_mb,
                "stdout_fd": out.fileno(),
                "stderr_fd": err.fileno(),
                "env": {
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                    "LANG": "C.UTF-8",
                    "HOME": str(work),
                    "TMPDIR": str(work),
                    "PYTHONHASHSEED": "0",
                },
                "limits": {
                    "cpu": limits.cpu_seconds,
                    "as": limits.memory_mb << 20,
                    "nproc": limits.max_processes,
                    "fsize": limits.max_output_kb << 10,
                    "nofile": limits.max_open_files,
                },
            }
            cmd = [python, "-I", "-S", "-B", str(LAUNCHER), json.dumps(cfg)]
            if mode == "namespaces":
                cmd = ["unshare", *UNSHARE, *cmd]
            started = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                cwd=root,
                pass_fds=(out.fileno(), err.fileno()),
                start_new_session=True,
            )
            timed_out = False
            try:
                report_text, launcher_err = proc.communicate(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                report_text, launcher_err = proc.communicate()
            finally:
                _kill_group(proc.pid)  # whatever is left of the session, on every path
                if timed_out and uid is not None:
                    _kill_uid(uid)
            seconds = time.perf_counter() - started
            stdout, stderr = _read(out), _read(err)
        report = _parse_report(report_text)
        if report.get("error") or (not timed_out and not report):
            detail = report.get("error") or f"the launcher died: {launcher_err.decode(errors='replace')[-500:]}"
            return _result("sandbox_error", detail, None, None, seconds, stdout, stderr, mode)
        return classify(
            report.get("exit"), report.get("signal"), stdout, stderr, marker, limits, seconds, mode, timed_out
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_uid(uid: int, patience: float = 5.0) -> None:
    """Kill every process still running as the sandbox uid, and wait until none is left.

    After a timeout the launcher is killed from outside, and the kernel tears its pid namespace
    down asynchronously; a fork bomb's processes can outlive this call by a few milliseconds, and
    in the process fallback a setsid'd child is in no group we can kill. The slot's uid names
    them all (a dead ns init leaves zombies owned by the same uid until they are gone)."""
    import time

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        pids = _pids_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def _read(f) -> bytes:
    f.seek(0)
    return f.read()


def _parse_report(text: bytes) -> dict:
    lines = text.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def _tail(data: bytes) -> str:
    return data[-TAIL_BYTES:].decode("utf-8", errors="replace")


def _result(status, detail, code, sig, seconds, stdout, stderr, mode) -> Result:
    return Result(status, status == "passed", detail, code, sig, round(seconds, 4), _tail(stdout), _tail(stderr), mode)


def classify(
    code: int | None,
    sig: int | None,
    stdout: bytes,
    stderr: bytes,
    marker: str,
    limits: Limits,
    seconds: float,
    mode: str,
    timed_out: bool = False,
) -> Result:
    """The status of a finished run, from how it ended and what it printed."""
    r = lambda status, detail: _result(status, detail, code, sig, seconds, stdout, stderr, mode)  # noqa: E731
    if timed_out:
        return r("timeout", f"wall clock {limits.wall_seconds:g} s")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and seconds >= limits.cpu_seconds):
        return r("timeout", f"CPU time {limits.cpu_seconds} s")
    cap = limits.max_output_kb << 10
    if len(stdout) >= cap or len(stderr) >= cap or sig == signal.SIGXFSZ:
        return r("output_limit", f"output over {limits.max_output_kb} KiB")
    if sig is not None:
        return r(
            "killed", f"killed by {signal.Signals(sig).name}" if sig in signal.valid_signals() else f"signal {sig}"
        )
    exception = _last_exception(stderr)
    if code == 0:
        if b"\n" + marker.encode() + b"\n" in stdout:
            return r("passed", "all tests passed")
        return r("early_exit", "exited 0 before its tests finished")
    if stderr.startswith(b"qstar sandbox:"):
        return r("sandbox_error", stderr.decode(errors="replace").strip()[:500])
    if exception in ("SyntaxError", "IndentationError", "TabError"):
        return r("syntax", exception)
    if exception == "AssertionError":
        return r("assertion", exception)
    if exception == "MemoryError":
        return r("memory", exception)
    if exception:
        return r("exception", exception)
    return r("early_exit", f"exited {code} without a traceback")


def _last_exception(stderr: bytes) -> str | None:
    """The exception type of a Python traceback's last line ("ValueError: ..."), if there is one."""
    text = stderr.decode("utf-8", errors="replace")
    if "Traceback (most recent call last)" not in text and "SyntaxError" not in text and "Error" not in text:
        return None
    for line in reversed(text.strip().splitlines()):
        m = _EXCEPTION_LINE.match(line.strip())
        if m and not line.startswith(" "):
            return m.group(1).rsplit(".", 1)[-1]
    return None
