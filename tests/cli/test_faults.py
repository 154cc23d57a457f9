"""Faults a long run meets, on the real embedded model (hf backend): SIGTERM and SIGINT stop it
cleanly and the rerun resumes; a full disk (a file size limit here) gives one clear error and
leaves no torn record; a second run pointed at the same folder is refused while the first lives."""

import json
import resource
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import HF
from tests.conftest import data_env as _data_env

pytestmark = pytest.mark.slow

N = 4


def data_env() -> dict:
    return {**_data_env(), "COLUMNS": "300"}  # messages on one line, as the tests read them


def collect(out, *extra):
    return [
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
        "32",
        *HF,
        "--set",
        "collect.batch_questions=1",
        "--out",
        str(out),
        *extra,
    ]


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def wait_for_records(proc, records, count: int, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if len(lines(records)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{records}: fewer than {count} records before the run ended or {timeout} s passed")


def finish_and_check(out, env=None) -> dict:
    result = subprocess.run(collect(out), env=env or data_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = [json.loads(line)["id"] for line in lines(out / "rollouts.jsonl")]
    assert ids == [f"mawps/test/{i}" for i in range(N)]  # every question once, in order
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    return manifest


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_cleanly_and_the_rerun_resumes(tmp_path, data_dir, embedded_model, sig, code):
    out = tmp_path / "run"
    # a terminal's Ctrl-C reaches a child whose SIGINT is the default; a suite started in the
    # background (`cmd &`, nohup) inherits SIGINT ignored, and Python then keeps it ignored
    proc = subprocess.Popen(
        collect(out),
        env=data_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for_records(proc, out / "rollouts.jsonl", 1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"stopped ({signal.Signals(sig).name}): finished questions are saved" in " ".join(stderr.split())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["sessions"][-1]["stopped_by"] == signal.Signals(sig).name
    kept = len(lines(out / "rollouts.jsonl"))
    assert 1 <= kept < N and all(json.loads(line) for line in lines(out / "rollouts.jsonl"))
    manifest = finish_and_check(out)
    assert manifest["sessions"][-1]["generated_questions"] == N - kept  # nothing finished was redone


def test_a_full_disk_is_one_clear_error_and_leaves_no_torn_record(tmp_path, data_dir, embedded_model):
    out = tmp_path / "run"
    limit = 4_000  # bytes per file: a record is ~1.6 KB, so the third one crosses it

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        collect(out), env=data_env(), capture_output=True, text=True, timeout=600, preexec_fn=small_files
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"file size limit reached while writing {out / 'rollouts.jsonl'}" in " ".join(result.stderr.split())
    data = (out / "rollouts.jsonl").read_bytes()
    assert data.endswith(b"\n") and 1 <= data.count(b"\n") < N  # whole records only: the torn one was cut
    assert all(json.loads(line) for line in data.splitlines())
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    finish_and_check(out)  # space again: the rerun completes


def test_two_runs_in_one_folder_the_second_is_refused(tmp_path, data_dir, embedded_model):
    out = tmp_path / "run"
    first = subprocess.Popen(collect(out), env=data_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_records(first, out / "rollouts.jsonl", 1)
        before = (out / "rollouts.jsonl").read_bytes()
        second = subprocess.run(collect(out), env=data_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        message = " ".join(second.stderr.split())
        assert f"is in use by another qstar run (pid {first.pid} on " in message and "collect-rollouts" in message
        assert (out / "rollouts.jsonl").read_bytes().startswith(before)  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    finish_and_check(out)  # the dead run's lock is taken over; its finished questions are kept


def test_a_stopped_eval_records_the_tokens_it_spent(tmp_path, data_dir, embedded_model):
    """The session record of a stopped eval counts its tokens (the finished questions' and those in
    flight): wall time and tokens/s over sessions stay honest for a run resumed after a stop."""
    out = tmp_path / "eval"
    args = [
        sys.executable,
        "-m",
        "qstar_cli.cli",
        "eval",
        "--dataset",
        "mawps",
        "--split",
        "test",
        "--limit",
        str(N),
        "--search",
        "self-consistency",
        "-n",
        "2",
        "--set",
        "sampling.max_tokens=32",
        *HF,
        "--set",
        "eval.batch_questions=1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(args, env=data_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_records(proc, out / "predictions.jsonl", 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    session = json.loads((out / "manifest.json").read_text())["sessions"][-1]
    saved = [json.loads(line)["usage"]["generated_tokens"] for line in lines(out / "predictions.jsonl")]
    assert session["stopped_by"] == "SIGTERM" and 1 <= len(saved) < N
    assert session["generated_tokens"] >= sum(saved) > 0 and session["backend_calls"] >= len(saved)
