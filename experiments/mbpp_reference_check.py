"""Run MBPP's reference solutions (`code`) against their own tests through qstar's sandbox.

Every failure should be the dataset's fault, not the executor's: this script lists each one with
its status and the last line of its stderr. It also measures the executor's throughput
(programs/s) for each worker count given, on the same programs.

    python experiments/mbpp_reference_check.py --workers 2 1 --out runs/mbpp-reference
    -> runs/mbpp-reference/reference_check.json and reference_check.md

The check the sandbox's page cites: docs/code.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from qstar_cli.datasets.mbpp import MBPP, SPLITS, program
from qstar_cli.datasets.registry import resolve_data_dir
from qstar_cli.errors import QstarError
from qstar_cli.execution import Executor, Limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="local data dir (else $QSTAR_DATA_DIR, else the hub)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[2],
        help="worker counts; the first one's results are reported, every one is timed",
    )
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=None, help="first N tasks only (by task_id)")
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--out", default="runs/mbpp-reference")
    args = parser.parse_args()

    dataset, data_dir = MBPP(), resolve_data_dir(args.data_dir)
    problems = sorted((p for split in SPLITS for p in dataset.load(split, data_dir)), key=lambda p: p.meta["task_id"])[
        : args.limit
    ]
    sources = [program(p.solution, p.reference) for p in problems]
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=math.ceil(args.timeout))
    timings, results = [], None
    for workers in args.workers:
        executor = Executor(limits, workers=workers, isolation=args.isolation)
        started = time.perf_counter()
        run = executor.run_many(sources)
        seconds = time.perf_counter() - started
        timings.append(
            {
                "workers": workers,
                "programs": len(sources),
                "seconds": round(seconds, 2),
                "programs_per_second": round(len(sources) / seconds, 2),
                "isolation": executor.isolation,
            }
        )
        print(
            f"{workers} workers: {len(sources)} programs in {seconds:.1f} s = {len(sources) / seconds:.2f} programs/s "
            f"({executor.isolation})",
            flush=True,
        )
        results = results or run
    failures = [
        {
            "task_id": p.meta["task_id"],
            "split": p.id.split("/")[1],
            "status": r.status,
            "detail": r.detail,
            "stderr": r.stderr_tail.strip().splitlines()[-1] if r.stderr_tail.strip() else "",
        }
        for p, r in zip(problems, results)
        if not r.passed
    ]
    passed = len(problems) - len(failures)
    report = {
        "programs": len(problems),
        "passed": passed,
        "pass_rate": passed / len(problems),
        "statuses": dict(Counter(r.status for r in results)),
        "failures": failures,
        "throughput": timings,
        "limits": asdict(limits),
        "cpu_cores": os.cpu_count(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference_check.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# MBPP reference solutions through the sandbox\n",
        f"{passed}/{len(problems)} pass ({passed / len(problems):.2%}); statuses: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["statuses"].items()))
        + "\n",
        "| workers | programs | seconds | programs/s | isolation |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['workers']} | {t['programs']} | {t['seconds']} | {t['programs_per_second']} | {t['isolation']} |"
        for t in timings
    ]
    lines += ["", "| task_id | split | status | last stderr line |", "|---|---|---|---|"]
    lines += [f"| {f['task_id']} | {f['split']} | {f['status']} | `{f['stderr'][:150]}` |" for f in failures]
    (out / "reference_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:2]))


if __name__ == "__main__":
    try:
        main()
    except QstarError as exc:  # a bad data folder: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
