"""Terminal output shared by all stages: the resolved config, progress bars, summary tables.

Progress and messages go to stderr, so stdout carries only the closing summary table and a
stage's output can be piped. rich handles both the interactive and the CI (non-tty) case.
"""

from __future__ import annotations

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


def progress(unit: str = "questions") -> Progress:
    """Items done / total, a stats field (tokens/s, accuracy, loss), elapsed and ETA."""
    return Progress(
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
    )


def summary(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
