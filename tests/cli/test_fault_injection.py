"""The fast subset of tests/tools/fault_injection.py (the README's table comes from the full run):
merge SIGKILLed three times at random points, resumed, and checked against an uninterrupted merge."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, data_env

pytestmark = pytest.mark.slow


def test_merge_survives_kills(tmp_path, data_dir, embedded_model):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "tools" / "fault_injection.py"),
            "--stages",
            "merge",
            "--kills",
            "3",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        ],
        env=data_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (row,) = json.loads((tmp_path / "fault_injection.json").read_text())["rows"]
    assert row["stage"] == "merge" and row["kills"] == 3 and row["chains"] >= 1
    assert row["resumed_ok"] == row["chains"] and row["identical"] and row["metrics_ok"]
    assert row["lost"] == row["duplicated"] == row["invalid"] == row["complete_too_early"] == 0
    assert "| merge | 3 |" in (tmp_path / "fault_injection.md").read_text()
