"""The embedded model cache's bookkeeping, without a conversion (the races: tests/cli/test_model_cache.py)."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from qstar_cli.backends import models

NAME = models.EMBEDDED_NAME


def no_conversion():
    raise AssertionError("converted although the cache has the model")


def older_qstars_folder(folder: Path) -> Path:
    """A complete conversion as qstar made it before the completion marker."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer.json").write_text("{}")
    save_file({"w": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    return folder


def test_an_older_qstars_whole_conversion_is_kept_and_marked(tmp_path):
    target = older_qstars_folder(tmp_path / "models" / NAME)
    assert not models.is_complete(target)
    assert models.cached_conversion(no_conversion, target) == target
    assert models.is_complete(target)
    assert (target / "model.safetensors").stat().st_size > 64


def test_a_truncated_conversion_is_not_taken_for_whole(tmp_path):
    target = older_qstars_folder(tmp_path / "models" / NAME)
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    assert not models._weights_intact(target)
    with pytest.raises(AssertionError, match="converted"):
        models.cached_conversion(no_conversion, target)


def test_without_flock_only_old_leftovers_are_removed(tmp_path, monkeypatch):
    """No lock (a file system without flock): a temporary folder may be a live converter's, so only
    one untouched for STALE_AFTER_S goes; under the lock every leftover goes."""
    parent = tmp_path / "models"
    fresh, old = parent / f".{NAME}.partial-1-aa", parent / f".{NAME}.partial-2-bb"
    for folder in (fresh, old):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x")
    long_ago = time.time() - models.STALE_AFTER_S - 60
    for path in (old / "model.safetensors", old):
        os.utime(path, (long_ago, long_ago))
    unrelated = parent / "other-model"
    unrelated.mkdir()
    models.remove_leftovers(parent / NAME, locked=False)
    assert fresh.exists() and not old.exists() and unrelated.exists()
    models.remove_leftovers(parent / NAME, locked=True)
    assert not fresh.exists() and unrelated.exists()


def test_a_file_system_without_flock_still_converts(tmp_path, monkeypatch):
    import fcntl

    def flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", flock)
    target = tmp_path / "models" / NAME
    target.parent.mkdir(parents=True)
    with models.conversion_lock(target) as locked:
        assert locked is False

    def convert(gguf, out):  # what convert_gguf leaves: a marked folder at `out`
        older_qstars_folder(out)
        models._write_marker(out, {"source": "test"})
        return out

    monkeypatch.setattr(models, "convert_gguf", convert)
    assert models.cached_conversion(lambda: tmp_path / "x.gguf", target) == target
    assert models.is_complete(target)


def test_the_lock_is_exclusive_across_open_files(tmp_path):
    """Two holders in one process (two open files: what two processes would have) exclude each other."""
    import fcntl

    target = tmp_path / NAME
    with models.conversion_lock(target) as locked:
        assert locked
        fd = os.open(target.with_name(f".{NAME}.lock"), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(target.with_name(f".{NAME}.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # freed on leaving
    finally:
        os.close(fd)
