"""Benchmark QVM backbones on the same labels: training speed, scoring speed, held-out quality.

    python benchmarks/bench_qvm.py --labels runs/labels --backbones embedded minilm --epochs 2 --out bench/qvm
    python benchmarks/bench_qvm.py --labels runs/cpu/svamp/labels --backbones minilm --max-steps 100 \
        --max-length 384 --group-by-length both --out bench/qvm-grouping    # train.group_by_length's speed-up

Each backbone is trained with the same settings and split (by question) through the train-q core;
the JSON and markdown written to --out give train time, examples/s, scoring pairs/s, held-out
MSE (and the MSE of always predicting the mean), ROC-AUC and the positive rate.
Its tables: docs/commands/train-q.md, "Backbones" and "--group-by-length".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qstar_cli.config import TrainSection
from qstar_cli.stages.train_q import label_sources
from qstar_cli.value.fit import examples_from_records, fit_qvm
from qstar_cli.value.model import QVMMeta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs="+", required=True)
    parser.add_argument("--backbones", nargs="+", default=["embedded", "minilm"])
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument(
        "--max-steps", type=int, default=0, help="> 0: cap the optimizer steps (equal-time comparisons)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: per-backbone (see below)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--heldout", type=float, default=0.25)
    parser.add_argument(
        "--group-by-length",
        choices=["off", "on", "both"],
        default="off",
        help="train.group_by_length; both: a row with and one without",
    )
    parser.add_argument("--out", default="bench/qvm")
    args = parser.parse_args()

    records, sources = label_sources(args.labels, mixed_datasets=True)
    examples = examples_from_records(records)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # encoders like a larger step size than decoder LMs of similar depth
    default_lr = {"minilm": 1e-4, "embedded": 3e-5}
    rows = []
    grouping = {"off": [False], "on": [True], "both": [False, True]}[args.group_by_length]
    for backbone, grouped in [(b, g) for b in args.backbones for g in grouping]:
        cfg = TrainSection(
            backbone=backbone,
            epochs=args.epochs,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate or default_lr.get(backbone, 5e-5),
            max_length=args.max_length,
            heldout_fraction=args.heldout,
            logging_steps=5,
            group_by_length=grouped,
        )
        meta = QVMMeta(step_format=sources[0]["step_format"], policy=sources[0]["policy"])
        qvm, metrics = fit_qvm(examples, cfg, out / f"{backbone}{'-grouped' if grouped else ''}", meta)
        items = [(e.question, e.steps, e.action) for e in examples[:512]]
        start = time.perf_counter()
        qvm.score(items)
        score_rate = len(items) / (time.perf_counter() - start)
        held = metrics["heldout"]
        rows.append(
            {
                "backbone": backbone,
                "group_by_length": grouped,
                "parameters": sum(p.numel() for p in qvm.model.parameters()),
                "learning_rate": cfg.learning_rate,
                "train_examples": metrics["train_examples"],
                "train_seconds": metrics["train_seconds"],
                "steps": metrics["train_steps"],
                "train_examples_per_s": metrics["train_steps"] * args.batch_size / max(metrics["train_seconds"], 1e-9),
                "score_pairs_per_s": score_rate,
                "heldout_examples": held.get("examples"),
                "heldout_mse": held.get("mse"),
                "heldout_baseline_mse": held.get("baseline_mse"),
                "heldout_auc": held.get("roc_auc"),
                "heldout_positive_rate": held.get("positive_rate"),
                "train_auc": metrics["train_eval"].get("roc_auc"),
            }
        )
    (out / "bench_qvm.json").write_text(json.dumps(rows, indent=2) + "\n")
    header = (
        "| backbone | grouped by length | params | train s | train ex/s | score pairs/s "
        "| held-out MSE (mean baseline) | held-out AUC | train AUC |"
    )
    lines = [header, "|" + "---|" * 9]

    def f(value, digits):  # a diagnostic there is no data for (no held-out question, one class): -
        return "-" if value is None else f"{value:.{digits}f}"

    for r in rows:
        lines.append(
            f"| {r['backbone']} | {'yes' if r['group_by_length'] else 'no'} | {r['parameters'] / 1e6:.0f}M | "
            f"{r['train_seconds']:.0f} | {r['train_examples_per_s']:.1f} | {r['score_pairs_per_s']:.0f} | "
            f"{f(r['heldout_mse'], 4)} ({f(r['heldout_baseline_mse'], 4)}) | {f(r['heldout_auc'], 3)} | "
            f"{f(r['train_auc'], 3)} |"
        )
    (out / "bench_qvm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
