"""`qstar launch slurm`: one stage of a recipe as a Slurm array job, one task per `--shard i/n`,
and a merge job that runs when every task has succeeded (`afterok`).

The scripts are plain sbatch files, written to `<out>.slurm/` and shown by `--dry-run`, so a user
can read, edit and resubmit them. submitit was considered: it submits pickled Python callables and
returns futures, but a qstar shard is already a command that resumes itself, and what remains (an
array line per shard, a dependency, a retry) is a few sbatch lines a user can read. Each task
retries its own shard `--retries` times (the rerun resumes: finished questions are never redone)
and is requeued on preemption; running the same `qstar launch` again submits only the shards that
are not complete, then the merge.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from qstar_cli.errors import QstarError
from qstar_cli.launch import shards as S


@dataclass
class SlurmJob:
    section: str  # the stage's recipe section (collect | label | eval)
    recipe: Path
    sets: list[str]
    shards: int
    out: Path  # the merged run folder
    gpus_per_shard: int = 0
    cpus_per_shard: int = 0
    mem: str | None = None
    time: str | None = None
    partition: str | None = None
    retries: int = 1
    sbatch_args: tuple[str, ...] = ()  # any other sbatch options, e.g. --account=X --qos=Y
    python: str = sys.executable  # the interpreter on the nodes (a shared file system is assumed)
    config: object = None  # the resolved config: what a finished shard is compared with

    @property
    def folder(self) -> Path:
        return self.out.with_name(self.out.name + ".slurm")

    def shard_out(self, i: int) -> Path:
        return S.shard_out(self.out, i, self.shards)

    def stage_command(self) -> list[str]:
        from qstar_cli.config.sections import STAGES

        sets = [arg for s in self.sets for arg in ("--set", s)]
        return [self.python, "-m", "qstar_cli.cli", STAGES[self.section].command, "--recipe", str(self.recipe), *sets]

    def shards_script(self) -> str:
        shard_out = f"{shlex.quote(str(self.shard_out(0).parent))}/shard${{i}}of{self.shards}"
        command = " ".join(map(shlex.quote, self.stage_command()))
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name=qstar-{self.section}",
            f"#SBATCH --output={self.folder / 'logs'}/shard-%a.log",
            "#SBATCH --requeue",
            "#SBATCH --open-mode=append",
        ]  # a requeued task adds to its log, never truncates it
        lines += [f"#SBATCH {opt}" for opt in self._resources()]
        lines += [
            "# one task per shard; a rerun of a task resumes its shard (finished questions are kept)",
            "set -u",
            f"cd {shlex.quote(str(Path.cwd()))}",
            "i=$SLURM_ARRAY_TASK_ID",
            f"for attempt in $(seq 0 {self.retries}); do",
            f"  {command} --set data.shard=$i/{self.shards} --out {shard_out} && exit 0",
            '  echo "qstar launch: shard $i failed (attempt $attempt)" >&2',
            "done",
            "exit 1",
        ]
        return "\n".join(lines) + "\n"

    def merge_script(self) -> str:
        shard_dirs = " ".join(shlex.quote(str(self.shard_out(i))) for i in range(self.shards))
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name=qstar-{self.section}-merge",
            f"#SBATCH --output={self.folder / 'logs'}/merge.log",
            "#SBATCH --cpus-per-task=1",
        ]
        lines += [f"#SBATCH {opt}" for opt in self._resources(merge=True)]
        lines += [
            "set -eu",
            f"cd {shlex.quote(str(Path.cwd()))}",
            f"{shlex.quote(self.python)} -m qstar_cli.cli merge {shard_dirs} --out {shlex.quote(str(self.out))}",
        ]
        return "\n".join(lines) + "\n"

    def _resources(self, merge: bool = False) -> list[str]:
        opts = [f"--partition={self.partition}"] if self.partition else []
        opts += list(self.sbatch_args)
        if merge:
            return opts
        per_task = (
            ("gpus-per-task", self.gpus_per_shard),
            ("cpus-per-task", self.cpus_per_shard),
            ("mem", self.mem),
            ("time", self.time),
        )
        opts += [f"--{name}={value}" for name, value in per_task if value]
        return opts

    def unfinished(self) -> list[int]:
        return S.unfinished(self.out, self.shards, self.config)


def plan(stage: str, recipe: Path, sets: list[str], shards: int, **resources) -> SlurmJob:
    """The job for `stage` (a command or section name) of `recipe`, after every check a user's
    input can fail that loads no model (launch/shards.check). `resources`: SlurmJob's other fields."""
    from qstar_cli.config import STAGE_CONFIGS, resolve

    section = S.section_of(stage)
    if shards < 2:
        raise QstarError(f"--shards must be at least 2, got {shards} (one shard is the stage itself)")
    if not Path(recipe).is_file():
        raise QstarError(f"recipe {recipe} not found")
    for key in ("retries", "gpus_per_shard", "cpus_per_shard"):
        if resources.get(key, 0) < 0:
            raise QstarError(f"--{key.replace('_', '-')} must be >= 0, got {resources[key]}")
    config = resolve(STAGE_CONFIGS[section], recipe, sets, {})
    out, _ = S.check(section, config)
    return SlurmJob(section, Path(recipe).resolve(), list(sets), shards, out, config=config, **resources)


def write(job: SlurmJob) -> tuple[Path, Path]:
    """Write the two scripts (and the log folder); return their paths."""
    (job.folder / "logs").mkdir(parents=True, exist_ok=True)
    shards, merge = job.folder / "shards.sbatch", job.folder / "merge.sbatch"
    shards.write_text(job.shards_script(), encoding="utf-8")
    merge.write_text(job.merge_script(), encoding="utf-8")
    return shards, merge


def submit_args(job: SlurmJob, array_id: str = "$ARRAY_ID") -> tuple[list[str] | None, list[str]]:
    """The sbatch arguments of the array (its unfinished shards only; None when every shard is
    complete) and of the merge after it: what `submit` runs, and `--dry-run` shows."""
    shards_script, merge_script = job.folder / "shards.sbatch", job.folder / "merge.sbatch"
    todo = job.unfinished()
    array = [f"--array={','.join(map(str, todo))}", str(shards_script)] if todo else None
    dependency = [f"--dependency=afterok:{array_id}", "--kill-on-invalid-dep=yes"] if todo else []
    return array, [*dependency, str(merge_script)]


def submit(job: SlurmJob) -> tuple[str | None, str | None]:
    """Submit the array (its unfinished shards only) and the merge after it: (array id, merge id).
    None for what there was nothing to submit for."""
    if S.is_complete(job.out):
        return None, None
    write(job)
    array, _ = submit_args(job)
    array_id = _sbatch(*array) if array else None
    _, merge = submit_args(job, array_id or "")
    return array_id, _sbatch(*merge)


def _sbatch(*args: str) -> str:
    try:
        result = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise QstarError(
            "sbatch not found: run qstar launch slurm on a Slurm login node (or --dry-run to write the scripts only)"
        ) from None
    if result.returncode != 0:
        raise QstarError(f"sbatch refused the job: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip().split(";")[0]
