"""SIGKILL in the middle of collect-rollouts, then rerun: nothing lost, duplicated or regenerated."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import HF, data_env

pytestmark = pytest.mark.slow

N = 8


def test_sigkill_then_resume(tmp_path, data_dir, embedded_model):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "qstar_cli.cli",
        "collect-rollouts",
        "--dataset",
        "mawps",
        "--split",
        "test",
        "--limit",
        str(N),
        "--num-rollouts",
        "2",
        "--max-tokens",
        "48",
        *HF,
        "--set",
        "collect.batch_questions=1",
        "--out",
        str(out),
    ]
    env = data_env()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = out / "rollouts.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if records.exists() and records.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False
    data = records.read_bytes()
    kept = data[: data.rfind(b"\n") + 1]  # whole lines the killed run finished
    done_ids = [json.loads(line)["id"] for line in kept.splitlines()]
    assert 2 <= len(done_ids) < N
    with records.open("ab") as handle:  # as if the kill had landed in the middle of a write
        handle.write(b'{"schema": "rollouts/1", "id": "torn-')

    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torn last line" in result.stderr
    final = records.read_bytes()
    assert final.startswith(kept)  # finished questions kept byte for byte, never regenerated
    ids = [json.loads(line)["id"] for line in final.splitlines()]
    assert len(ids) == len(set(ids)) == N
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and ids == manifest["expected_ids"]
    assert manifest["sessions"][-1]["generated_questions"] == N - len(done_ids)
