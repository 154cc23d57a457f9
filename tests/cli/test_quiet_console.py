"""A stage's console: a short header, qstar's own progress and summary, and nothing from the
libraries (no resolved-config dump, no warnings, no loading bars, no vLLM log) unless --verbose.

Runs on a terminal-like console: rich is forced to draw as on a terminal (FORCE_COLOR), 200
columns; escape codes are stripped before the checks."""

import re

import pytest

from tests.conftest import run_qstar

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
CONFIG_DUMP = ("sampling:", "policy:", "top_p:", "batch_questions:")
THIRD_PARTY = (
    "warnings.warn",
    "Warning:",
    "UserWarning",
    "FutureWarning",
    "DeprecationWarning",
    "Loading",
    "it/s]",
    "Triton",
    "NUMA",
    "INFO ",
    "WARNING ",
)


@pytest.fixture(autouse=True)
def _shell(shell_env):
    pass


def collect(out, backend: str, *extra: str, before: tuple = ()):
    result = run_qstar(
        *before,
        "collect-rollouts",
        "--dataset",
        "mawps",
        "--split",
        "test",
        "--limit",
        "2",
        "--num-rollouts",
        "1",
        "--max-tokens",
        "16",
        "--backend",
        backend,
        "--out",
        str(out),
        *extra,
        env={"FORCE_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    return ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def quiet_console_problem(stdout: str, stderr: str, out, backend: str, questions: int) -> str | None:
    """What is wrong with a default collect-rollouts run's console (escape codes stripped), or None:
    the header, qstar's progress and summary, and nothing else. The default run of each backend is
    tests/cli/test_collect_e2e.py's (one model load for both checks)."""
    header = stderr.splitlines()[:3]
    if not header or not header[0].startswith("qstar collect-rollouts --dataset mawps"):
        return f"no header: {stderr}"
    if not (str(out) in stderr and f"backend={backend}" in stderr and "num_rollouts=" in stderr):
        return f"the header lacks the run folder or its settings: {stderr}"
    for line in CONFIG_DUMP + THIRD_PARTY:
        if line in stderr or line in stdout:
            return f"{line!r} printed: {stderr}"
    if f"{questions}/{questions} questions" not in stderr or "pass@M" not in stdout:
        return f"qstar's own progress or summary is missing: {stderr} {stdout}"
    # nothing but the header (three lines, a long command wrapped onto more), the loading line and
    # the progress bar (redrawn: one line per frame here)
    others = [line for line in stderr.splitlines() if line.strip() and not line.startswith("collect ")]
    if not others or others[-1] != "qstar loading the policy ..." or len(others) > 6:
        return f"other lines: {others}"
    return None


def test_the_check_sees_a_warning_and_a_config_dump(tmp_path):
    header = (
        f"qstar collect-rollouts --dataset mawps\n  run {tmp_path}  (resolved config in its config.yaml)\n"
        "  data=mawps/test  backend=hf  num_rollouts=1\nqstar loading the policy ...\n"
        "collect ━━ 2/2 questions\n"
    )
    assert quiet_console_problem("pass@M", header, tmp_path, "hf", 2) is None
    after = header + "some library's line\n"  # after the loading line: not qstar's
    assert "other lines" in quiet_console_problem("pass@M", after, tmp_path, "hf", 2)
    assert "UserWarning" in quiet_console_problem("pass@M", header + "x.py:1: UserWarning: y\n", tmp_path, "hf", 2)
    assert "policy:" in quiet_console_problem("pass@M", header + "policy:\n", tmp_path, "hf", 2)


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_verbose_prints_the_whole_config_and_lets_the_libraries_speak(tmp_path, data_dir, embedded_model, backend):
    if backend == "vllm":
        pytest.importorskip("vllm")
    # --verbose after the subcommand; -v before it (the app's option)
    extra, before = (("--verbose",), ()) if backend == "vllm" else ((), ("-v",))
    stdout, stderr = collect(tmp_path / "run", backend, *extra, before=before)
    assert str(tmp_path / "run") in stderr
    for line in CONFIG_DUMP:
        assert line in stderr, (line, stderr)
    if backend == "vllm":
        assert "INFO" in stderr and "Loading safetensors checkpoint shards" in stderr, stderr
        assert "INFO" not in stdout  # vLLM's log goes to stderr: stdout is still only the summary
    assert "pass@M" in stdout
