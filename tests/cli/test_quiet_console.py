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
THIRD_PARTY = ("warnings.warn", "Warning:", "UserWarning", "FutureWarning", "DeprecationWarning", "Loading", "it/s]",
               "Triton", "NUMA", "INFO ", "WARNING ")


@pytest.fixture(autouse=True)
def shell_env(monkeypatch):
    """The environment of a user's shell: the in-process `embedded_model` fixture quieted the
    libraries of this test process (ui.quiet_libraries), and its children would inherit that."""
    from qstar_cli import ui

    for name in (*ui.QUIET_ENV, ui.VERBOSE_ENV):
        monkeypatch.delenv(name, raising=False)


def collect(out, backend: str, *extra: str, before: tuple = ()):
    result = run_qstar(*before, "collect-rollouts", "--dataset", "mawps", "--split", "test", "--limit", "2",
                       "--num-rollouts", "1", "--max-tokens", "16", "--backend", backend, "--out", str(out), *extra,
                       env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    return ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_a_default_run_prints_a_header_progress_and_the_summary_only(tmp_path, data_dir, embedded_model, backend):
    if backend == "vllm":
        pytest.importorskip("vllm")
    stdout, stderr = collect(tmp_path / "run", backend)
    header = stderr.splitlines()[:3]
    assert header[0].startswith("qstar collect-rollouts --dataset mawps"), stderr
    assert str(tmp_path / "run") in stderr and f"backend={backend}" in stderr and "num_rollouts=1" in stderr
    for line in CONFIG_DUMP + THIRD_PARTY:
        assert line not in stderr and line not in stdout, (line, stderr)
    assert "2/2 questions" in stderr  # qstar's own progress stays
    assert "pass@M" in stdout  # and the summary table
    # nothing but the header, the loading line and the progress bar (redrawn: one line per frame here)
    others = [line for line in stderr.splitlines() if line.strip() and not line.startswith("collect ")]
    assert len(others) == 4 and others[3] == "qstar loading the policy ...", stderr


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
