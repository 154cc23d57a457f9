"""The `qstar` command line: its commands (the options, flag groups and error handling they share
are in cli_flags.py; these two modules are the only ones that import typer).

Each command maps its explicit flags onto dotted config keys, resolves the config (defaults <
--recipe < --set < flags) and calls its stage's `run`. Heavy libraries (torch, vLLM,
transformers) are imported inside the stages, so `qstar --help` stays instant. Errors a user can
cause are printed as one line with a non-zero exit; an interrupt says where the finished work is.
"""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from qstar_cli import __version__
from qstar_cli.backends import choices as backend_choices
from qstar_cli.cli_flags import (
    DATA_FLAGS,
    EVAL_FLAGS,
    LABEL_HELP,
    RUN_FLAGS,
    OutOpt,
    SetOpt,
    app,
    handle_errors,
    stage_command,
)
from qstar_cli.datasets.registry import DATASETS
from qstar_cli.errors import Stopped


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


# the server's models serve every request's method, whatever its default method reads: options of its own
SERVE_EVAL_FLAGS = {name: flag for name, flag in EVAL_FLAGS.items() if name not in ("qvm", "prm")}


@stage_command(
    "eval", SERVE_DATA_FLAGS, {"backend": RUN_FLAGS["backend"]}, SERVE_EVAL_FLAGS, command="serve", act=_serve
)
def serve(
    qvm: Optional[str] = typer.Option(
        None, "--qvm", help="The Q-value model (a train-q run dir) of the requests whose method uses one."
    ),
    prm: Optional[str] = typer.Option(None, "--prm", help="A Hugging Face PRM for the requests that use one."),
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
        0,
        "--lockstep-below",
        help="Questions in flight below which a round waits for all of them (lockstep); 0: always streamed.",
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
