"""`--method rollout`: y(s_t, a_t) = the best outcome of M continuations the policy itself samples
from s_{t+1} (the paper's rollout labels); with M = 0, of the collected trajectories' own endings
only, and nothing is generated. Also the run that `completion` shares: labels from continuations,
sampled (continuation.py) or reused from an earlier run's records (`--reuse`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qstar_cli.labelers.continuation import label_batches, relabel


@dataclass
class RolloutConfig:
    # M continuations sampled from each s_{t+1}; 0: the trajectories' own endings only
    num_rollouts: int = field(default=4, metadata={"positive": "or zero"})
    temperature: float | None = None  # continuation temperature; None = sampling.temperature
    max_tokens: int | None = None  # continuation token limit; None = sampling.max_tokens
    include_own_ending: bool = True  # the trajectory's own ending counts as a rollout

    @property
    def samples(self) -> int:  # continuations per state (what --reuse takes from an earlier run)
        return self.num_rollouts

    def problems(self) -> list[str]:
        if self.num_rollouts == 0 and not self.include_own_ending:
            return [
                "label.num_rollouts=0 labels from the trajectories' own endings only; "
                "it needs label.include_own_ending=true"
            ]
        return []


def run(job):
    cfg = job.cfg
    temperature = cfg.temperature if cfg.temperature is not None else job.config.sampling.temperature
    return continuations_run(
        job,
        n=cfg.num_rollouts,
        temperature=temperature,
        include_own=cfg.include_own_ending,
        max_tokens=cfg.max_tokens,
        backend=job.policy,
    )


def continuations_run(
    job,
    *,
    n: int,
    temperature: float,
    include_own: bool,
    max_tokens: int | None,
    backend: Callable,
    prompt_for: Callable | None = None,
):
    """Labels from n continuations of every s_{t+1}: reused from `--reuse`'s records, or none at all
    (n = 0: the own endings), else sampled from `backend()` in batches, each question's record
    appended as soon as its batch is done (an interrupted run resumes). `prompt_for(backend)` gives
    the prompt a state is continued from, when it is not the policy's own."""
    method, gamma = job.config.label.method, job.config.label.gamma
    rundir = job.open()
    todo = rundir.todo(job.records, lambda r: r["id"])
    with rundir.session() as session:
        if todo and (job.reused is not None or n == 0):  # nothing to generate
            job.save(
                rundir,
                session,
                [relabel(todo, job.reused or {}, n=n, gamma=gamma, include_own=include_own, method=method)],
            )
        elif todo:
            job.info("loading the policy ...")
            policy = backend()
            # the labels see the policy as search does: one environment, continuations to the end
            env = job.env(policy, max_tokens=max_tokens or job.config.sampling.max_tokens)
            batches = label_batches(
                job.batches(todo),
                env,
                job.grade,
                job.fmt,
                n=n,
                temperature=temperature,
                gamma=gamma,
                include_own=include_own,
                method=method,
                prompt_for=prompt_for(policy) if prompt_for else None,
            )
            job.save(rundir, session, batches, backend=policy, done=len(job.records) - len(todo))
    return job.finish(rundir)
