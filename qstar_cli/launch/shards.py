"""What every launcher (Slurm, Ray) shares: which stages split into shards, the checks before any
work is sent out, and where shard i of n writes.

A shard is the stage itself with `data.shard=i/n` (it takes every n-th question from the i-th, and
resumes like any run), written to `<out>.shards/shard<i>of<n>`; `qstar merge` joins the shards into
`<out>`, the same run folder one process would have written.
"""

from __future__ import annotations

from pathlib import Path

from qstar_cli.artifacts.rundir import LOCK, read_manifest
from qstar_cli.errors import QstarError

SHARDABLE = ("collect", "label", "eval")  # the stages that select their questions with data.shard


def section_of(stage: str) -> str:
    """The recipe section of `stage` (a command or section name), refused unless it shards."""
    from qstar_cli.stages import STAGES, by_command

    section = stage if stage in STAGES else getattr(by_command(stage), "section", None)
    if section not in SHARDABLE:
        names = " | ".join(STAGES[s].command for s in SHARDABLE)
        hint = " (train-q: accelerate launch inside one job)" if section == "train" else ""
        raise QstarError(f"qstar runs {names} across shards, not {stage!r}{hint}")
    return section


def check(section: str, config) -> tuple[Path, int]:
    """Every check a user's input can fail that loads no model, as the stage itself makes them:
    (the merged run folder, the number of questions over all shards)."""
    from qstar_cli.stages.common import default_out

    if config.data.shard:
        raise QstarError(f"the recipe already sets data.shard={config.data.shard}; "
                         "the launcher gives each shard its own")
    if section == "eval":
        from qstar_cli.stages import eval as eval_stage

        _, problems, _, _, _ = eval_stage.check(config)
        out = config.eval.out or default_out(f"eval-{config.eval.search}", config.data)
    elif section == "label":
        from qstar_cli.stages import label as label_stage

        label_stage.refuse_shards(config.label)
        _, problems, _ = label_stage.check(config)
        out = label_stage.out_dir(config.label)
    else:
        from qstar_cli.stages import collect

        _, problems, _, _, _ = collect.check(config)
        out = config.collect.out or default_out("rollouts", config.data)
    out = Path(out).resolve()
    if out.exists() and any(p.name != LOCK for p in out.iterdir()) and not is_complete(out):
        raise QstarError(f"{out} holds a run that is not complete; finish it without a launcher "
                         f"(rerun the same command), or choose another --out")
    return out, len(problems)


def is_complete(path: Path) -> bool:
    return (path / "manifest.json").exists() and bool(read_manifest(path).get("complete"))


def folder(out: Path) -> Path:
    """Where the shards of the run `out` are written."""
    return out.with_name(out.name + ".shards")


def shard_out(out: Path, i: int, n: int) -> Path:
    return folder(out) / f"shard{i}of{n}"


def unfinished(out: Path, n: int) -> list[int]:
    """The shards whose run folder is not complete (all of them the first time)."""
    return [i for i in range(n) if not is_complete(shard_out(out, i, n))]
