#!/usr/bin/env python
"""Fault injection: every stage SIGKILLed at random points, rerun, and checked.

For each stage (collect-rollouts; label with rollout, fqi and completion; train-q; eval with every
search method; merge; report; repro) a small job on the embedded model (hf backend: each question's
samples are seeded, so a rerun draws what an uninterrupted run draws) first runs uninterrupted as
the reference. Then the same command is started and SIGKILLed after a random time (seeded, uniform
over 5-90% of the reference's wall time), again and again, each start resuming the last; when a
start finishes, its folder is checked and a new chain begins, until --kills kills have landed.
After every kill: a manifest that says complete must have every record. At the end of each chain:
the command succeeded, no question lost, none duplicated, every line a valid record, the metrics
equal to those computed from the records, and the records (train-q: the model; report: the report)
equal to the reference's.

    python tests/tools/fault_injection.py                                  # every stage, 10 kills each
    python tests/tools/fault_injection.py --stages merge,report --kills 3  # a subset
    python tests/tools/fault_injection.py --scenarios                      # the second table only
    python tests/tools/fault_injection.py --stages all --scenarios         # both tables (docs/fault_injection.*)

The second table (tests/tools/fault_scenarios.py, `--scenarios`) is what a user does wrong or what goes
wrong around a run (a relaunch with another config, an edited or missing record file, a lost
manifest, two processes on an empty model cache, SIGTERM under Ray, numbers written as most of the
world writes them, a data file with a few odd rows, ...), each checked for one clear refusal or the
right result.

Writes <out>/fault_injection.json and .md (default runs/faults). The full run's tables are
docs/fault_injection.md and .json, shown on docs/runs.md; tests/cli/test_fault_injection.py runs
a fast subset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SMALL = ("--dataset", "mawps", "--split", "test", "--limit", "3", "--backend", "hf")
TIMING = {"wall_seconds", "seconds", "generation_tokens_per_second", "train_seconds", "started_at", "finished_at"}


@dataclass
class Stage:
    name: str
    args: Callable[[dict, Path], list[str]]  # (the prerequisites' folders, this run's folder) -> the command
    records: str | None  # records file, or None (train-q: a model; report: files)
    kind: str | None = None  # record schema
    section: str | None = None  # STAGES key, for the metrics function
    needs: tuple[str, ...] = ()  # stages whose reference runs this one reads
    compare: Callable[[Path, Path], bool] | None = None  # a custom "identical" check (no records)


def _eval(search: str, *extra: str, qvm: bool = False) -> Stage:
    def args(ctx, out):
        return [
            "eval",
            *SMALL,
            "--search",
            search,
            *extra,
            "--set",
            "sampling.max_tokens=32",
            "--set",
            "eval.max_step_tokens=16",
            "--set",
            "eval.batch_questions=1",
            *(("--qvm", str(ctx["train-q"])) if qvm else ()),
            "--out",
            str(out),
        ]

    return Stage(f"eval {search}", args, "predictions.jsonl", "predictions", "eval", ("train-q",) if qvm else ())


def _same_model(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    x, y = (load_file(p / "qvm" / "model.safetensors") for p in (a, b))
    return x.keys() == y.keys() and all((x[k] - y[k]).abs().max().item() < 1e-5 for k in x)


def _same_report(a: Path, b: Path) -> bool:
    text = lambda p: (p / "report.md").read_text().replace(str(p), "OUT")  # noqa: E731
    return text(a) == text(b)


def stages(model: str) -> list[Stage]:
    label = ("label", "--backend", "hf", "--set", "label.max_tokens=32", "--set", "label.batch_questions=1")
    fit = (
        "--backbone",
        "minilm",
        "--set",
        "train.max_steps=2",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.max_length=96",
        "--set",
        "train.heldout_fraction=0",
    )
    return [
        Stage(
            "collect-rollouts",
            lambda ctx, out: [
                "collect-rollouts",
                *SMALL,
                "--num-rollouts",
                "2",
                "--max-tokens",
                "32",
                "--set",
                "collect.batch_questions=1",
                "--out",
                str(out),
            ],
            "rollouts.jsonl",
            "rollouts",
            "collect",
        ),
        Stage(
            "label rollout",
            lambda ctx, out: [
                *label,
                "--input",
                str(ctx["collect-rollouts"]),
                "--num-rollouts",
                "2",
                "--out",
                str(out),
            ],
            "qlabels.jsonl",
            "qlabels",
            "label",
            ("collect-rollouts",),
        ),
        Stage(
            "label completion",
            lambda ctx, out: [
                *label,
                "--input",
                str(ctx["collect-rollouts"]),
                "--method",
                "completion",
                "--strong-model",
                model,
                "--strong-backend",
                "hf",
                "--strong-samples",
                "2",
                "--out",
                str(out),
            ],
            "qlabels.jsonl",
            "qlabels",
            "label",
            ("collect-rollouts",),
        ),
        Stage(
            "label fqi",
            lambda ctx, out: [
                *label,
                "--input",
                str(ctx["collect-rollouts"]),
                "--method",
                "fqi",
                "--iterations",
                "2",
                "--candidates",
                "2",
                *fit,
                "--out",
                str(out),
            ],
            "qlabels.jsonl",
            "qlabels",
            "label",
            ("collect-rollouts",),
        ),
        Stage(
            "train-q",
            lambda ctx, out: [
                "train-q",
                "--labels",
                str(ctx["label rollout"]),
                "--backbone",
                "minilm",
                "--max-steps",
                "6",
                "--batch-size",
                "4",
                "--max-length",
                "96",
                "--set",
                "train.save_steps=2",
                "--out",
                str(out),
            ],
            None,
            needs=("label rollout",),
            compare=_same_model,
        ),
        _eval("greedy"),
        _eval("self-consistency", "-n", "2"),
        _eval("best-of-n", "-n", "2", qvm=True),
        _eval("beam", "--width", "2", "-K", "2", "--set", "eval.max_depth=3", qvm=True),
        _eval("mcts", "--iterations", "3", "-K", "2", "--set", "eval.max_depth=3"),
        _eval("astar", "-K", "2", "-N", "2", "--budget", "3", qvm=True),
        Stage(
            "merge",
            lambda ctx, out: ["merge", str(ctx["shards"][0]), str(ctx["shards"][1]), "--out", str(out)],
            "rollouts.jsonl",
            "rollouts",
            "collect",
            ("shards",),
        ),
        Stage(
            "report",
            lambda ctx, out: ["report", str(ctx["eval greedy"]), str(ctx["eval self-consistency"]), "--out", str(out)],
            None,
            needs=("eval greedy", "eval self-consistency"),
            compare=_same_report,
        ),
        Stage(
            "repro",
            lambda ctx, out: ["repro", str(ctx["repro recipe"]), "--resume", "--out", str(out)],
            "eval/predictions.jsonl",
            "predictions",
            "eval",
            ("repro recipe",),
        ),
    ]


# ---- running ----------------------------------------------------------------------------


def start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "qstar_cli.cli", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
            cwd=REPO,
        )


def run_through(args: list[str], log: Path) -> tuple[int, float]:
    began = time.perf_counter()
    code = start(args, log).wait()
    return code, time.perf_counter() - began


def manifest_of(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def records_of(folder: Path, stage: Stage) -> tuple[list[dict], int]:
    """(valid records, invalid lines) of a folder's records file."""
    from qstar_cli.artifacts.records import check_record
    from qstar_cli.errors import QstarError

    path, good, bad = folder / stage.records, [], 0
    for line in path.read_bytes().splitlines() if path.exists() else []:
        try:
            good.append(check_record(stage.kind, json.loads(line), str(path)))
        except (ValueError, QstarError):
            bad += 1
    return good, bad


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def close(a, b, rel: float = 1e-4) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= rel * max(1.0, abs(a), abs(b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    return a == b


def check_chain(stage: Stage, folder: Path, reference: Path) -> dict:
    """The final state of a chain's folder, against the reference run."""
    from qstar_cli.config.sections import STAGES

    result = {"lost": 0, "duplicated": 0, "invalid": 0, "metrics_ok": True}
    if stage.records is None:
        result["identical"] = stage.compare(folder, reference)
        return result
    run_dir = (folder / stage.records).parent
    records, result["invalid"] = records_of(folder, stage)
    manifest = manifest_of(run_dir)
    ids = [r["id"] for r in records]
    expected = manifest.get("expected_ids") or [r["id"] for r in records_of(reference, stage)[0]]
    result["lost"] = len(set(expected) - set(ids))
    result["duplicated"] = len(ids) - len(set(ids))
    result["complete"] = bool(manifest.get("complete"))
    section = STAGES[stage.section]
    fn = getattr(section.load(), section.metrics)
    recomputed = fn([r for r in records if r["id"] in set(expected)], manifest.get("sessions", []))
    written = json.loads((run_dir / "metrics.json").read_text())
    result["metrics_ok"] = close(untimed({k: written.get(k) for k in recomputed}), untimed(recomputed), rel=1e-9)
    result["identical"] = close(untimed(records), untimed(records_of(reference, stage)[0]))
    return result


def inject(stage: Stage, ctx: dict, root: Path, kills: int, rng: random.Random) -> dict:
    home = root / stage.name.replace(" ", "-")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log = home / "log.txt"
    reference = home / "reference"
    code, seconds = run_through(stage.args(ctx, reference), log)
    if code != 0:
        raise SystemExit(f"{stage.name}: the uninterrupted run failed (exit {code}); see {log}")
    ctx[stage.name] = reference
    row = {
        "stage": stage.name,
        "reference_seconds": round(seconds, 1),
        "kills": 0,
        "chains": 0,
        "resumed_ok": 0,
        "lost": 0,
        "duplicated": 0,
        "invalid": 0,
        "complete_too_early": 0,
        "metrics_ok": True,
        "identical": True,
        "failures": [],
    }
    chain = 0
    while row["kills"] < kills and chain < 3 * kills:
        chain += 1
        folder = home / f"chain{chain}"
        killed_here = 0
        for _attempt in range(4 * kills):
            if row["kills"] >= kills:  # enough: let this start finish
                code = start(stage.args(ctx, folder), log).wait()
                break
            proc = start(stage.args(ctx, folder), log)
            try:
                code = proc.wait(timeout=rng.uniform(0.05, 0.9) * seconds)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                row["kills"] += 1
                killed_here += 1
                done = manifest_of((folder / (stage.records or "x")).parent)
                if stage.records and done.get("complete"):  # complete must mean every record is there
                    ids = {r["id"] for r in records_of(folder, stage)[0]}
                    row["complete_too_early"] += not set(done.get("expected_ids", [])) <= ids
                continue
            if code != 0:
                row["failures"].append(f"chain {chain}: exit {code} after {killed_here} kills (log {log})")
            break
        else:
            code = start(stage.args(ctx, folder), log).wait()
        row["chains"] += 1
        if killed_here == 0:
            row["chains"] -= 1  # finished before any kill: nothing was tested
            shutil.rmtree(folder, ignore_errors=True)
            continue
        if code != 0:
            continue
        checked = check_chain(stage, folder, reference)
        for key in ("lost", "duplicated", "invalid"):
            row[key] += checked[key]
        row["metrics_ok"] &= checked["metrics_ok"]
        row["identical"] &= checked["identical"]
        ok = (
            checked["identical"]
            and checked["metrics_ok"]
            and not any(checked[k] for k in ("lost", "duplicated", "invalid"))
        )
        row["resumed_ok"] += ok
        if not ok:
            row["failures"].append(f"chain {chain}: {checked}")
    return row


def prerequisite(name: str, root: Path):
    """What merge and repro read besides other stages' reference runs: two shard runs of the collect
    job, and a small repro recipe."""
    if name == "shards":
        shards = [root / "prereq" / f"shard{i}" for i in range(2)]
        for i, folder in enumerate(shards):
            code, _ = run_through(
                [
                    "collect-rollouts",
                    *SMALL,
                    "--num-rollouts",
                    "2",
                    "--max-tokens",
                    "32",
                    "--shard",
                    f"{i}/2",
                    "--out",
                    str(folder),
                ],
                root / "prereq.log",
            )
            if code != 0:
                raise SystemExit(f"the shard runs for merge failed; see {root / 'prereq.log'}")
        return shards
    recipe = root / "prereq" / "repro.yaml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    recipe.write_text(
        "data: {name: mawps, split: test, limit: 3}\npolicy: {backend: hf}\n"
        "sampling: {max_tokens: 32}\neval: {search: greedy, batch_questions: 1}\n"
    )
    return recipe


def table(rows: list[dict]) -> str:
    lines = [
        "| stage | kills | chains resumed OK | lost | duplicated | invalid lines | complete too early | "
        "metrics = records | identical to uninterrupted |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['stage']} | {r['kills']} | {r['resumed_ok']}/{r['chains']} | {r['lost']} | {r['duplicated']} | "
            f"{r['invalid']} | {r['complete_too_early']} | {'yes' if r['metrics_ok'] else 'NO'} | "
            f"{'yes' if r['identical'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs per stage (at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", help="comma-separated stage names, or all (the default without --scenarios)")
    parser.add_argument("--out", default="runs/faults")
    parser.add_argument(
        "--scenarios",
        nargs="?",
        const="all",
        help="the scenarios table (all, or comma-separated names); alone unless --stages is given too",
    )
    args = parser.parse_args()

    from qstar_cli.backends.models import resolve_model

    shared = REPO.parent / "shared" / "data"
    if "QSTAR_DATA_DIR" not in os.environ and shared.is_dir():  # the checkout's data, as the tests read it
        os.environ["QSTAR_DATA_DIR"] = str(shared)

    root = Path(args.out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    every = stages(resolve_model(None))
    everything = {s.name for s in every}
    chosen = (
        everything
        if args.stages == "all" or not (args.stages or args.scenarios)
        else set(args.stages.split(","))
        if args.stages
        else set()
    )
    unknown = chosen - {s.name for s in every}
    if unknown:
        raise SystemExit(f"unknown stages {sorted(unknown)}; known: {', '.join(s.name for s in every)}")
    rng = random.Random(args.seed)
    by_name = {s.name: s for s in every}
    needed, todo = set(), list(chosen)
    while todo:  # the chosen stages and, transitively, the runs they read
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += list(by_name[name].needs) if name in by_name else []
    ctx: dict = {name: prerequisite(name, root) for name in ("shards", "repro recipe") if name in needed}
    rows = []
    for stage in every:  # in order: a later stage's inputs are an earlier one's reference run
        if stage.name not in needed:
            continue
        if stage.name not in chosen:  # only its reference run, as another stage's input
            reference = root / stage.name.replace(" ", "-") / "reference"
            if run_through(stage.args(ctx, reference), root / "prereq.log")[0] != 0:
                raise SystemExit(f"{stage.name} (an input of the chosen stages) failed; see {root / 'prereq.log'}")
            ctx[stage.name] = reference
            continue
        began = time.perf_counter()
        row = inject(stage, ctx, root, args.kills, rng)
        row["seconds"] = round(time.perf_counter() - began, 1)
        rows.append(row)
        print(
            f"{row['stage']}: {row['kills']} kills, {row['resumed_ok']}/{row['chains']} chains resumed OK, lost "
            f"{row['lost']}, duplicated {row['duplicated']}, invalid {row['invalid']}, identical {row['identical']} "
            f"({row['seconds']} s){'; ' + '; '.join(row['failures']) if row['failures'] else ''}",
            flush=True,
        )
    scenarios = []
    if args.scenarios:
        import fault_scenarios

        only = None if args.scenarios == "all" else set(args.scenarios.split(","))
        scenarios = fault_scenarios.run(root / "scenarios", only)
    (root / "fault_injection.json").write_text(
        json.dumps({"seed": args.seed, "kills_per_stage": args.kills, "rows": rows, "scenarios": scenarios}, indent=2)
        + "\n"
    )
    text = (
        (table(rows) if rows else "")
        + ("\n" if rows and scenarios else "")
        + (fault_scenarios.table(scenarios) if scenarios else "")
    )
    (root / "fault_injection.md").write_text(text)
    print(text)
    bad = [r["stage"] for r in rows if r["failures"] or r["resumed_ok"] != r["chains"] or r["kills"] < args.kills]
    bad += [r["scenario"] for r in scenarios if not r["ok"]]
    if bad:
        raise SystemExit(f"failed: {', '.join(bad)}")


if __name__ == "__main__":
    main()
