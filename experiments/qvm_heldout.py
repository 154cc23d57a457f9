"""Re-evaluate a trained QVM on its own held-out questions with this qstar's diagnostics.

    python experiments/qvm_heldout.py runs/cpu/mawps/qvm

Rebuilds the train-q run's held-out split (same label runs, train.heldout_fraction, train.seed),
scores it with the saved QVM and rewrites metrics.json's `heldout` (train-q's own is kept as
`heldout_before`), so a QVM trained before a diagnostic existed (or on another machine) shows it
in `qstar report` without retraining. The run's manifest takes the new metrics.json's checksum, so
the run stays complete: `qstar train-q` with its config still finds it trained (make results resumes).
Its numbers: docs/results/mawps.md, "Three QVM seeds" (see also docs/commands/train-q.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from qstar_cli.artifacts.rundir import read_manifest, sha256_file, write_json_atomic
from qstar_cli.errors import QstarError
from qstar_cli.stages.train_q import label_sources
from qstar_cli.value.fit import examples_from_records
from qstar_cli.value.model import QVM
from qstar_cli.value.train import evaluate, split_by_question


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a train-q run directory")
    args = parser.parse_args()
    if not (args.run / "config.yaml").is_file() or not (args.run / "qvm").is_dir():
        raise QstarError(f"{args.run} is not a train-q run directory (no config.yaml and qvm/)")
    train = (yaml.safe_load((args.run / "config.yaml").read_text(encoding="utf-8")) or {}).get("train", {})
    records, _ = label_sources(train["labels"], train.get("mixed_datasets", False))
    _, held = split_by_question(
        examples_from_records(records), train.get("heldout_fraction", 0.2), train.get("seed", 0)
    )
    qvm = QVM.load(args.run / "qvm", batch_size=train.get("score_batch_size", 32))
    start = time.perf_counter()
    result = evaluate(qvm, held)
    path = args.run / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8"))
    metrics.setdefault("heldout_before", metrics.get("heldout"))  # what train-q itself measured, kept once
    metrics["heldout"] = result
    metrics["heldout_reevaluated"] = {
        "by": "experiments/qvm_heldout.py",
        "device": qvm.device,
        "seconds": round(time.perf_counter() - start, 1),
    }
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    manifest = read_manifest(args.run) if (args.run / "manifest.json").is_file() else {}
    if manifest.get("metrics_sha256"):  # else a run from before checksums: nothing to keep in step
        write_json_atomic(args.run / "manifest.json", {**manifest, "metrics_sha256": sha256_file(path)})
    print(json.dumps({k: v for k, v in result.items() if k not in ("calibration", "auc_by_depth")}, indent=2))


if __name__ == "__main__":
    try:
        main()
    except QstarError as exc:  # a bad recipe, setting or run folder: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
