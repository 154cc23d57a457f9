"""Hostile programs against the sandbox: each is contained within its limit, the host is
untouched, the evaluator keeps going and says why the program failed; a correct program passes."""

import os
import time
from pathlib import Path

import pytest

from qstar_cli.execution import Executor, Limits, run_program
from qstar_cli.execution.sandbox import UID_BASE, choose_isolation

FAST = Limits(wall_seconds=3.0, cpu_seconds=2, memory_mb=512, max_processes=16, max_output_kb=64)
ISOLATION = choose_isolation("auto")
NAMESPACES = ISOLATION == "namespaces"
CONTAINED_FS = NAMESPACES or os.geteuid() == 0  # process mode as root still drops to a sandbox uid
CORRECT = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def processes_of(uid: int) -> list[int]:
    """Pids whose real uid is `uid` (a sandbox slot's uid)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                status = Path(f"/proc/{name}/status").read_text()
            except OSError:
                continue
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            if int(uid_line.split()[1]) == uid:
                found.append(int(name))
    return found


def run(source: str, limits: Limits = FAST, isolation: str = "auto", python: str | None = None):
    started = time.perf_counter()
    result = run_program(source, limits, isolation=isolation, python=python)
    elapsed = time.perf_counter() - started
    assert elapsed < limits.wall_seconds + 3, f"not contained within its limit ({elapsed:.1f} s)"
    if os.geteuid() == 0:
        assert processes_of(UID_BASE) == [], "the program left processes running"
    # the evaluator keeps going: a correct program still passes right after a hostile one
    assert run_program(CORRECT, limits, isolation=isolation, python=python).status == "passed"
    return result


def test_correct_solution_passes():
    result = run_program(CORRECT, FAST)
    assert result.passed and result.status == "passed"


def test_failing_assert_syntax_and_exception_are_told_apart():
    assert run_program("assert 1 + 1 == 3\n", FAST).status == "assertion"
    assert run_program("def f(:\n    pass\n", FAST).status == "syntax"
    assert run_program("    x = 1\n", FAST).status == "syntax"  # IndentationError
    result = run_program("raise ValueError('nope')\n", FAST)
    assert (result.status, result.detail) == ("exception", "ValueError")


def test_infinite_loop_in_python_times_out():
    result = run("while True:\n    pass\n")
    assert result.status == "timeout" and not result.passed


def test_infinite_loop_inside_c_code_times_out():
    # one C call that never returns to the interpreter: an in-process timer could not stop it
    result = run(
        "import collections, itertools\ncollections.deque(itertools.product(range(10**4), repeat=8), maxlen=0)\n"
    )
    assert result.status == "timeout"


def test_fork_bomb_is_contained():
    result = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert result.status in ("timeout", "killed") and not result.passed


def test_memory_bomb_is_contained():
    # a generous clock: touching memory is slow on a loaded machine, and the limit under test is RLIMIT_AS
    small = Limits(wall_seconds=10.0, cpu_seconds=10, memory_mb=128, max_output_kb=64)
    assert run("x = [0] * 10**10\n", small).status == "memory"  # one huge allocation
    result = run("chunks = []\nwhile True:\n    chunks.append(bytearray(40 * 2**20))\n", small)  # growth
    assert (result.status, result.detail) == ("memory", "MemoryError")


def test_flood_of_output_is_capped():
    result = run("while True:\n    print('x' * 1000)\n")
    assert result.status == "output_limit"
    assert len(result.stdout_tail) <= 2000


def test_os_exit_before_the_tests_is_not_a_pass():
    assert run("import os\nos._exit(0)\nassert False\n").status == "early_exit"
    assert run("import sys\nsys.exit(0)\nassert False\n").status == "early_exit"
    assert run("import os\nos._exit(3)\n").status == "early_exit"


@pytest.mark.skipif(not CONTAINED_FS, reason="process isolation as a normal user shares the user's files")
def test_host_files_outside_the_temp_dir_are_untouched(tmp_path):
    victim = Path(os.path.realpath("/tmp")) / f"qstar-sandbox-victim-{os.getpid()}"
    victim.mkdir(mode=0o777)
    try:
        victim.chmod(0o777)  # writable by anyone: only the sandbox keeps the program out
        sentinel = victim / "sentinel.txt"
        sentinel.write_text("original")
        sentinel.chmod(0o666)
        program = (
            "import os, shutil\n"
            f"victim, sentinel = {str(victim)!r}, {str(sentinel)!r}\n"
            "attempts = [lambda: open(sentinel, 'w').write('pwned'), lambda: os.remove(sentinel),\n"
            "            lambda: open(os.path.join(victim, 'new.txt'), 'w').write('x'),\n"
            "            lambda: shutil.rmtree(victim), lambda: open('/tmp/qstar-evil', 'w').write('x'),\n"
            "            lambda: os.rename(sentinel, sentinel + '.moved')]\n"
            "for attempt in attempts:\n"
            "    try:\n        attempt()\n        print('WROTE')\n"
            "    except OSError as exc:\n        print('denied', exc.errno)\n"
            "open('inside.txt', 'w').write('fine')  # its own work dir is writable\n"
            "print(open('inside.txt').read())\n"
        )
        result = run(program)
        assert result.status == "passed", result
        assert "WROTE" not in result.stdout_tail and "fine" in result.stdout_tail
        assert sentinel.read_text() == "original"
        assert sorted(p.name for p in victim.iterdir()) == ["sentinel.txt"]
        assert not Path("/tmp/qstar-evil").exists()
    finally:
        for p in victim.iterdir():
            p.unlink()
        victim.rmdir()


def test_parent_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("QSTAR_TEST_SECRET", f"s3cret-{os.getpid()}")
    program = (
        "import os\n"
        "seen = [repr(os.environ).encode()]\n"
        f"for pid in ['1', 'self', str(os.getppid()), {str(os.getpid())!r}] + os.listdir('/proc'):\n"
        "    try:\n        seen.append(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError:\n        pass\n"
        "print('LEAKED' if any(b'QSTAR_TEST_SECRET' in blob for blob in seen) else 'clean', len(seen))\n"
        "print(sorted(os.environ))\n"
    )
    result = run(program)
    assert result.status == "passed", result
    assert "clean" in result.stdout_tail and "LEAKED" not in result.stdout_tail
    assert "QSTAR_TEST_SECRET" not in result.stdout_tail


def test_child_that_tries_to_outlive_the_run_is_killed():
    token = f"qstar-outlive-{os.getpid()}"
    program = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {token!r}], start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', {token!r}])\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
    )
    result = run(program)
    assert result.status == "passed", result
    time.sleep(0.2)
    survivors = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if token.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    survivors.append(name)
            except OSError:
                pass
    assert survivors == []


def test_killing_the_parent_process_fails():
    program = (
        "import os, signal\n"
        f"for pid in (os.getppid(), {os.getpid()}, 1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
        "    except OSError as exc:\n        print('denied', pid, exc.errno)\n"
        "try:\n    os.kill(-1, signal.SIGKILL)  # everything it may signal (not itself)\n"
        "except OSError:\n    pass\n"
    )
    result = run(program)
    assert result.status == "passed", result
    assert "killed" not in result.stdout_tail.replace("killed by", "")
    assert os.getppid() > 1  # this test process and its parent are still here


@pytest.mark.skipif(not NAMESPACES, reason="network isolation needs the namespace sandbox (root)")
def test_no_network():
    program = (
        "import socket\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
        "for host in ('1.1.1.1', '127.0.0.1'):\n"
        "    try:\n        socket.create_connection((host, 80), timeout=1)\n        print('CONNECTED', host)\n"
        "    except OSError as exc:\n        print('no network', exc.errno)\n"
    )
    result = run(program)
    assert result.status == "passed", result
    assert "['lo']" in result.stdout_tail and "CONNECTED" not in result.stdout_tail


@pytest.mark.skipif(
    os.geteuid() == 0 and not os.access("/usr/bin/python3", os.X_OK),
    reason="as root the fallback needs an interpreter every user may run",
)
def test_process_fallback_still_limits_and_reaps():
    # as root the program drops to a sandbox uid, which may not enter /root (pyenv, conda ...)
    python = "/usr/bin/python3" if os.geteuid() == 0 else None
    assert run_program(CORRECT, FAST, isolation="process", python=python).status == "passed"
    assert run("while True:\n    pass\n", isolation="process", python=python).status == "timeout"
    token = f"qstar-fallback-{os.getpid()}"
    program = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {token!r}], "
        "start_new_session=True)\n"
    )
    assert run(program, isolation="process", python=python).status == "passed"
    time.sleep(0.2)
    assert not any(
        token.encode() in Path(f"/proc/{p}/cmdline").read_bytes()
        for p in os.listdir("/proc")
        if p.isdigit() and Path(f"/proc/{p}/cmdline").exists()
    )


def test_pool_runs_in_parallel_and_keeps_order():
    executor = Executor(FAST, workers=2)
    sources = [CORRECT, "assert False\n", "import time\ntime.sleep(1)\n", "import time\ntime.sleep(1)\n"]
    started = time.perf_counter()
    results = executor.run_many(sources)
    assert [r.status for r in results] == ["passed", "assertion", "passed", "passed"]
    assert time.perf_counter() - started < 2 * 1.0 + 1.5  # the two sleeps overlapped
