"""Progress in a log file: rich draws nothing on a non-terminal until the end, so a plain line
per task shows the work moving (nohup, Slurm, CI)."""

from __future__ import annotations

import io

from rich.console import Console

from qstar_cli import ui


def test_a_non_terminal_gets_plain_progress_lines(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(ui, "err", Console(file=buffer, force_terminal=False, width=200))
    monkeypatch.setattr(ui, "LOG_EVERY", 0.0)
    with ui.progress("questions") as bar:
        task = bar.add_task("eval astar", total=4, stats="")
        for done in range(4):
            bar.update(task, advance=1, stats=f"acc {done / 4:.0%}")
    lines = [line for line in buffer.getvalue().splitlines() if line.startswith("eval astar:")]
    assert lines[0].startswith("eval astar: 1/4 questions acc 0%") and "eta" in lines[0]
    assert lines[-1].startswith("eval astar: 4/4 questions acc 75%")


def test_a_terminal_gets_no_extra_lines(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(ui, "err", Console(file=buffer, force_terminal=True, width=200))
    monkeypatch.setattr(ui, "LOG_EVERY", 0.0)
    with ui.progress() as bar:
        task = bar.add_task("collect", total=2, stats="")
        bar.update(task, advance=2)
    assert "collect: " not in buffer.getvalue()
