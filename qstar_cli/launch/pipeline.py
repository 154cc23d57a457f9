"""`qstar run RECIPE...`: the stages of one or more recipes, in order, in one process.

Each recipe runs the stages it defines (its `collect`, `label`, `train` and `eval` sections, in
that order), reading and writing the paths it names, as the separate commands would: a finished
stage is skipped and an interrupted one resumes. Every stage's config is resolved and checked
before the first starts, so a typo in the last recipe fails at once. The stages share the policy
engine (`backends.keep_engines`): it starts once, not once per stage, and each stage gets it as a
fresh engine with its seed would start, so the records are those of the separate commands.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from qstar_cli import ui
from qstar_cli.config import STAGE_CONFIGS, load_recipe, resolve
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError


def stages_of(recipe: str | Path) -> list[str]:
    """The stages a recipe defines, in pipeline order."""
    sections = load_recipe(recipe)
    stages = [s for s in STAGES if s in sections]
    if not stages:
        raise QstarError(f"{recipe} defines no stage to run (a collect, label, train or eval section)")
    return stages


def preflight(section: str, config) -> None:
    """What a stage's config can fail without reading data or loading a model: its output folder,
    the dataset's name, options and split, and the backend."""
    from qstar_cli.artifacts.rundir import check_out
    from qstar_cli.backends import choose_backend
    from qstar_cli.stages.common import check_names

    check_out(getattr(config, section).out)
    if hasattr(config, "data"):
        check_names(config.data)
    if hasattr(config, "policy"):
        choose_backend(config.policy.backend)


def dry_run_print(section: str, config) -> None:
    """Check what needs no model, then print the resolved config: the stages that read a dataset
    read local data (a --data-dir, $QSTAR_DATA_DIR, a jsonl file) and select their questions as the
    run would, so a missing file, field or language fails here with the run's own error; data from
    the Hugging Face hub is not downloaded, only named. Label reads a rollouts run and train-q label
    runs, not a dataset."""
    from qstar_cli import ui
    from qstar_cli.backends import choose_backend
    from qstar_cli.config import to_yaml
    from qstar_cli.datasets.registry import DATASETS, resolve_data_dir
    from qstar_cli.stages.common import check_names, select_problems

    data = getattr(config, "data", None)
    if (
        section in ("collect", "eval")
        and resolve_data_dir(data.data_dir) is None
        and getattr(DATASETS.get(data.name), "hub", "")
    ):
        check_names(data)
        ui.info(
            f"{data.name}/{data.split} comes from the Hugging Face hub: the run downloads and checks it "
            f"(a dry run downloads nothing; --data-dir reads a local copy)"
        )
    elif section in ("collect", "eval"):
        _, problems, total = select_problems(data)
        shard = f", shard {data.shard} of {total}" if data.shard else ""
        ui.info(f"{len(problems)} questions from {data.name}/{data.split}{shard}")
    elif data is not None:
        check_names(config.data)
    if hasattr(config, "policy"):
        choose_backend(config.policy.backend)
    ui.out.print(to_yaml(config), end="", highlight=False)


def plan(recipes: list[str], sets: list[str]) -> list[tuple[str, str, object]]:
    """(recipe, stage, resolved config) for every stage to run, all checked before any runs."""
    planned = [
        (recipe, stage, resolve(STAGE_CONFIGS[stage], recipe, sets, {}))
        for recipe in recipes
        for stage in stages_of(recipe)
    ]
    writers: dict[Path, str] = {}
    for recipe, stage, config in planned:
        preflight(stage, config)
        out = getattr(config, stage).out
        if out:  # two stages writing one folder would refuse each other's runs halfway through
            where = f"{recipe} ({STAGES[stage].command})"
            folder = Path(out).expanduser().resolve()
            if folder in writers:
                raise QstarError(f"{writers[folder]} and {where} both write {out}: give one of them another out")
            writers[folder] = where
    return planned


def run_stage(section: str, config) -> Path:
    """One stage with its config: on a Ray cluster when the config names one, else here."""
    if getattr(config, "ray", None) is not None and config.ray.address:
        from qstar_cli.launch import ray

        return ray.run(section, config)
    return STAGES[section].load().run(config)


def run(recipes: list[str], sets: list[str] | None = None, dry_run: bool = False) -> list[Path]:
    from qstar_cli.backends import keep_engines

    planned = plan(recipes, sets or [])
    if dry_run:
        from qstar_cli.config import to_yaml

        for recipe, stage, config in planned:
            ui.out.rule(f"[bold]{recipe}: {STAGES[stage].command}[/bold]")
            ui.out.print(to_yaml(config), end="", highlight=False)
        ui.out.print(
            f"{len(planned)} stages: " + " -> ".join(STAGES[s].command for _, s, _ in planned), highlight=False
        )
        return []
    done = []
    with keep_engines():
        for i, (recipe, stage, config) in enumerate(planned, 1):
            ui.info(escape(f"[{i}/{len(planned)}] {recipe}"))
            done.append(Path(run_stage(stage, config)))
    return done
