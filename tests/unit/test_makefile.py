"""The Makefile's data source: a clone without ../shared/data beside it reads the Hugging Face hub."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def data_dir_seen(clone: Path, env_value: str | None = None) -> str:
    """QSTAR_DATA_DIR as the Makefile's recipes see it, for a clone at `clone`."""
    clone.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Makefile", clone / "Makefile")
    env = {k: v for k, v in os.environ.items() if k != "QSTAR_DATA_DIR"}
    if env_value is not None:
        env["QSTAR_DATA_DIR"] = env_value
    done = subprocess.run(
        ["make", "-s", "--eval", 'show-data:\n\t@echo "[$$QSTAR_DATA_DIR]"', "show-data"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_clone_alone_reads_the_hub(tmp_path):
    assert data_dir_seen(tmp_path / "alone" / "qstar") == "[]"


def test_shared_data_beside_the_clone_is_used(tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert data_dir_seen(tmp_path / "qstar") == f"[{tmp_path / 'shared' / 'data'}]"


def test_the_users_own_setting_wins(tmp_path):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert data_dir_seen(tmp_path / "qstar", "/data/mine") == "[/data/mine]"
