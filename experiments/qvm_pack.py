"""Carry a trained QVM run in a small archive: its weights as the backbone's + a per-row int8 delta.

A MiniLM QVM is 45 MB even in float16. Fine-tuning moves each weight by little (at most ~0.02 for
MiniLM here), so the difference from the backbone it started from, quantized to int8 with one
scale per row, rebuilds every weight to within ~1e-4 (a float16 step of the weights is ~5e-5 to
5e-4): 17 MB per QVM. The backbone must be the exact one training started from.

    python experiments/qvm_pack.py pack RUN BACKBONE OUT.tar     # where the QVM was trained
    python experiments/qvm_pack.py unpack OUT.tar BACKBONE RUN   # where it is used: float16 weights

`pack` also writes PACK.json into the archive: the largest rebuild error of any weight. The
rebuilt QVM should be re-scored on its held-out split (experiments/qvm_heldout.py RUN) and the AUC
compared with train-q's own (kept in the run's metrics.json). It brought QVM seeds 1 and 2 back
from the GPU (experiments/gpu_evidence.sh): docs/results/mawps.md, "Three QVM seeds"; docs/results/svamp.md.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

WEIGHTS = "model.safetensors"


def _base_name(name: str, base: dict) -> str | None:
    # a sequence-classification model names its encoder (bert.…); the bare backbone does not
    for candidate in (name, name.split(".", 1)[-1]):
        if candidate in base:
            return candidate
    return None


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)


def pack(run: Path, backbone: Path, out: Path) -> dict:
    weights = load_file(str(run / "qvm" / WEIGHTS))
    base = load_file(str(backbone / WEIGHTS))
    arrays, worst = {}, 0.0
    for name, w in weights.items():
        b = _base_name(name, base)
        if b is None or base[b].shape != w.shape:  # the new head: kept whole
            arrays[f"full/{name}"] = w.astype(np.float16)
            continue
        delta = _rows(w.astype(np.float32) - base[b].astype(np.float32))
        scale = np.abs(delta).max(axis=1, keepdims=True) / 127
        scale[scale == 0] = 1.0
        q = np.round(delta / scale).astype(np.int8)
        arrays[f"q/{name}"], arrays[f"s/{name}"], arrays[f"b/{name}"] = q, scale.astype(np.float32), np.array(b)
        rebuilt = _rows(base[b].astype(np.float32)) + q * scale
        worst = max(worst, float(np.abs(rebuilt - _rows(w.astype(np.float32))).max()))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    info = {"max_abs_error": worst, "source_dtype": str(next(iter(weights.values())).dtype)}
    with tarfile.open(out, "w") as tar:

        def add(name: str, data: bytes) -> None:
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))

        add("qvm/delta.npz", buf.getvalue())
        add("PACK.json", json.dumps(info).encode())
        for path in sorted(run.rglob("*")):
            rel = path.relative_to(run)
            if path.is_file() and rel.parts[0] != "checkpoints" and path.name != WEIGHTS:
                tar.add(path, arcname=str(rel))
    return info


def unpack(archive: Path, backbone: Path, run: Path) -> dict:
    base = load_file(str(backbone / WEIGHTS))
    tmp = run.with_name(run.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    arrays = np.load(tmp / "qvm" / "delta.npz")
    weights = {}
    for key in arrays.files:
        kind, name = key.split("/", 1)
        if kind == "full":
            weights[name] = arrays[key]
        elif kind == "q":
            b = base[str(arrays[f"b/{name}"])]
            rebuilt = _rows(b.astype(np.float32)) + arrays[key] * arrays[f"s/{name}"]
            weights[name] = rebuilt.reshape(b.shape).astype(np.float16)
    save_file(weights, str(tmp / "qvm" / WEIGHTS), metadata={"format": "pt"})
    (tmp / "qvm" / "delta.npz").unlink()
    config = json.loads((tmp / "qvm" / "config.json").read_text())
    config["dtype"] = "float16"
    (tmp / "qvm" / "config.json").write_text(json.dumps(config, indent=2))
    tmp.replace(run)
    return json.loads((run / "PACK.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["pack", "unpack"])
    ap.add_argument("src", type=Path)
    ap.add_argument("backbone", type=Path)
    ap.add_argument("dest", type=Path)
    a = ap.parse_args()
    info = (pack if a.action == "pack" else unpack)(a.src, a.backbone, a.dest)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
