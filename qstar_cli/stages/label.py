"""`qstar label`: Q-value labels for every (s_t, a_t) of a collect-rollouts run.

The methods (rollout, completion, fqi) are `qstar_cli.labelers.LABELERS`; this stage checks the
input, shows the header and hands the method a `LabelJob`: the questions, the dataset's grader,
the policy and the run folder.

--reuse LABELS_RUN  : labels from the continuations an earlier run of the same rollouts sampled
                      (the first M of each state's): label methods and M compared on the same
                      states and the same samples, with nothing generated.
--shard i/n         : label every n-th question of the rollouts, from the i-th (join the shards
                      with `qstar merge`), for the methods that label each question on its own. A
                      shard run of collect-rollouts is labelled whole (its data.shard is inherited).

The policy, data and sampling settings default to those the rollouts were collected with, so the
policy that labels is the policy that acted. Questions are labelled in batches and each record is
appended as soon as its batch is done, so an interrupted run (or a server that gave up) resumes.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.artifacts.rundir import RunDir, read_stage_run
from qstar_cli.config import LabelConfig, to_dict, to_yaml
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.labelers import LABELERS
from qstar_cli.stages.common import Plan, chunks, dataset_options, grading_dataset, reward, run_settings
from qstar_cli.steps import StepFormat

ME = STAGES["label"]
STAGE, RECORDS = ME.command, ME.records


def input_base(input_dir: str) -> dict:
    """The data/policy/sampling/execution sections of the rollouts run, as the config's base layer.

    Permission to run model-written code is not inherited: each command that runs it says so."""
    path = Path(input_dir) / "config.yaml"
    if not path.exists():
        raise QstarError(f"{input_dir} is not a collect-rollouts run directory (no config.yaml)")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base = {k: config[k] for k in ("data", "policy", "sampling", "execution") if isinstance(config.get(k), dict)}
    if "execution" in base:
        base["execution"] = {k: v for k, v in base["execution"].items() if k != "allow_code"}
    return base


def grader(config: LabelConfig):
    """reward(record, solution text) with the dataset's own grading; `reward.many(pairs)` grades
    many (record, text) pairs in one call (code datasets run them in parallel)."""
    from qstar_cli.datasets.base import Problem
    from qstar_cli.datasets.registry import get_dataset

    dataset = grading_dataset(get_dataset(config.data.name, **dataset_options(config.data)), config.execution)

    def problem_of(record: dict) -> Problem:
        return Problem(id=record["id"], question=record["question"], reference=record["reference"])

    return dataset, reward(dataset, problem_of)


def unshardable(cfg) -> str | None:
    """Why a label run of this method cannot be split into shards, when it cannot."""
    if LABELERS[cfg.method].shardable:
        return None
    return (
        f"--method {cfg.method} labels every question at once and cannot be sharded; label the whole "
        f"rollouts run as one job (its fits use accelerate launch for several GPUs)"
    )


def plan(config: LabelConfig) -> Plan:
    """Every check a user's input can fail that loads no model, and what the run will be: the
    rollouts run's records this run labels (its shard's, with data.shard) and how many the
    unsharded run labels."""
    cfg = config.label
    manifest, records = _rollouts(cfg)
    total = len(records)
    shard = config.data.shard
    input_shard = _input_config(cfg.input).get("data", {}).get("shard")
    if shard and input_shard and shard != input_shard:
        raise QstarError(
            f"{cfg.input} holds shard {input_shard} of its rollouts; label it whole (without "
            f"data.shard), or join the rollout shards first (qstar merge)"
        )
    if shard and not input_shard:
        if unshardable(cfg):
            raise QstarError(unshardable(cfg))
        i, n = (int(x) for x in shard.split("/"))
        records = records[i::n]
        if not records:
            raise QstarError(f"shard {shard} of {cfg.input} holds no questions (it has {total})")
    return Plan(
        out_dir(cfg),
        records,
        total,
        run_inputs(config, manifest),
        unused_sections(config),
        unshardable=unshardable(cfg),
        fmt=StepFormat.parse(records[0]["step_format"]),
        manifest=manifest,
    )


def out_dir(cfg) -> Path:
    """The label run dir: label.out, else qlabels-<method>-<rollouts run> beside the rollouts."""
    return Path(cfg.out) if cfg.out else Path(cfg.input).parent / f"qlabels-{cfg.method}-{Path(cfg.input).name}"


def run(config: LabelConfig) -> Path:
    cfg = config.label
    method = LABELERS[cfg.method]
    p = plan(config)
    job = LabelJob(config, method.configure(cfg), p)
    from qstar_cli.value.train import check_processes, processes

    if not method.trains and processes()[1] > 1:
        fitting = " or ".join(f"--method {name}" for name, m in LABELERS.items() if m.trains)
        raise QstarError(
            f"under accelerate launch only {fitting}'s fits share the work; {cfg.method} labels would be made "
            "once per process: run it as one process, with --shard or --ray"
        )
    check_processes(config.train)
    if processes()[0] == 0:
        keys = (
            "label.input",
            "label.method",
            *method.shown,
            "label.gamma",
            *(("label.reuse",) if method.reuses else ()),
        )
        # after every check a user's input can fail
        ui.header(STAGE, p.out, run_settings(config, *keys, questions=len(p.items)), to_yaml(config))
    return method.run(job)


class LabelJob:
    """What a label method's run (qstar_cli/labelers/) sees of the world: the config (`cfg` is the
    method's own), the questions to label, the dataset and its grader, the policy's backend and
    search environment, and the run folder."""

    def __init__(self, config: LabelConfig, cfg, plan: Plan):
        self.config, self.cfg, self.plan = config, cfg, plan
        self.records, self.fmt, self.out = plan.items, plan.fmt, plan.out
        self.dataset, self.grade = grader(config)
        self.reused = _reused(config, self.records) if config.label.reuse else None
        self.info = ui.info

    def open(self, kind: str = ME.kind, records_name: str = RECORDS) -> RunDir:
        """The run folder (created, or resumed when it holds the same run)."""
        return _open(self.config, self.plan, kind=kind, records_name=records_name)

    def policy(self):
        """The backend of the policy that acted (the rollouts run's)."""
        return self.backend(self.config.policy)

    def backend(self, policy_config):
        from qstar_cli.backends import load_backend

        return load_backend(policy_config)

    def env(self, backend, **options):
        """The search environment on `backend`: labels see the policy as search does."""
        from qstar_cli.environment import PolicySearchEnv

        return PolicySearchEnv(backend, self.dataset, self.fmt, top_p=self.config.sampling.top_p, **options)

    def batches(self, todo: list[dict]):
        return chunks(todo, self.config.label.batch_questions)

    def save(self, rundir: RunDir, session: dict, batches, backend=None, done: int = 0, what: str | None = None):
        """Append each batch's records as it comes; with the `backend` that makes them, under a
        progress bar, and the session counts the tokens it spent (a stopped one too)."""
        if backend is None:
            for batch in batches:
                self._append(rundir, session, batch)
            return
        with backend, ui.progress() as bar:
            task = bar.add_task(
                what or f"label ({self.config.label.method})", total=len(self.records), completed=done, stats=""
            )
            try:
                for batch in batches:
                    self._append(rundir, session, batch)
                    bar.update(task, advance=len(batch), stats=_speed(backend.usage))
            finally:  # a stopped session spent tokens too: the manifest counts them
                session.update(**backend.session_usage())

    @staticmethod
    def _append(rundir: RunDir, session: dict, records: list[dict]) -> None:
        for rec in records:
            rundir.append(rec)
            session["generated_questions"] += 1

    def write_labels(self, rundir: RunDir, records: list[dict]) -> None:
        """The run's labels, all at once (for a run whose own records are something else)."""
        rundir.write_records(ME.kind, RECORDS, records)

    def finish(self, rundir: RunDir, **extra) -> Path:
        """The run completed: its metrics (label_metrics, and `extra`) and the summary table."""
        metrics = rundir.complete(lambda labelled, sessions: {**label_metrics(labelled, sessions), **extra})
        show_summary(metrics, rundir.path)
        return rundir.path


def _rollouts(cfg) -> tuple[dict, list[dict]]:
    """The input run's manifest and the records to label (the first label.limit, if set)."""
    if not cfg.input:
        raise QstarError("qstar label needs the rollouts to label: --input RUN_DIR (a collect-rollouts run)")
    manifest, records = read_stage_run(STAGES["collect"], cfg.input)
    if not records:
        raise QstarError(f"{cfg.input} holds no rollouts to label")
    return manifest, records[: cfg.limit] if cfg.limit else records


def _input_config(input_dir: str) -> dict:
    return yaml.safe_load((Path(input_dir) / "config.yaml").read_text(encoding="utf-8")) or {}


def _open(config: LabelConfig, plan: Plan, kind: str, records_name: str) -> RunDir:
    config.label.out = str(plan.out)
    trains = LABELERS[config.label.method].trains
    seeds = {"policy": config.policy.seed, **({"train": config.train.seed} if trains else {})}
    return RunDir.open(
        plan.out,
        stage=STAGE,
        kind=kind,
        records_name=records_name,
        config=to_dict(config),
        inputs=plan.inputs,
        expected_ids=[r["id"] for r in plan.items],
        total_questions=plan.total,
        seeds=seeds,
        unused=plan.unused,
    )


def run_inputs(config: LabelConfig, rollouts_manifest: dict) -> dict:
    """What the run is made from besides its config (see RunDir.open): the rollouts run, as it was."""
    cfg = config.label
    inputs = {"rollouts": str(Path(cfg.input).resolve()), "rollouts_sha256": rollouts_manifest.get("records_sha256")}
    if cfg.reuse:
        inputs["reused_labels"] = str(Path(cfg.reuse).resolve())
    return inputs


def unused_sections(config: LabelConfig) -> tuple[str, ...]:
    """Only a method that trains (FQI) reads the train section: the other methods' labels do not
    depend on it, and a recipe shared by label and train-q may change it between the two stages."""
    return () if LABELERS[config.label.method].trains else ("train",)


def _reused(config: LabelConfig, records: list[dict]) -> dict[str, dict]:
    """The reused label run's records by question id, checked against these rollouts: the first M of
    each state's continuations (M = the method's continuations per state)."""
    from qstar_cli.labelers.continuation import check_reuse

    cfg = config.label
    _, old = read_stage_run(ME, cfg.reuse)
    reused = {r["id"]: r for r in old}
    check_reuse(records, reused, LABELERS[cfg.method].configure(cfg).samples, cfg.reuse)
    return reused


def _speed(usage) -> str:
    return f"{usage.generated_tokens:,} tokens  {usage.generated_tokens / max(usage.seconds, 1e-9):,.0f} tok/s"


def label_metrics(records: list[dict], sessions: list[dict]) -> dict:
    nodes = [n for r in records for n in r["nodes"]]
    ys = [n["y"] for n in nodes]
    inner = [n for n in nodes if not n["terminal"]]
    return {
        "questions": len(records),
        "labels": len(nodes),
        "terminal_labels": len(nodes) - len(inner),
        "mean_y": sum(ys) / len(ys) if ys else 0.0,
        "positive_rate": sum(y >= 0.5 for y in ys) / len(ys) if ys else 0.0,
        "distinct_y": len({round(y, 6) for y in ys}),
        "mean_soft": sum(n.get("soft", n["y"]) for n in nodes) / len(nodes) if nodes else 0.0,
        "questions_with_a_positive": sum(any(n["y"] >= 0.5 for n in r["nodes"]) for r in records),
        "rollouts": sum(n.get("n", 0) for n in inner),
        "generated_tokens": sum(s.get("generated_tokens", 0) for s in sessions),
        "wall_seconds": round(sum(s.get("seconds", 0.0) for s in sessions), 3),
        "backend_retries": sum(s.get("retries", 0) for s in sessions),
    }


def show_summary(metrics: dict, path: Path) -> None:
    m = metrics
    ui.summary(
        f"label -> {path}",
        [
            ("questions", str(m["questions"])),
            ("labelled (s, a) pairs", f"{m['labels']:,}"),
            ("  of which terminal", f"{m['terminal_labels']:,}"),
            ("mean y", f"{m['mean_y']:.3f}"),
            ("share with y >= 0.5", f"{m['positive_rate']:.1%}"),
            ("mean soft label", f"{m['mean_soft']:.3f}"),
            ("questions with a positive label", str(m["questions_with_a_positive"])),
            ("generated tokens", f"{m['generated_tokens']:,}"),
            ("wall time", f"{m['wall_seconds']:.1f} s"),
        ],
    )
