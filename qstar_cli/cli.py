"""The `qstar` command line: the only module that imports typer.

Each command maps its explicit flags onto dotted config keys, resolves the config (defaults <
--recipe < --set < flags) and calls its stage's `run`. Heavy libraries (torch, vLLM,
transformers) are imported inside the stages, so `qstar --help` stays instant. Errors a user can
cause are printed as one line with a non-zero exit; an interrupt says where the finished work is.
"""

from __future__ import annotations

import errno
import functools
import inspect
import shlex
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from qstar_cli import __version__
from qstar_cli.backends import choices as backend_choices
from qstar_cli.backends import policy_choices
from qstar_cli.config.sections import STAGES
from qstar_cli.datasets.registry import DATASETS
from qstar_cli.errors import QstarError, Stopped, stop_signal
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


def resolve(cls, recipe: Optional[Path], sets: Optional[list[str]], flags: dict, base: Optional[dict] = None):
    from qstar_cli.config import resolve as resolve_config

    return resolve_config(cls, recipe, sets or [], flags, base=base)


def stage_command(section: str, *groups: dict, command: Optional[str] = None, act=None):
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


@stage_command("collect", DATA_FLAGS, RUN_FLAGS)
def collect_rollouts(
    num_rollouts: Optional[int] = typer.Option(None, "--num-rollouts", "-M", help="Complete solutions per question."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (paper: 0.9 math)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token limit of one solution."),
):
    """Sample M complete, step-split solutions per question from the frozen policy -> rollouts.jsonl."""
    return {
        "collect.num_rollouts": num_rollouts,
        "sampling.temperature": temperature,
        "sampling.max_tokens": max_tokens,
    }


@stage_command("label", RUN_FLAGS, {"shard": DATA_FLAGS["shard"]})
def label(
    input_dir: Optional[str] = typer.Option(None, "--input", "-i", help="A collect-rollouts run directory."),
    method: Optional[str] = typer.Option(None, "--method", help=LABEL_HELP),
    num_rollouts: Optional[int] = typer.Option(
        None, "--num-rollouts", "-M", help="Continuations per (s, a) (rollout)."
    ),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="Discount (default 1)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="FQI iterations L."),
    candidates: Optional[int] = typer.Option(None, "--candidates", "-K", help="FQI candidate actions per state."),
    init_qvm: Optional[str] = typer.Option(None, "--init-qvm", help="FQI: Q_0 from this QVM (default 0)."),
    strong_model: Optional[str] = typer.Option(None, "--strong-model", help="completion: the stronger policy."),
    strong_backend: Optional[str] = typer.Option(
        None, "--strong-backend", help="completion: " + " | ".join(backend_choices())
    ),
    strong_samples: Optional[int] = typer.Option(
        None, "--strong-samples", help="completion: 1 = greedy, M = best of M."
    ),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="openai: server URL (else $OPENAI_BASE_URL)."),
    reuse: Optional[str] = typer.Option(
        None,
        "--reuse",
        help="Relabel from a label run's recorded continuations (the first M per state); generates nothing.",
    ),
    backbone: Optional[str] = typer.Option(None, "--backbone", help="FQI: QVM backbone."),
):
    """Q-value labels for every (state, step) of a rollouts run -> qlabels.jsonl."""
    from qstar_cli.stages import label as label_stage

    flags = {
        "label.input": input_dir,
        "label.method": method,
        "label.num_rollouts": num_rollouts,
        "label.gamma": gamma,
        "label.iterations": iterations,
        "label.candidates": candidates,
        "label.init_qvm": init_qvm,
        "label.strong_model": strong_model,
        "label.strong_backend": strong_backend,
        "label.strong_samples": strong_samples,
        "label.reuse": reuse,
        "label.strong_options": {"openai": {"base_url": base_url}} if base_url else None,
        "train.backbone": backbone,
    }
    return flags, label_stage.input_base(input_dir) if input_dir else None


@stage_command("train")
def train_q(
    labels: Optional[list[str]] = typer.Option(None, "--labels", "-l", help="Label run directories (repeatable)."),
    backbone: Optional[str] = typer.Option(
        None,
        "--backbone",
        help="HF id or folder; 'embedded' = SmolLM2-135M; 'policy' = a head on the frozen policy's hidden states.",
    ),
    epochs: Optional[float] = typer.Option(None, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr"),
    max_length: Optional[int] = typer.Option(None, "--max-length"),
    target: Optional[str] = typer.Option(None, "--target", help="max (best outcome, the paper) | soft (mean outcome)."),
    class_balance: Optional[bool] = typer.Option(
        None, "--class-balance/--no-class-balance", help="Weight positives and negatives to count alike."
    ),
    pairwise: Optional[float] = typer.Option(
        None, "--pairwise", help="Weight of a ranking loss between sibling steps."
    ),
    validation_fraction: Optional[float] = typer.Option(
        None, "--validation-fraction", help="Keep the weights with the best AUC on these training questions."
    ),
    max_questions: Optional[int] = typer.Option(
        None, "--max-questions", help="Train on this many questions (learning curves)."
    ),
    group_by_length: Optional[bool] = typer.Option(
        None,
        "--group-by-length/--no-group-by-length",
        help="Batches of rows of about one length: less padding, faster.",
    ),
    seed: Optional[int] = typer.Option(None, "--seed"),
):
    """Train the Q-value model on label runs -> a QVM directory usable by search."""
    return {
        "train.labels": labels or None,
        "train.backbone": backbone,
        "train.epochs": epochs,
        "train.max_steps": max_steps,
        "train.batch_size": batch_size,
        "train.learning_rate": learning_rate,
        "train.max_length": max_length,
        "train.target": target,
        "train.class_balance": class_balance,
        "train.pairwise": pairwise,
        "train.validation_fraction": validation_fraction,
        "train.max_questions": max_questions,
        "train.group_by_length": group_by_length,
        "train.seed": seed,
    }


@stage_command("eval", DATA_FLAGS, RUN_FLAGS, EVAL_FLAGS)
def eval_():
    """Answer a dataset with one search method -> predictions.jsonl + metrics.json."""
    return {}


def _serve(config, dry_run: bool, recipe: Optional[Path], dataset: Optional[str], **options):
    from qstar_cli.serve.main import ServeOptions, raw_prompts, serve

    serve(config, ServeOptions(**options, raw=raw_prompts(dataset, recipe)), dry_run=dry_run)


SERVE_DATA_FLAGS = {name: DATA_FLAGS[name] for name in ("data_dir", "step_format", "num_shots", "model", "seed")}


@stage_command("eval", SERVE_DATA_FLAGS, {"backend": RUN_FLAGS["backend"]}, EVAL_FLAGS, command="serve", act=_serve)
def serve(
    dataset: Optional[str] = typer.Option(
        None,
        "--dataset",
        "-d",
        help="Whose prompt format and answer extraction the questions get: "
        + " | ".join(DATASETS)
        + "; none (the default without a recipe that names one): prompts go to the policy as they are.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    name: str = typer.Option("qstar", "--name", help="The model name clients send (GET /v1/models lists it)."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", help="Answer only requests with Authorization: Bearer KEY (also $QSTAR_API_KEY)."
    ),
    max_queue: int = typer.Option(256, "--max-queue", help="Questions queued or in flight; beyond: 429."),
    grace: float = typer.Option(30.0, "--grace", help="Seconds the requests in flight get after SIGTERM."),
    lockstep_below: int = typer.Option(
        32, "--lockstep-below", help="Questions in flight below which a round waits for all (lockstep)."
    ),
):
    """Serve a search method behind an OpenAI-compatible API: /v1/completions, /v1/chat/completions."""
    return {"data.name": dataset if dataset not in (None, "none") else None}


launch_app = typer.Typer(
    help="Run a stage across machines: one shard per task, merged into one run.", no_args_is_help=True
)
app.add_typer(launch_app, name="launch")


@launch_app.command("slurm")
@handle_errors
def launch_slurm(
    stage: str = typer.Option(..., "--stage", help="collect-rollouts | label | eval"),
    recipe: Path = typer.Option(..., "--recipe", help="The stage's recipe (every shard runs it)."),
    shards: int = typer.Option(..., "--shards", help="Array tasks: task i runs --shard i/N."),
    gpus_per_shard: int = typer.Option(
        0, "--gpus-per-shard", help="GPUs per task (the policy's tensor x pipeline parallel size)."
    ),
    cpus_per_shard: int = typer.Option(0, "--cpus-per-shard", help="CPUs per task (0: Slurm's default)."),
    mem: Optional[str] = typer.Option(None, "--mem", help="Memory per task, e.g. 64G."),
    time_limit: Optional[str] = typer.Option(None, "--time", help="Time limit per task, e.g. 4:00:00."),
    partition: Optional[str] = typer.Option(None, "--partition", "-p"),
    retries: int = typer.Option(1, "--retries", help="Reruns of a failed task within it (each resumes its shard)."),
    sbatch: Optional[list[str]] = typer.Option(
        None, "--sbatch", help="Another sbatch option, e.g. --sbatch=--account=lab (repeatable)."
    ),
    python: Optional[str] = typer.Option(None, "--python", help="The Python on the nodes (default: this one)."),
    set_: Optional[list[str]] = SetOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Write and print the sbatch scripts; submit nothing."),
):
    """Submit a stage as a Slurm array (one shard per task) and a merge job after it (afterok)."""
    from qstar_cli import ui
    from qstar_cli.launch import slurm

    job = slurm.plan(
        stage,
        recipe,
        set_ or [],
        shards,
        gpus_per_shard=gpus_per_shard,
        cpus_per_shard=cpus_per_shard,
        mem=mem,
        time=time_limit,
        partition=partition,
        retries=retries,
        sbatch_args=tuple(sbatch or ()),
        **({"python": python} if python else {}),
    )
    if dry_run:
        for path in slurm.write(job):
            typer.echo(f"# {path}\n{path.read_text()}")  # as written: no wrapping, ready to paste
        array, merge = slurm.submit_args(job)
        typer.echo("# to submit by hand: the array (it prints its job id), then the merge after it")
        if array:
            typer.echo(f"ARRAY_ID=$(sbatch --parsable {' '.join(map(shlex.quote, array))})")
        typer.echo(f"sbatch {' '.join(shlex.quote(a) if not a.startswith('--dependency') else a for a in merge)}")
        return
    array_id, merge_id = slurm.submit(job)
    if merge_id is None:
        ui.info(f"{job.out} is already complete; nothing to submit")
        return
    todo = "every shard" if array_id and len(job.unfinished()) == job.shards else "the unfinished shards"
    ui.info(
        f"submitted {todo} as array job {array_id} and the merge as job {merge_id} (after the array succeeds) "
        f"-> {job.out}"
        if array_id
        else f"every shard is complete: submitted the merge as job {merge_id} -> {job.out}"
    )
    ui.info(
        f"logs in {job.folder / 'logs'}; a failed shard: rerun this command (finished shards and questions are kept)"
    )


@app.command("report")
@handle_errors
def report(
    runs: list[str] = typer.Argument(..., help="Eval run directories to compare."),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", help="Folder for report.md, report.html, the plot (PNG, SVG) and tree views."
    ),
    baseline: Optional[list[str]] = typer.Option(
        None,
        "--baseline",
        help="Run (dir or name) or method (e.g. greedy) the paired tests "
        "compare against (repeatable: each run against each); default: "
        "each dataset's first run.",
    ),
    paired_tests: bool = typer.Option(True, "--paired/--no-paired", help="Paired tests against the baseline."),
    tree: Optional[list[str]] = typer.Option(
        None,
        "--tree",
        help="Question id whose search tree to draw (repeatable; 'all' = every "
        "saved tree). Default: the first saved tree of each run.",
    ),
):
    """Compare eval runs: accuracy with 95% CI, compute per question, paired tests, a plot and search trees."""
    from qstar_cli.artifacts.rundir import check_out
    from qstar_cli.stages import report as report_stage

    check_out(out)
    report_stage.run(runs, out, baseline=baseline or None, pair=paired_tests, tree_ids=tree or None)


@app.command("run")
@handle_errors
def run_recipes(
    recipes: list[Path] = typer.Argument(
        ..., help="Recipes whose stages (collect, label, train, eval) to run, in order."
    ),
    set_: Optional[list[str]] = SetOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every stage's resolved config, run nothing."),
):
    """Run the stages of several recipes in order, in one process (one engine start), each as its own command would."""
    from qstar_cli.launch import pipeline

    pipeline.run([str(r) for r in recipes], set_ or [], dry_run)


@app.command("repro")
@handle_errors
def repro(
    recipe: Path = typer.Argument(..., help="Recipe whose stages (collect, label, train, eval) to rerun."),
    expect: Optional[str] = typer.Option(
        None, "--expect", help="Expected results JSON: fail when a metric leaves its recorded CI or tolerance."
    ),
    record: Optional[str] = typer.Option(None, "--record", help="Write the rerun's numbers as an expect file."),
    out: Optional[str] = OutOpt,
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted reproduction in --out."),
    set_: Optional[list[str]] = SetOpt,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print every stage's resolved config, check the expect file, run nothing."
    ),
):
    """Rerun a recipe into a fresh folder and check its metrics against recorded results (exit 1 if one is off)."""
    from qstar_cli.artifacts.rundir import check_out
    from qstar_cli.launch import repro as repro_stage

    check_out(out)
    repro_stage.run(str(recipe), expect, out, set_ or [], record, resume, dry_run)


@app.command("merge")
@handle_errors
def merge(
    shards: list[str] = typer.Argument(..., help="Run directories of the shards (0/n .. n-1/n)."),
    out: str = typer.Option(..., "--out", "-o", help="Directory for the merged run."),
):
    """Join the shard runs of one stage into one complete run (fails on duplicate or missing ids)."""
    from qstar_cli.artifacts.rundir import check_out
    from qstar_cli.stages import merge as merge_stage

    check_out(out)
    merge_stage.run(shards, out)


@app.command("version")
def version():
    """Print qstar's version."""
    typer.echo(__version__)


def _stop(signum, frame):
    signal.signal(signum, signal.SIG_DFL)  # a second signal while the first unwinds ends the process at once
    raise Stopped(signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    # a file size limit (RLIMIT_FSIZE) makes a write fail with EFBIG, a clear error, instead of
    # killing the process with SIGXFSZ
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    app()


if __name__ == "__main__":
    sys.exit(main())
