"""`qstar label`: Q-value labels for every (s_t, a_t) of a collect-rollouts run.

--method rollout    : the policy samples M continuations from each s_{t+1}; y = best outcome.
--method completion : a stronger policy (local, or any OpenAI-compatible server) completes each
                      s_{t+1}, greedily or M times; y = its (best) outcome.
--method fqi        : fitted Q-iteration over K candidate actions sampled once (labelers/fqi.py has
                      the targets; this stage samples the candidates once into candidates.jsonl,
                      fits Q_l into iter_<l>/ and writes the final targets as the labels).
--num-rollouts 0    : rollout labels from the collected trajectories' own endings only (each is a
                      policy rollout from s_{t+1}): nothing is generated.
--reuse LABELS_RUN  : rollout/completion labels from the continuations an earlier run of the same
                      rollouts sampled (the first M of each state's): label methods and M compared on
                      the same states and the same samples, with nothing generated.
--shard i/n         : rollout and completion label every n-th question of the rollouts, from the i-th
                      (join the shards with `qstar merge`); FQI fits on every question at once. A
                      shard run of collect-rollouts is labelled whole (its data.shard is inherited).

The policy, data and sampling settings default to those the rollouts were collected with, so the
policy that labels is the policy that acted. Questions are labelled in batches and each record is
appended as soon as its batch is done, so an interrupted run (or a server that gave up) resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.artifacts.rundir import RunDir, write_json_atomic
from qstar_cli.config import LabelConfig, to_dict, to_yaml
from qstar_cli.errors import QstarError
from qstar_cli.stages import STAGES
from qstar_cli.stages.common import chunks, dataset_options, grading_dataset, reward, run_settings
from qstar_cli.steps import MAX_STEP_TOKENS, StepFormat

ME = STAGES["label"]
STAGE, RECORDS = ME.command, ME.records
# the settings of each method that the header shows (`run_settings`)
HEADER_KEYS = {
    "rollout": ("label.input", "label.method", "label.num_rollouts", "label.gamma", "label.reuse"),
    "completion": ("label.input", "label.method", "label.strong_model", "label.strong_samples", "label.gamma",
                   "label.reuse"),
    "fqi": ("label.input", "label.method", "label.iterations", "label.candidates", "label.init_qvm", "train.backbone",
            "label.gamma"),
}


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


def refuse_shards(cfg) -> None:
    """A sharded label run (data.shard, or a launcher's shards) labels each shard's questions alone."""
    if cfg.method == "fqi":
        raise QstarError("--method fqi fits its Q-value models on every question at once and cannot be "
                         "sharded; label the whole rollouts run as one job (FQI's fits use accelerate "
                         "launch for several GPUs)")


def check(config: LabelConfig) -> tuple[dict, list[dict], int]:
    """Every check a user's input can fail that loads no model: (the rollouts run's manifest, the
    records this run labels, how many the unsharded run labels)."""
    cfg = config.label
    manifest, records = _rollouts(cfg)
    total = len(records)
    shard = config.data.shard
    input_shard = _input_config(cfg.input).get("data", {}).get("shard")
    if shard and input_shard and shard != input_shard:
        raise QstarError(f"{cfg.input} holds shard {input_shard} of its rollouts; label it whole (without "
                         f"data.shard), or join the rollout shards first (qstar merge)")
    if shard and not input_shard:
        refuse_shards(cfg)
        i, n = (int(x) for x in shard.split("/"))
        records = records[i::n]
        if not records:
            raise QstarError(f"shard {shard} of {cfg.input} holds no questions (it has {total})")
    return manifest, records, total


def out_dir(cfg) -> Path:
    """The label run dir: label.out, else qlabels-<method>-<rollouts run> beside the rollouts."""
    return Path(cfg.out) if cfg.out else Path(cfg.input).parent / f"qlabels-{cfg.method}-{Path(cfg.input).name}"


def run(config: LabelConfig) -> Path:
    cfg = config.label
    manifest, records, total = check(config)
    fmt = StepFormat.parse(records[0]["step_format"])
    dataset, grade = grader(config)
    reused = _reused(config, records) if cfg.reuse else None
    from qstar_cli.value.train import check_processes, processes

    if cfg.method != "fqi" and processes()[1] > 1:
        raise QstarError(f"under accelerate launch only --method fqi's fits share the work; {cfg.method} labels "
                         "would be made once per process: run it as one process, with --shard or --ray")
    check_processes(config.train)
    if processes()[0] == 0:
        ui.header(STAGE, out_dir(cfg), run_settings(config, *HEADER_KEYS[cfg.method], questions=len(records)),
                  to_yaml(config))  # after every check a user's input can fail
    if cfg.method == "fqi":
        return _fqi(config, dataset, manifest, records, fmt, grade)  # never sharded: check says so

    rundir = _open(config, manifest, records, total, kind=ME.kind, records_name=RECORDS)
    todo = rundir.todo(records, lambda r: r["id"])
    with rundir.session() as session:
        if todo and (reused is not None or _samples(cfg) == 0):  # nothing to generate
            _relabel(config, reused, todo, rundir, session)
        elif todo:
            _label(config, dataset, todo, fmt, grade, rundir, session, len(records) - len(todo), len(records))
    metrics = rundir.complete(label_metrics)
    show_summary(metrics, rundir.path)
    return rundir.path


def _rollouts(cfg) -> tuple[dict, list[dict]]:
    """The input run's manifest and the records to label (the first label.limit, if set)."""
    if not cfg.input:
        raise QstarError("qstar label needs the rollouts to label: --input RUN_DIR (a collect-rollouts run)")
    manifest, records = STAGES["collect"].read(cfg.input)
    if not records:
        raise QstarError(f"{cfg.input} holds no rollouts to label")
    return manifest, records[:cfg.limit] if cfg.limit else records


def _input_config(input_dir: str) -> dict:
    return yaml.safe_load((Path(input_dir) / "config.yaml").read_text(encoding="utf-8")) or {}


def _open(config: LabelConfig, manifest: dict, records: list[dict], total: int, kind: str,
          records_name: str) -> RunDir:
    cfg = config.label
    out = out_dir(cfg)
    cfg.out = str(out)
    seeds = {"policy": config.policy.seed, **({"train": config.train.seed} if cfg.method == "fqi" else {})}
    return RunDir.open(out, stage=STAGE, kind=kind, records_name=records_name, config=to_dict(config),
                       inputs=run_inputs(config, manifest), expected_ids=[r["id"] for r in records],
                       total_questions=total, seeds=seeds, unused=unused_sections(config))


def run_inputs(config: LabelConfig, rollouts_manifest: dict) -> dict:
    """What the run is made from besides its config (see RunDir.open): the rollouts run, as it was."""
    cfg = config.label
    inputs = {"rollouts": str(Path(cfg.input).resolve()), "rollouts_sha256": rollouts_manifest.get("records_sha256")}
    if cfg.reuse:
        inputs["reused_labels"] = str(Path(cfg.reuse).resolve())
    return inputs


def unused_sections(config: LabelConfig) -> tuple[str, ...]:
    """Only FQI trains: the other methods' labels do not depend on the train section, which a recipe
    shared by label and train-q may change between the two stages."""
    return () if config.label.method == "fqi" else ("train",)


def _samples(cfg) -> int:
    """Continuations per state: M for rollout, the stronger policy's samples for completion."""
    return cfg.num_rollouts if cfg.method == "rollout" else cfg.strong_samples


def _reused(config: LabelConfig, records: list[dict]) -> dict[str, dict]:
    """The reused label run's records by question id, checked against these rollouts."""
    from qstar_cli.labelers.continuation import check_reuse

    cfg = config.label
    if cfg.method == "fqi":
        raise QstarError("--reuse relabels rollout or completion labels; fqi samples candidate actions of its own")
    _, old = ME.read(cfg.reuse)
    reused = {r["id"]: r for r in old}
    check_reuse(records, reused, _samples(cfg), cfg.reuse)
    return reused


def _relabel(config: LabelConfig, reused: dict[str, dict], todo: list[dict], rundir, session) -> None:
    from qstar_cli.labelers.continuation import relabel

    cfg = config.label
    include_own = cfg.method == "rollout" and cfg.include_own_ending
    for rec in relabel(todo, reused or {}, n=_samples(cfg), gamma=cfg.gamma, include_own=include_own,
                       method=cfg.method):
        rundir.append(rec)
        session["generated_questions"] += 1


def _strong_backend(config: LabelConfig):
    """The stronger policy: the policy's settings with the strong model, backend and options."""
    from qstar_cli.backends import load_backend

    cfg = config.label
    options = {name: {**config.policy.options.get(name, {}), **opts} for name, opts in cfg.strong_options.items()}
    strong = type(config.policy)(**{**vars(config.policy), "model": cfg.strong_model, "backend": cfg.strong_backend,
                                    "options": {**config.policy.options, **options}})
    return load_backend(strong)


def _label(config: LabelConfig, dataset, todo, fmt, grade, rundir, session, done: int, total: int) -> None:
    from qstar_cli.environment import PolicySearchEnv
    from qstar_cli.labelers.continuation import label_batches

    cfg = config.label
    ui.info("loading the policy ...")
    prompt_for = None
    if cfg.method == "rollout":
        from qstar_cli.backends import load_backend

        backend = load_backend(config.policy)
        n = cfg.num_rollouts
        temperature = cfg.temperature if cfg.temperature is not None else config.sampling.temperature
    else:  # completion
        backend = _strong_backend(config)
        n = cfg.strong_samples
        temperature = 0.0 if n == 1 else cfg.strong_temperature
        if getattr(backend, "tokenizer", None) is not None:
            from qstar_cli.datasets.base import Problem

            def prompt_for(rec):  # the stronger model reads the question in its own chat format
                problem = Problem(id=rec["id"], question=rec["question"], reference=rec["reference"])
                return backend.render(dataset.messages(problem, num_shots=config.data.num_shots))
    # the labels see the policy as search does: one environment, continuations to the end
    env = PolicySearchEnv(backend, dataset, fmt, max_tokens=cfg.max_tokens or config.sampling.max_tokens,
                          top_p=config.sampling.top_p)
    with backend, ui.progress() as bar:
        task = bar.add_task(f"label ({cfg.method})", total=total, completed=done, stats="")
        batches = chunks(todo, cfg.batch_questions)
        try:
            for labelled in label_batches(batches, env, grade, fmt, n=n, temperature=temperature, gamma=cfg.gamma,
                                          include_own=cfg.method == "rollout" and cfg.include_own_ending,
                                          method=cfg.method, prompt_for=prompt_for):
                for rec in labelled:
                    rundir.append(rec)
                    session["generated_questions"] += 1
                bar.update(task, advance=len(labelled), stats=_speed(backend.usage))
        finally:  # a stopped session spent tokens too: the manifest counts them
            session.update(**backend.session_usage())


def _speed(usage) -> str:
    return f"{usage.generated_tokens:,} tokens  {usage.generated_tokens / max(usage.seconds, 1e-9):,.0f} tok/s"


# ---- fitted Q-iteration ---------------------------------------------------------------------



def _fqi(config: LabelConfig, dataset, manifest: dict, records: list[dict], fmt, grade) -> Path:
    """Candidates once (resumable, candidates.jsonl), then L fits, each in iter_<l>/ (a finished
    one is reused on resume), then the final targets as the run's labels."""
    from qstar_cli.labelers import fqi

    from qstar_cli.value.train import processes

    cfg = config.label
    if processes()[0] != 0:  # under accelerate launch: the first process samples and writes; all fit
        out = out_dir(cfg)
        candidates = _await_candidates(out / fqi.CANDIDATES, len(records))
        _fqi_iterations(config, out, records, candidates, fmt)
        return out
    rundir = _open(config, manifest, records, len(records), kind="candidates", records_name=fqi.CANDIDATES)
    todo = rundir.todo(records, lambda r: r["id"])
    with rundir.session() as session:
        if todo:
            with _alone():
                _fqi_candidates(config, dataset, rundir, session, records, todo, fmt, grade)
        candidates = {c["id"]: c["nodes"] for c in rundir.iter_records()}
        history, ys = _fqi_iterations(config, rundir.path, records, candidates, fmt)
        rundir.write_records(ME.kind, RECORDS, fqi.label_records(records, ys, cfg.gamma))
    final_qvm = str(rundir.path / f"iter_{cfg.iterations}" / "qvm")
    metrics = rundir.complete(lambda labelled, sessions: {**label_metrics(labelled, sessions), "iterations": history,
                                                          "final_qvm": final_qvm})
    show_summary(metrics, rundir.path)
    return rundir.path


LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def _alone():
    """The policy engine of the first process under accelerate launch sees no launcher variables: it
    samples alone (an engine reading RANK or MASTER_PORT would try to join the training's group)."""
    saved = {key: os.environ.pop(key) for key in LAUNCHER_ENV if key in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _await_candidates(path: Path, questions: int, poll: float = 5.0) -> dict:
    """The other processes of an FQI run under accelerate launch: the first one's candidates, once it
    has written every question's (if it fails, accelerate stops them all)."""
    import time

    from qstar_cli.artifacts.jsonl import iter_jsonl
    from qstar_cli.artifacts.records import check_record

    while not path.exists() or path.read_bytes().count(b"\n") < questions:
        time.sleep(poll)
    records = (check_record("candidates", rec, f"{path}:{line}") for line, rec in iter_jsonl(path))
    return {rec["id"]: rec["nodes"] for rec in records}


def _fqi_iterations(config: LabelConfig, out: Path, records: list[dict], candidates: dict, fmt):
    """(each iteration's statistics, the last targets y_L): y_l from Q_{l-1}, then Q_l fitted on y_l."""
    from qstar_cli.labelers import fqi
    from qstar_cli.value.model import QVM

    cfg = config.label
    scores = None  # Q_0 = 0, unless an initial QVM is given
    if cfg.init_qvm:
        qvm = QVM.load(cfg.init_qvm, batch_size=config.train.score_batch_size)
        qvm.check_compatible(str(fmt))
        scores = fqi.score_candidates(qvm, records, candidates)
    history = []
    for it in range(1, cfg.iterations + 1):
        ys = fqi.targets(records, candidates, scores, cfg.gamma)
        qvm, stats = _fqi_fit(config, out / f"iter_{it}", fqi.target_stats(it, ys), fqi.label_records(records, ys, cfg.gamma), fmt)
        history.append(stats)
        if it < cfg.iterations:  # the last model's scores would feed no further target
            scores = fqi.score_candidates(qvm, records, candidates)
    return history, ys


def _fqi_candidates(config: LabelConfig, dataset, rundir: RunDir, session: dict, records: list[dict], todo: list[dict],
                    fmt, grade) -> None:
    """K proposed next actions at every open state of every question not yet done, a record each; the
    session counts the tokens they cost (FQI's only generation)."""
    from qstar_cli.backends import load_backend
    from qstar_cli.environment import PolicySearchEnv
    from qstar_cli.labelers.fqi import candidate_records
    from qstar_cli.labelers.tree import open_states

    cfg = config.label
    temperature = cfg.temperature if cfg.temperature is not None else config.sampling.temperature
    ui.info("loading the policy to propose candidate actions ...")
    with load_backend(config.policy) as backend, ui.progress() as bar:
        env = PolicySearchEnv(backend, dataset, fmt, max_step_tokens=MAX_STEP_TOKENS, top_p=config.sampling.top_p)
        task = bar.add_task("fqi candidates", total=len(records), completed=len(records) - len(todo), stats="")
        try:
            for batch in chunks(todo, cfg.batch_questions):
                trees, requests, owners = open_states(batch)
                proposals = env.propose(requests, cfg.candidates, temperature) if requests else []
                for rec in candidate_records(batch, trees, owners, proposals, grade):
                    rundir.append(rec)
                    session["generated_questions"] += 1
                bar.update(task, advance=len(batch), stats=_speed(backend.usage))
        finally:  # a stopped session spent tokens too: the manifest counts them
            session.update(**backend.session_usage())
    rundir.close()  # the candidates are read back at once


def _fqi_fit(config: LabelConfig, it_dir: Path, stats: dict, labelled: list[dict], fmt):
    """(Q_l, its statistics): fitted on this iteration's targets into it_dir, or the one a
    finished earlier session left there."""
    from qstar_cli.value.fit import examples_from_records, fit_qvm
    from qstar_cli.value.model import QVM, QVMMeta

    from qstar_cli.value.train import processes

    first = processes()[0] == 0  # under accelerate launch the first process speaks and writes
    done_file = it_dir / "metrics.json"
    if done_file.exists() and (it_dir / "qvm" / "qstar_qvm.json").exists():
        if first:
            ui.info(f"fqi iteration {stats['iteration']} already trained; reusing {it_dir / 'qvm'}")
        return QVM.load(it_dir / "qvm", batch_size=config.train.score_batch_size), json.loads(done_file.read_text())
    if first:
        ui.info(f"fqi iteration {stats['iteration']}/{config.label.iterations}: mean target {stats['mean_y']:.3f}")
    meta = QVMMeta(step_format=str(fmt), datasets=[config.data.name], policy=config.policy.model or "embedded",
                   label_method="fqi")
    # every process holds the same weights after the fit, so each scores the next targets itself
    qvm, stats["train"] = fit_qvm(examples_from_records(labelled), config.train, it_dir, meta)
    if first:
        write_json_atomic(done_file, stats)
    return qvm, stats


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
        "distinct_y": len(set(round(y, 6) for y in ys)),
        "mean_soft": sum(n.get("soft", n["y"]) for n in nodes) / len(nodes) if nodes else 0.0,
        "questions_with_a_positive": sum(any(n["y"] >= 0.5 for n in r["nodes"]) for r in records),
        "rollouts": sum(n.get("n", 0) for n in inner),
        "generated_tokens": sum(s.get("generated_tokens", 0) for s in sessions),
        "wall_seconds": round(sum(s.get("seconds", 0.0) for s in sessions), 3),
        "backend_retries": sum(s.get("retries", 0) for s in sessions),
    }


def show_summary(metrics: dict, path: Path) -> None:
    m = metrics
    ui.summary(f"label -> {path}", [
        ("questions", str(m["questions"])),
        ("labelled (s, a) pairs", f"{m['labels']:,}"),
        ("  of which terminal", f"{m['terminal_labels']:,}"),
        ("mean y", f"{m['mean_y']:.3f}"),
        ("share with y >= 0.5", f"{m['positive_rate']:.1%}"),
        ("mean soft label", f"{m['mean_soft']:.3f}"),
        ("questions with a positive label", str(m["questions_with_a_positive"])),
        ("generated tokens", f"{m['generated_tokens']:,}"),
        ("wall time", f"{m['wall_seconds']:.1f} s"),
    ])
