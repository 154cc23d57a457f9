"""`--method fqi`'s run: candidates once, then L fits, then the final targets as the labels.

The candidates (K proposed next actions at every open state) are sampled once and appended per
question to candidates.jsonl (resumable); each iteration l fits Q_l on y_l into iter_<l>/ (a
finished one is reused on resume), and the run's labels are the final targets y_L. The formulas
are fqi.py's. Under `accelerate launch` the first process samples the candidates alone (no
launcher variables reach its engine) while the others wait for the file; then every process fits
(the fits share the work) and scores the next targets itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from qstar_cli.labelers import fqi
from qstar_cli.labelers.tree import open_states
from qstar_cli.steps import MAX_STEP_TOKENS

LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class FQIConfig:
    iterations: int = field(default=2, metadata={"positive": True})  # L
    candidates: int = field(default=6, metadata={"positive": True})  # K actions sampled once at every open s_{t+1}
    init_qvm: str | None = None  # Q_0; None = 0
    temperature: float | None = None  # the candidates' temperature; None = sampling.temperature

    def problems(self) -> list[str]:
        return []


def run(job):
    from qstar_cli.value.train import processes

    if processes()[0] != 0:  # under accelerate launch: the first process samples and writes; all fit
        _iterations(job, job.out, _await_candidates(job.out / fqi.CANDIDATES, len(job.records)))
        return job.out
    rundir = job.open(kind="candidates", records_name=fqi.CANDIDATES)
    todo = rundir.todo(job.records, lambda r: r["id"])
    with rundir.session() as session:
        if todo:
            with _alone():
                _candidates(job, rundir, session, todo)
        candidates = {c["id"]: c["nodes"] for c in rundir.iter_records()}
        history, ys = _iterations(job, rundir.path, candidates)
        job.write_labels(rundir, fqi.label_records(job.records, ys, job.config.label.gamma))
    return job.finish(rundir, iterations=history, final_qvm=str(rundir.path / f"iter_{job.cfg.iterations}" / "qvm"))


def _candidates(job, rundir, session, todo: list[dict]) -> None:
    """K proposed next actions at every open state of every question not yet done, a record each; the
    session counts the tokens they cost (FQI's only generation)."""
    cfg = job.cfg
    temperature = cfg.temperature if cfg.temperature is not None else job.config.sampling.temperature
    job.info("loading the policy to propose candidate actions ...")
    backend = job.policy()
    env = job.env(backend, max_step_tokens=MAX_STEP_TOKENS)

    def batches():
        for batch in job.batches(todo):
            trees, requests, owners = open_states(batch)
            proposals = env.propose(requests, cfg.candidates, temperature) if requests else []
            yield fqi.candidate_records(batch, trees, owners, proposals, job.grade)

    job.save(rundir, session, batches(), backend=backend, done=len(job.records) - len(todo), what="fqi candidates")
    rundir.close()  # the candidates are read back at once


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
    """The other processes under accelerate launch: the first one's candidates, once it has written
    every question's (if it fails, accelerate stops them all)."""
    from qstar_cli.artifacts.jsonl import iter_jsonl
    from qstar_cli.artifacts.records import check_record

    while not path.exists() or path.read_bytes().count(b"\n") < questions:
        time.sleep(poll)
    records = (check_record("candidates", rec, f"{path}:{line}") for line, rec in iter_jsonl(path))
    return {rec["id"]: rec["nodes"] for rec in records}


def _iterations(job, out: Path, candidates: dict):
    """(each iteration's statistics, the last targets y_L): y_l from Q_{l-1}, then Q_l fitted on y_l."""
    from qstar_cli.value.model import QVM

    cfg, records, gamma = job.cfg, job.records, job.config.label.gamma
    scores = None  # Q_0 = 0, unless an initial QVM is given
    if cfg.init_qvm:
        qvm = QVM.load(cfg.init_qvm, batch_size=job.config.train.score_batch_size)
        qvm.check_compatible(str(job.fmt))
        scores = fqi.score_candidates(qvm, records, candidates)
    history = []
    for it in range(1, cfg.iterations + 1):
        ys = fqi.targets(records, candidates, scores, gamma)
        qvm, stats = _fit(job, out / f"iter_{it}", fqi.target_stats(it, ys), fqi.label_records(records, ys, gamma))
        history.append(stats)
        if it < cfg.iterations:  # the last model's scores would feed no further target
            scores = fqi.score_candidates(qvm, records, candidates)
    return history, ys


def _fit(job, it_dir: Path, stats: dict, labelled: list[dict]):
    """(Q_l, its statistics): fitted on this iteration's targets into it_dir, or the one a
    finished earlier session left there."""
    from qstar_cli.artifacts.jsonl import write_json_atomic
    from qstar_cli.value.fit import examples_from_records, fit_qvm
    from qstar_cli.value.model import QVM, QVMMeta
    from qstar_cli.value.train import processes

    config = job.config
    first = processes()[0] == 0  # under accelerate launch the first process speaks and writes
    done_file = it_dir / "metrics.json"
    if done_file.exists() and (it_dir / "qvm" / "qstar_qvm.json").exists():
        if first:
            job.info(f"fqi iteration {stats['iteration']} already trained; reusing {it_dir / 'qvm'}")
        return QVM.load(it_dir / "qvm", batch_size=config.train.score_batch_size), json.loads(done_file.read_text())
    if first:
        job.info(f"fqi iteration {stats['iteration']}/{job.cfg.iterations}: mean target {stats['mean_y']:.3f}")
    meta = QVMMeta(
        step_format=str(job.fmt),
        datasets=[config.data.name],
        policy=config.policy.model or "embedded",
        label_method="fqi",
    )
    # every process holds the same weights after the fit, so each scores the next targets itself
    qvm, stats["train"] = fit_qvm(examples_from_records(labelled), config.train, it_dir, meta)
    if first:
        write_json_atomic(done_file, stats)
    return qvm, stats
