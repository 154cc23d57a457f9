"""The `qstar` command line's shared parts: the app, the options and flag groups several commands
take (each flag with the config key it sets), the error handling every command gets, and
`stage_command`, which turns a function of a command's own options into a command that resolves a
stage's config. The commands themselves are in cli.py; these two modules are the only ones that
import typer (with cli_reference.py, which documents them).
"""

from __future__ import annotations

import errno
import functools
import inspect
import signal
from pathlib import Path
from typing import Optional

import typer

from qstar_cli.backends import policy_choices
from qstar_cli.config.sections import STAGES
from qstar_cli.datasets.registry import DATASETS
from qstar_cli.errors import QstarError, stop_signal
from qstar_cli.labelers import LABELERS
from qstar_cli.search import SEARCHERS

app = typer.Typer(
    name="qstar",
    help="Q*: A* over LLM reasoning steps with a learned Q-value model. Stages hand each other JSONL run dirs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Options shared by the stages.
RecipeOpt = typer.Option(None, "--recipe", help="Recipe YAML (defaults < recipe < --set < flags).")
SetOpt = typer.Option(None, "--set", help="Override any config key: --set sampling.top_p=0.95 (repeatable).")
DryRunOpt = typer.Option(False, "--dry-run", help="Print the resolved config and exit without loading a model.")
DatasetOpt = typer.Option(None, "--dataset", "-d", help=" | ".join(DATASETS))
SplitOpt = typer.Option(None, "--split", help="Dataset split (e.g. train, test).")
LimitOpt = typer.Option(None, "--limit", help="Use the first N questions.")
DataDirOpt = typer.Option(None, "--data-dir", help="Local data directory (else $QSTAR_DATA_DIR, else the HF hub).")
ShardOpt = typer.Option(None, "--shard", help="i/n: this machine's share of the questions; join with `qstar merge`.")
ModelOpt = typer.Option(None, "--model", help="HF model id or local folder (default: embedded SmolLM2-135M-Instruct).")
BackendOpt = typer.Option(None, "--backend", help=" | ".join(policy_choices()))
SeedOpt = typer.Option(None, "--seed", help="Seed of the policy engine.")
OutOpt = typer.Option(None, "--out", "-o", help="Run directory to write (rerun the same command to resume).")
StepFormatOpt = typer.Option(None, "--step-format", help="line | blank_line | tokens:N")
NumShotsOpt = typer.Option(None, "--num-shots", help="Worked examples in the prompt (the same for every method).")
VerboseOpt = typer.Option(
    False,
    "--verbose",
    "-v",
    help="Print the whole resolved config and the libraries' own "
    "logs, warnings and loading bars (also QSTAR_VERBOSE=1).",
)
AllowCodeOpt = typer.Option(
    False,
    "--allow-code-execution",
    help="Run model-written code in qstar's sandbox to grade it (MBPP); refused without it.",
)
# from the search registry (pure Python, no torch), so a new method shows up here by itself
SEARCH_HELP = " | ".join(name.replace("_", "-") for name in SEARCHERS)
LABEL_HELP = "; ".join(f"{name}: {method.help}" for name, method in LABELERS.items())

# Flags that several stages share, each with the config key it sets: declared once here and added
# to a command by `stage_command`, which maps their values to config keys itself.
DATA_FLAGS = {
    "dataset": ("data.name", DatasetOpt, Optional[str]),
    "split": ("data.split", SplitOpt, Optional[str]),
    "limit": ("data.limit", LimitOpt, Optional[int]),
    "data_dir": ("data.data_dir", DataDirOpt, Optional[str]),
    "step_format": ("data.step_format", StepFormatOpt, Optional[str]),
    "num_shots": ("data.num_shots", NumShotsOpt, Optional[int]),
    "shard": ("data.shard", ShardOpt, Optional[str]),
    "model": ("policy.model", ModelOpt, Optional[str]),
    "seed": ("policy.seed", SeedOpt, Optional[int]),
}
RUN_FLAGS = {
    "backend": ("policy.backend", BackendOpt, Optional[str]),
    "sample_cache": (
        "policy.sample_cache",
        typer.Option(
            None,
            "--sample-cache",
            help="A folder of samples shared by runs: each state's samples are drawn once, later runs reuse them.",
        ),
        Optional[str],
    ),
    "allow_code": ("execution.allow_code", AllowCodeOpt, bool),
    "ray": (
        "ray.address",
        typer.Option(
            None,
            "--ray",
            help="Run across a Ray cluster, one task per shard, merged into "
            "--out: auto | local | HOST:PORT (needs Ray: the qstar ray extra).",
        ),
        Optional[str],
    ),
    "shards": (
        "ray.shards",
        typer.Option(None, "--shards", help="With --ray: shards (default: as many as the cluster runs at once)."),
        Optional[int],
    ),
}


def _flag(key: str, hint, *names: str, help: str) -> tuple:
    return (key, typer.Option(None, *names, help=help), hint)


# eval's settings: `qstar eval` and `qstar serve` take them
EVAL_FLAGS = {
    "search": _flag("eval.search", Optional[str], "--search", "-s", help=SEARCH_HELP),
    "qvm": _flag(
        "eval.qvm",
        Optional[str],
        "--qvm",
        help="Q-value model: a train-q run dir; or oracle, a diagnostic "
        "that grades continuations against the reference answers (eval.oracle_*).",
    ),
    "utility": _flag(
        "eval.utility", Optional[str], "--utility", help="A* process utility: none | confidence | prm | rule"
    ),
    "prm": _flag("eval.prm", Optional[str], "--prm", help="A Hugging Face PRM for --utility prm or best-of-n."),
    "k": _flag("eval.k", Optional[int], "--k", "-K", help="Candidate steps per expansion (paper: 6)."),
    "lam": _flag("eval.lam", Optional[float], "--lam", help="A*: lambda in f = g + lambda * h."),
    "n_terminals": _flag("eval.n_terminals", Optional[int], "--n-terminals", "-N", help="A*: stop after N terminals."),
    "budget": _flag("eval.budget", Optional[int], "--budget", help="A*: expansions per question."),
    "agg": _flag("eval.agg", Optional[str], "--agg", help="A*: g aggregate: min | max | sum | last"),
    "heuristic": _flag("eval.heuristic", Optional[str], "--heuristic", help="A*: qvalue | lookahead | zero"),
    "temperature": _flag(
        "eval.temperature", Optional[float], "--temperature", help="Sampling temperature of steps/samples."
    ),
    "num_samples": _flag("eval.n", Optional[int], "--num-samples", "-n", help="Samples (self-consistency, best-of-n)."),
    "width": _flag("eval.width", Optional[int], "--width", help="Beam width."),
    "iterations": _flag("eval.iterations", Optional[int], "--iterations", help="MCTS simulations per question."),
    "reflection": (
        "eval.reflection",
        typer.Option(None, "--reflection/--no-reflection", help="MCTS reflection action."),
        Optional[bool],
    ),
    "trees": (
        "eval.trees",
        typer.Option(None, "--trees/--no-trees", help="Save each question's search tree."),
        Optional[bool],
    ),
}


@app.callback()
def app_options(verbose: bool = VerboseOpt):
    """--verbose before the command (`qstar -v eval ...`); every command takes it after too."""
    if verbose:
        from qstar_cli import ui

        ui.set_verbose()


def handle_errors(fn):
    """Every command's wrapper: its --verbose, the libraries kept quiet before any of them loads
    (`ui.quiet_libraries`), and one clear line and a non-zero exit for user errors; finished work
    is already on disk."""

    @functools.wraps(fn)
    def wrapper(*args, verbose: bool = False, **kwargs):
        from qstar_cli import ui

        if verbose:
            ui.set_verbose()
        ui.quiet_libraries()
        try:
            return fn(*args, **kwargs)
        except QstarError as exc:
            ui.err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            signum = stop_signal(exc)
            ui.err.print(
                f"[bold red]stopped[/bold red] ({signal.Signals(signum).name}): finished questions are saved; "
                "rerun the same command to resume"
            )
            raise typer.Exit(128 + signum) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                from qstar_cli.artifacts.jsonl import disk_error

                ui.err.print(
                    f"[bold red]error:[/bold red] {disk_error(exc, exc.filename or 'a file')}", highlight=False
                )
                raise typer.Exit(2) from None
            raise

    own = inspect.signature(fn)
    wrapper.__signature__ = own.replace(
        parameters=[
            *own.parameters.values(),
            inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=VerboseOpt, annotation=bool),
        ]
    )
    return wrapper


def resolve(cls, recipe: Path | None, sets: list[str] | None, flags: dict, base: dict | None = None):
    from qstar_cli.config import resolve as resolve_config

    return resolve_config(cls, recipe, sets or [], flags, base=base)


def stage_command(section: str, *groups: dict, command: str | None = None, act=None):
    """Make `fn` the CLI command of stage `section`, with the flags of `groups` and the options every
    stage has (--out, --recipe, --set, --dry-run) after its own. `fn` maps its own options to
    {config key: value} (and may return a base config too, as label does with its input run's); the
    command resolves the config (defaults < recipe < --set < flags), prints it on --dry-run, or runs
    the stage. A command that uses a stage's config without writing a run (`qstar serve`: `command`)
    has no --out and hands the config to `act(config, dry_run, recipe, **fn's options)` instead."""
    stage = STAGES[section]
    if act is None:
        groups = (*groups, {"out": (f"{section}.out", OutOpt, Optional[str])})
    common = {
        "recipe": (RecipeOpt, Optional[Path]),
        "set_": (SetOpt, Optional[list[str]]),
        "dry_run": (DryRunOpt, bool),
    }

    def wrap(fn):
        keys = {name: key for group in groups for name, (key, _, _) in group.items()}
        extra = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=hint)
            for group in groups
            for name, (_, option, hint) in group.items()
        ]
        extra += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=hint)
            for name, (option, hint) in common.items()
        ]

        @functools.wraps(fn)
        def run(**kwargs):
            from qstar_cli.config import STAGE_CONFIGS

            recipe, sets, dry_run = (kwargs.pop(name) for name in common)
            flags = {key: kwargs.pop(name) for name, key in keys.items()}
            flags = {
                key: None if value is False else value for key, value in flags.items()
            }  # an unset switch sets nothing
            own = fn(**kwargs)
            own, base = own if isinstance(own, tuple) else (own, None)
            config = resolve(STAGE_CONFIGS[section], recipe, sets, {**flags, **own}, base=base)
            if act is not None:
                return act(config, dry_run, recipe, **kwargs)
            from qstar_cli.artifacts.rundir import check_out

            check_out(getattr(config, section).out)  # a file there fails now, not after the work
            if dry_run:  # the resolved config, as far as it goes (a recipe may get its --qvm from qstar repro)
                from qstar_cli.launch.pipeline import dry_run_print

                return dry_run_print(section, config)
            from qstar_cli.launch.pipeline import run_stage

            run_stage(section, config)

        own = inspect.signature(fn, eval_str=True)
        run.__signature__ = own.replace(parameters=[*own.parameters.values(), *extra], return_annotation=None)
        return app.command(command or stage.command)(handle_errors(run))

    return wrap
