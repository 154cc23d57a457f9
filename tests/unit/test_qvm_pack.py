"""experiments/qvm_pack.py: a QVM run carried as its backbone + per-row int8 deltas, rebuilt in float16."""

import importlib.util
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("qvm_pack", REPO / "experiments" / "qvm_pack.py")
qvm_pack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qvm_pack)


def test_a_packed_run_rebuilds_every_weight_within_half_an_int8_step(tmp_path):
    rng = np.random.default_rng(0)
    base = {
        "embeddings.word_embeddings.weight": rng.normal(0, 0.05, (40, 8)).astype(np.float16),
        "encoder.layer.0.dense.weight": rng.normal(0, 0.05, (8, 8)).astype(np.float16),
        "encoder.layer.0.dense.bias": rng.normal(0, 0.05, (8,)).astype(np.float16),
    }
    (tmp_path / "base").mkdir()
    save_file(base, str(tmp_path / "base" / "model.safetensors"))
    trained, largest = {}, 0.0
    for name, b in base.items():
        delta = rng.normal(0, 0.01, b.shape).astype(np.float32)
        if name.startswith("embeddings"):
            delta[:30] = 0  # rows training never touched come back exactly
        trained[f"bert.{name}"] = b.astype(np.float32) + delta
        largest = max(largest, float(np.abs(delta).max()))
    trained["classifier.weight"] = rng.normal(0, 0.1, (1, 8)).astype(np.float32)  # new: no base
    run = tmp_path / "run"
    (run / "qvm").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-2" / "model.safetensors").write_bytes(b"x")
    save_file(trained, str(run / "qvm" / "model.safetensors"))
    (run / "qvm" / "config.json").write_text(json.dumps({"model_type": "bert", "dtype": "float32"}))
    (run / "metrics.json").write_text('{"heldout": {"roc_auc": 0.8}}')

    info = qvm_pack.pack(run, tmp_path / "base", tmp_path / "run.tar")
    qvm_pack.unpack(tmp_path / "run.tar", tmp_path / "base", tmp_path / "back")

    back = load_file(str(tmp_path / "back" / "qvm" / "model.safetensors"))
    assert set(back) == set(trained)
    for name, w in trained.items():
        got = back[name].astype(np.float32)
        assert back[name].dtype == np.float16
        rows = w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(1, -1)
        if name.startswith("bert."):
            # quantizing a row's delta to 127 steps of max|delta|/127 errs by half a step at most;
            # the float16 result adds its own rounding (a relative 2^-11)
            b = base[name.removeprefix("bert.")].astype(np.float32)
            step = np.abs(rows - (b.reshape(rows.shape))).max(axis=1, keepdims=True) / 127
            bound = step / 2 + np.abs(rows) * 2.0**-11 + 1e-7
            assert (np.abs(got.reshape(rows.shape) - rows) <= bound).all(), name
        else:
            np.testing.assert_array_equal(got, w.astype(np.float16).astype(np.float32))
    emb = back["bert.embeddings.word_embeddings.weight"]
    np.testing.assert_array_equal(emb[:30], base["embeddings.word_embeddings.weight"][:30])
    assert 0 < info["max_abs_error"] <= largest / 254 + 1e-7  # before the float16 rounding
    assert json.loads((tmp_path / "back" / "qvm" / "config.json").read_text())["dtype"] == "float16"
    assert (tmp_path / "back" / "metrics.json").read_text() == '{"heldout": {"roc_auc": 0.8}}'
    assert not (tmp_path / "back" / "checkpoints").exists()
    assert json.loads((tmp_path / "back" / "PACK.json").read_text()) == info
