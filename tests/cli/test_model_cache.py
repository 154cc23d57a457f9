"""The embedded model's cache ($QSTAR_CACHE/models/): converted once, atomically, under a lock.

Two qstar processes started at once on an empty cache (two stages, two Ray or Slurm tasks on a
fresh node) both get the same complete folder; a converter killed half-way leaves nothing a later
run takes for a model, and its leftovers are cleaned. The GGUF here is a tiny one with the real
tokenizer (tests/tiny_gguf.py), converted by the same code as the embedded model's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_gguf import write_tiny_gguf

REPO = Path(__file__).resolve().parents[2]
NAME = "SmolLM2-135M-Instruct"

# A process that resolves the embedded model (`--model` omitted) with the tiny GGUF in its place.
# argv: gguf, barrier folder, own index, number of processes. Imports come first, then every
# process waits for the others, so the conversions start together.
RESOLVE = """
import errno, os, sys, time
from pathlib import Path
from qstar_cli.backends import models
models.embedded_gguf = lambda: Path(sys.argv[1])
if os.environ.get("NO_FLOCK"):  # a cache on a file system without flock (some NFS, some FUSE mounts)
    import fcntl
    def flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    fcntl.flock = flock
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
barrier, me, count = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(barrier / me).touch()
deadline = time.time() + 120
while len(list(barrier.iterdir())) < count and time.time() < deadline:
    time.sleep(0.01)
print(models.resolve_model(None))
"""


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def env_for(cache: Path, **extra) -> dict:
    env = {**os.environ, "QSTAR_CACHE": str(cache), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def start(gguf: Path, cache: Path, barrier: Path, index: int, count: int, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RESOLVE, str(gguf), str(barrier), str(index), str(count)],
        env=env_for(cache, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_complete(folder: Path) -> None:
    """A folder both backends load: config.json without a quantization note, readable safetensors, tokenizer."""
    from safetensors import safe_open

    config = json.loads((folder / "config.json").read_text())
    assert config.get("quantization_config") is None  # saved as null: loads do not dequantize again
    assert (folder / "tokenizer.json").exists()
    weights = list(folder.glob("*.safetensors"))
    assert weights
    for path in weights:
        with safe_open(str(path), "pt") as f:
            for key in f.keys():  # noqa: SIM118 - a safetensors file handle, not a dict: it cannot be iterated
                f.get_tensor(key)


def assert_only_the_model(models: Path) -> None:
    """No half-made folder beside the model; at most the lock file it was made under."""
    left = sorted(p.name for p in models.iterdir() if p.name != NAME and not p.name.endswith(".lock"))
    assert left == [], left


@pytest.mark.parametrize("locks", ["flock", "no-flock"])
def test_two_processes_on_an_empty_cache(locks, tiny_gguf, tmp_path):
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    extra = {"NO_FLOCK": "1"} if locks == "no-flock" else {}
    started = time.monotonic()
    procs = [start(tiny_gguf, cache, barrier, i, 2, **extra) for i in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    print(f"two processes ({locks}): {time.monotonic() - started:.1f} s")
    for rc, out, err in results:
        assert rc == 0, out + err
        assert "Traceback" not in err, err
    paths = {out.strip().splitlines()[-1] for _, out, _ in results}
    assert paths == {str(cache / "models" / NAME)}
    assert_complete(Path(paths.pop()))
    assert_only_the_model(cache / "models")


def test_a_converter_killed_half_way_leaves_nothing_mistaken_for_a_model(tiny_gguf, tmp_path):
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    models = cache / "models"
    victim = start(tiny_gguf, cache, barrier, 0, 1)
    deadline = time.monotonic() + 120
    # kill it once its half-made folder is there (the conversion has started)
    while time.monotonic() < deadline and victim.poll() is None:
        if models.exists() and any("partial" in p.name for p in models.iterdir()):
            break
        time.sleep(0.02)
    assert victim.poll() is None, victim.communicate()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert not (models / NAME).exists()  # nothing half-made under the model's name
    assert any("partial" in p.name for p in models.iterdir())  # its leftover, until the next run
    result = subprocess.run(
        [sys.executable, "-c", RESOLVE, str(tiny_gguf), str(barrier), "1", "1"],
        env=env_for(cache),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # and it did not wait for the dead one's lock
    assert result.stdout.strip().splitlines()[-1] == str(models / NAME)
    assert_complete(models / NAME)
    assert_only_the_model(models)


def test_leftovers_and_a_half_made_model_folder_are_replaced(tiny_gguf, tmp_path, monkeypatch):
    """What killed converters (or the old unlocked conversion's race) left: temporary folders, and a
    model folder with a config.json but truncated weights. The next run cleans and reconverts."""
    from qstar_cli.backends import models as models_module

    cache = tmp_path / "cache"
    models = cache / "models"
    for leftover in (f"{NAME}.partial", f".{NAME}.partial-k1ll3d", NAME):
        (models / leftover).mkdir(parents=True)
        (models / leftover / "config.json").write_text('{"model_type": "llama"}')
        (models / leftover / "model.safetensors").write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a"')
    monkeypatch.setenv("QSTAR_CACHE", str(cache))
    monkeypatch.setattr(models_module, "embedded_gguf", lambda: tiny_gguf)
    assert models_module.resolve_model(None) == str(models / NAME)
    assert_complete(models / NAME)
    assert_only_the_model(models)
