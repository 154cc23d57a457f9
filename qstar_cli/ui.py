"""Terminal output shared by all stages: the resolved config, progress bars, summary tables.

Progress and messages go to stderr, so stdout carries only the closing summary table and a
stage's output can be piped. rich handles both the interactive and the CI (non-tty) case.
"""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.syntax import Syntax
from rich.table import Table

err = Console(stderr=True)
out = Console()


def show_config(title: str, config_yaml: str) -> None:
    err.rule(f"[bold]{title}[/bold]")
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
        self.console.print(f"{task.description}: {task.completed:,.0f}/{task.total or 0:,.0f} {self.unit} "
                           f"{task.fields.get('stats', '')}  elapsed {_clock(task.elapsed)}  eta {_clock(eta)}",
                           highlight=False)


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
