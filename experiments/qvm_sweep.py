"""Train several QVMs side by side with `qstar train-q` and tabulate their held-out diagnostics.

    python experiments/qvm_sweep.py --recipe recipes/cpu/mawps/qvm.yaml --out bench/qvm-sweep-mawps \
        --run "paper:" \
        --run "64 questions: train.max_questions=64" \
        --run "soft targets: train.target=soft" \
        --run "rollout M=2: train.labels=[runs/cpu/mawps/labels-m2]"

Each `--run "NAME: KEY=VALUE ..."` is one `qstar train-q --recipe RECIPE --set KEY=VALUE ...`
(the same config resolution, the same stage code), written to OUT/<name>/; `--set` items given
once apply to every run (e.g. a backbone folder on another machine). A finished run is not
retrained, so an interrupted sweep resumes. OUT/sweep.json and OUT/sweep.md hold one row per run:
its label run(s) (questions, share positive), held-out ROC-AUC with its 95% by-question bootstrap
interval, the two baselines a QVM must beat (step depth; the policy's mean step log-prob), ROC-AUC
by depth, the validation step kept (early stopping) and the training time. Each row's settings
are printed beside it, so every number can be rerun with train-q alone.
Its table: docs/results/mawps.md, "The QVM".
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

from qstar_cli.config import TrainConfig
from qstar_cli.config.resolve import resolve
from qstar_cli.errors import QstarError
from qstar_cli.stages import train_q


def parse_run(text: str) -> tuple[str, list[str]]:
    name, _, sets = text.partition(":")
    if not name.strip():
        raise SystemExit(f"--run {text!r}: give it a name, as in 'NAME: KEY=VALUE ...'")
    return name.strip(), shlex.split(sets)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower()


def row(name: str, sets: list[str], out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    held = metrics["heldout"]
    labels = []
    for source in metrics.get("labels", []):
        label_metrics = json.loads((Path(source["dir"]) / "metrics.json").read_text(encoding="utf-8"))
        labels.append(
            {
                "dir": source["dir"],
                "method": source["method"],
                "questions": label_metrics["questions"],
                "positive_rate": label_metrics["positive_rate"],
            }
        )
    kept = (metrics.get("validation_auc") or {}).get("kept_step")
    return {
        "name": name,
        "sets": sets,
        "labels": labels,
        "train_examples": metrics["train_examples"],
        "train_questions": metrics["train_questions"],
        "heldout_questions": held.get("questions"),
        "heldout_examples": held.get("examples"),
        "heldout_positive_rate": held.get("positive_rate"),
        "roc_auc": held.get("roc_auc"),
        "roc_auc_ci95": held.get("roc_auc_ci95"),
        "depth_auc": held.get("baseline_position_auc"),
        "logprob_auc": held.get("baseline_logprob_auc"),
        "auc_by_depth": held.get("auc_by_depth"),
        "too_small": held.get("too_small"),
        "validation_kept_step": kept,
        "train_steps": metrics["train_steps"],
        "train_seconds": metrics["train_seconds"],
    }


def markdown(rows: list[dict]) -> str:
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        "| run | train questions (examples) | label share positive | held-out ROC-AUC [95% CI] | "
        "depth baseline | log-prob baseline | AUC at depth 0 / 1 / 2 / 3 | train s | settings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = r["roc_auc_ci95"]
        auc = f"{f(r['roc_auc'])} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f(r["roc_auc"])
        if r["too_small"]:
            auc += " (too few held-out questions)"
        by_depth = {str(d["depth"]): d["roc_auc"] for d in r["auc_by_depth"] or []}
        depths = " / ".join(f(by_depth.get(k)) for k in ("0", "1", "2", "3"))
        pos = ", ".join(f"{lab['positive_rate']:.1%}" for lab in r["labels"])
        settings = " ".join(r["sets"]) or "(recipe as is)"
        if r["validation_kept_step"] is not None:
            settings += f" (kept step {r['validation_kept_step']} of {r['train_steps']})"
        lines.append(
            f"| {r['name']} | {r['train_questions']} ({r['train_examples']:,}) | {pos} | {auc} | "
            f"{f(r['depth_auc'])} | {f(r['logprob_auc'])} | {depths} | {r['train_seconds']:.0f} | "
            f"`{settings}` |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, required=True, help="the train-q recipe every run starts from")
    parser.add_argument("--run", action="append", required=True, help="'NAME: KEY=VALUE ...' (repeatable)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="KEY=VALUE for every run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = [parse_run(r) for r in args.run]
    configs = []
    for name, sets in runs:  # resolve every config first: a bad setting stops the sweep before any training
        config = resolve(TrainConfig, args.recipe, args.sets + sets + [f"train.out={args.out / slug(name)}"], {})
        configs.append((name, sets, config))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, sets, config in configs:
        out = train_q.run(config)
        rows.append(row(name, sets, out))
        (args.out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        (args.out / "sweep.md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))


if __name__ == "__main__":
    try:
        main()
    except QstarError as exc:  # a bad recipe, setting or run folder: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
