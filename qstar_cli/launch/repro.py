"""`qstar repro RECIPE --expect results.json`: rerun a recipe's pipeline and check its numbers.

The stages the recipe defines (sections `collect`, `label`, `train`, `eval`, in that order) run
in this process into a fresh work folder (`--out`, default runs/repro/<recipe folder>-<recipe name>): each stage's
output goes to WORK/<stage> and the next stage reads it, whatever paths the recipe names, so a
reproduction never reuses, resumes or overwrites the runs the recipe's own paths point at. A
stage whose input the recipe takes from elsewhere (e.g. an eval recipe's trained QVM) keeps the
recipe's path. Then each metric of the expect file is compared with the reproduced one and a
table is printed; any metric outside its recorded range fails the command (exit 1) naming it.
`--record FILE` writes such a file from the run instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from qstar_cli import ui
from qstar_cli.config import STAGE_CONFIGS, resolve, to_yaml
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.launch.pipeline import preflight, stages_of
from qstar_cli.report import expect


class ReproFailed(QstarError):
    """Reproduced metrics outside their recorded ranges: the check failed, the command did not."""

    exit_code = 1


def wiring(stages: list[str], work: Path) -> dict[str, dict]:
    """The flags that send each stage's output to WORK and the next stage's input from there."""
    out = {s: str(work / STAGES[s].folder) for s in stages}
    flags = {s: {f"{s}.out": out[s]} for s in stages}
    if "collect" in stages and "label" in stages:
        flags["label"]["label.input"] = out["collect"]
    if "label" in stages and "train" in stages:
        flags["train"]["train.labels"] = [out["label"]]
    if "train" in stages and "eval" in stages:
        flags["eval"]["eval.qvm"] = out["train"]
    return flags


def configs(recipe: str, sets: list[str], work: Path) -> list[tuple[str, object]]:
    """Every stage's resolved config, all resolved before anything runs (a typo fails at once)."""
    stages = stages_of(recipe)
    flags = wiring(stages, work)
    # as with `qstar label --recipe`, the recipe's shared sections (not an input run's) hold the
    # policy and data settings of every stage
    out = [(stage, resolve(STAGE_CONFIGS[stage], recipe, sets, flags[stage])) for stage in stages]
    return out


def run(
    recipe: str,
    expect_path: str | None = None,
    out: str | None = None,
    sets: list[str] | None = None,
    record_path: str | None = None,
    resume: bool = False,
    dry_run: bool = False,
) -> list[expect.Check]:
    if expect_path and record_path:
        raise QstarError("give --expect (check a rerun) or --record (write its numbers), not both")
    # parent and name: recipes/cpu/mawps/qvm.yaml and recipes/cpu/svamp/qvm.yaml must not share a folder
    work = Path(out) if out else Path("runs") / "repro" / f"{Path(recipe).parent.name}-{Path(recipe).stem}"
    planned = configs(recipe, sets or [], work)
    stages = [s for s, _ in planned]
    checks = expect.load(expect_path, stages) if expect_path else []
    if dry_run:
        for stage, config in planned:
            preflight(stage, config)  # names, no data, no model
            ui.out.rule(f"[bold]{stage}[/bold]")
            ui.out.print(to_yaml(config), end="", highlight=False)
        ui.out.print(f"stages: {' -> '.join(stages)}; work folder: {work}; checks: {len(checks)}", highlight=False)
        return checks
    if work.exists() and any(work.iterdir()) and not resume:
        raise QstarError(
            f"{work} is not empty: a reproduction reruns from scratch, so remove it, pass another "
            f"--out, or --resume to finish an interrupted reproduction"
        )
    from qstar_cli.backends import keep_engines

    metrics: dict[str, dict] = {}
    with keep_engines():  # one engine start for all the stages
        for stage, config in planned:
            ui.info(f"repro: {stage} -> {work / STAGES[stage].folder}")
            path = STAGES[stage].load().run(config)
            metrics[stage] = json.loads((Path(path) / "metrics.json").read_text(encoding="utf-8"))
    if record_path:
        expect.record(record_path, str(recipe), metrics)
        ui.info(f"recorded {record_path}")
        return []
    if not checks:
        return []
    expect.compare(checks, metrics)
    show(checks)
    failed = [c.metric for c in checks if not c.ok]
    if failed:
        raise ReproFailed(f"{len(failed)} of {len(checks)} metrics left their recorded range: {', '.join(failed)}")
    ui.info(f"all {len(checks)} metrics within their recorded ranges")
    return checks


def show(checks: list[expect.Check]) -> None:
    from rich.table import Table

    def num(x: float) -> str:
        return "-inf" if x == float("-inf") else "inf" if x == float("inf") else f"{x:.6g}"

    table = Table(title="qstar repro", header_style="bold")
    for col in ("metric", "recorded", "allowed range", "reproduced", "ok"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for c in checks:
        table.add_row(
            c.metric,
            num(c.expected),
            f"[{num(c.lo)}, {num(c.hi)}]",
            "missing" if c.got is None else num(c.got),
            "ok" if c.ok else "[bold red]FAIL[/bold red]",
        )
    ui.out.print(table)
