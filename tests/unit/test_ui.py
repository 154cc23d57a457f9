"""Progress in a log file: rich draws nothing on a non-terminal until the end, so a plain line
per task shows the work moving (nohup, Slurm, CI)."""

from __future__ import annotations

import io
import os
import warnings

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


def _header(monkeypatch, verbose: bool) -> str:
    from qstar_cli.cli_flags import resolve
    from qstar_cli.config import CollectConfig, to_yaml
    from qstar_cli.stages.common import run_settings

    buffer = io.StringIO()
    monkeypatch.setattr(ui, "err", Console(file=buffer, force_terminal=False, width=200))
    monkeypatch.setenv(ui.VERBOSE_ENV, "1") if verbose else monkeypatch.delenv(ui.VERBOSE_ENV, raising=False)
    monkeypatch.setattr("sys.argv", ["qstar", "collect-rollouts", "--dataset", "mawps", "--limit", "2"])
    config = resolve(
        CollectConfig,
        None,
        ["sampling.max_tokens=16"],
        {
            "data.name": "mawps",
            "data.split": "test",
            "data.limit": 2,
            "policy.backend": "hf",
            "collect.num_rollouts": 1,
        },
    )
    ui.header(
        "collect-rollouts",
        "runs/r1",
        run_settings(config, "collect.num_rollouts", "sampling.temperature", "sampling.max_tokens"),
        to_yaml(config),
    )
    return buffer.getvalue()


def test_the_header_names_the_run_and_its_key_settings_not_the_whole_config(monkeypatch):
    text = _header(monkeypatch, verbose=False)
    lines = text.strip().splitlines()
    assert 2 <= len(lines) <= 3, text
    assert lines[0] == "qstar collect-rollouts --dataset mawps --limit 2"  # the command as typed
    assert "runs/r1" in text and "config.yaml" in text
    for setting in (
        "data=mawps/test",
        "limit=2",
        "model=embedded",
        "backend=hf",
        "num_rollouts=1",
        "temperature=0.9",
        "max_tokens=16",
    ):
        assert setting in text, (setting, text)
    for dump in ("sampling:", "policy:", "top_p", "batch_questions", "memory_mb"):
        assert dump not in text, (dump, text)


def test_verbose_adds_the_whole_config(monkeypatch):
    text = _header(monkeypatch, verbose=True)
    assert "runs/r1" in text and "num_rollouts=1" in text
    for dump in ("sampling:", "policy:", "top_p: 1.0", "batch_questions: 32", "memory_mb: 1024"):
        assert dump in text, (dump, text)


def test_a_stage_inside_another_command_is_named_by_its_stage(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(ui, "err", Console(file=buffer, force_terminal=False, width=200))
    monkeypatch.setattr("sys.argv", ["qstar", "repro", "recipes/x.yaml"])
    ui.header("eval", "runs/e", {"search": "greedy"}, "eval:\n  search: greedy\n")
    assert buffer.getvalue().splitlines()[0] == "qstar eval"


def test_quiet_libraries_sets_their_switches_and_verbose_leaves_them(monkeypatch):
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if k not in ui.QUIET_ENV and k != ui.VERBOSE_ENV}
    )
    with warnings.catch_warnings():
        ui.quiet_libraries()
        assert all(os.environ[k] == v for k, v in ui.QUIET_ENV.items())
    for name in ui.QUIET_ENV:
        del os.environ[name]
    os.environ[ui.VERBOSE_ENV] = "1"
    with warnings.catch_warnings():
        ui.quiet_libraries()
        assert not any(k in os.environ for k in ui.QUIET_ENV)


def test_a_stage_reading_an_input_run_shows_its_question_count_not_the_configs_limit():
    # label reads its questions from the rollouts run: a recipe's data.limit (64) did not pick them
    from qstar_cli.cli_flags import resolve
    from qstar_cli.config import LabelConfig
    from qstar_cli.stages.common import run_settings

    config = resolve(
        LabelConfig, None, [], {"data.name": "mawps", "data.limit": 64, "data.offset": 3, "policy.backend": "hf"}
    )
    settings = run_settings(config, "label.method", questions=80)
    assert settings["questions"] == 80 and "limit" not in settings and "offset" not in settings, settings
    assert settings["data"].startswith("mawps/") and settings["method"] == "rollout"
    assert run_settings(config)["limit"] == 64  # a stage that picks its own questions shows them
