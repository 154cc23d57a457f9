"""What every launcher (Slurm, Ray) shares: which stages split into shards, the checks before any
work is sent out, and where shard i of n writes.

A shard is the stage itself with `data.shard=i/n` (it takes every n-th question from the i-th, and
resumes like any run), written to `<out>.shards/shard<i>of<n>`; `qstar merge` joins the shards into
`<out>`, the same run folder one process would have written.
"""

from __future__ import annotations

from pathlib import Path

from qstar_cli.artifacts.rundir import check_run, read_manifest, verify_complete
from qstar_cli.config import to_dict
from qstar_cli.errors import QstarError

SHARDABLE = ("collect", "label", "eval")  # the stages that select their questions with data.shard


def section_of(stage: str) -> str:
    """The recipe section of `stage` (a command or section name), refused unless it shards."""
    from qstar_cli.config.sections import STAGES, by_command

    section = stage if stage in STAGES else getattr(by_command(stage), "section", None)
    if section not in SHARDABLE:
        names = " | ".join(STAGES[s].command for s in SHARDABLE)
        hint = " (train-q: accelerate launch inside one job)" if section == "train" else ""
        raise QstarError(f"qstar runs {names} across shards, not {stage!r}{hint}")
    return section


def check(section: str, config) -> tuple[Path, int]:
    """Every check a user's input can fail that loads no model, as the stage itself makes them:
    (the merged run folder, the number of questions over all shards)."""
    if config.data.shard:
        raise QstarError(
            f"the recipe already sets data.shard={config.data.shard}; the launcher gives each shard its own"
        )
    out, problems, inputs, unused = _identity(section, config)
    out = Path(out).resolve()
    found = check_run(out, stage=_command(section), config=to_dict(config), inputs=inputs, unused=unused)
    if found is not None and not found.get("complete"):
        raise QstarError(
            f"{out} holds a run that is not complete; finish it without a launcher "
            f"(rerun the same command), or choose another --out"
        )
    if found:
        verify_complete(out, found, out / _records(section))
    return out, len(problems)


def _identity(section: str, config) -> tuple[Path, list, dict, tuple[str, ...]]:
    """The stage's own checks (its plan), then what its run folder is compared on: (the run folder,
    the questions of the unsharded run, its inputs, the config sections it does not read)."""
    from qstar_cli.config.sections import STAGES

    plan = STAGES[section].load().plan(config)
    if plan.unshardable:
        raise QstarError(plan.unshardable)
    return plan.out, plan.items, plan.inputs, plan.unused


def _command(section: str) -> str:
    from qstar_cli.config.sections import STAGES

    return STAGES[section].command


def _records(section: str) -> str:
    from qstar_cli.config.sections import STAGES

    return STAGES[section].records


def is_complete(path: Path) -> bool:
    return (path / "manifest.json").exists() and bool(read_manifest(path).get("complete"))


def folder(out: Path) -> Path:
    """Where the shards of the run `out` are written."""
    return out.with_name(out.name + ".shards")


def shard_out(out: Path, i: int, n: int) -> Path:
    return folder(out) / f"shard{i}of{n}"


def unfinished(out: Path, n: int, config) -> list[int]:
    """The shards whose run folder is not complete (all of them the first time). A shard finished
    by an earlier launch counts only if it holds this run's shard: same config, same inputs."""
    from dataclasses import replace

    section = next(s for s in SHARDABLE if getattr(config, s, None) is not None)
    todo = []
    for i in range(n):
        if not is_complete(shard_out(out, i, n)):
            todo.append(i)
            continue
        shard = replace(config, data=replace(config.data, shard=f"{i}/{n}"))
        _, _, inputs, unused = _identity(section, shard)
        found = check_run(
            shard_out(out, i, n), stage=_command(section), config=to_dict(shard), inputs=inputs, unused=unused
        )
        if found:
            verify_complete(shard_out(out, i, n), found, shard_out(out, i, n) / _records(section))
    return todo
