"""`--ray` on a real local Ray cluster started by the test (a head and a worker node on 127.0.0.1,
one CPU each, no GPUs): collect, label and eval with the embedded model across two shards write
the records one process writes, and a Ray worker killed in the middle of its shard is retried by
Ray, resumes the shard, and the run ends with every question exactly once."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli.conftest import ok
from tests.cli.test_qlearning_e2e import read, same_records
from tests.conftest import HF, data_env, run_qstar

pytestmark = pytest.mark.slow
pytest.importorskip("ray")

RAY = str(Path(sys.executable).parent / "ray")
EVAL = (
    "eval",
    "--dataset",
    "mawps",
    "--split",
    "test",
    "--limit",
    "6",
    "--search",
    "self-consistency",
    "-n",
    "2",
    "--set",
    "sampling.max_tokens=48",
    *HF,
    "--set",
    "eval.batch_questions=1",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_nodes(address: str) -> int:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0


@pytest.fixture(scope="module")
def cluster():
    # A loopback cluster without token authentication, whatever this machine holds: once any
    # `ray.init()` has started a local cluster here (`--ray local` does), Ray keeps a token in
    # ~/.ray/auth_token and every later `ray start` turns token auth on by default, which the
    # probe below and the launches then have to match. Every process of this module (ray start,
    # the probe, the qstar launches) inherits the same setting.
    mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    temp = Path(tempfile.mkdtemp(prefix="qray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = _free_port()
    address = f"127.0.0.1:{port}"
    node = [
        "--num-cpus=1",
        "--num-gpus=0",
        "--node-ip-address=127.0.0.1",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        "--block",
    ]
    procs = []
    try:
        with open(temp / "head.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [
                        RAY,
                        "start",
                        "--head",
                        f"--port={port}",
                        "--include-dashboard=false",
                        f"--temp-dir={temp}",
                        *node,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.time() + 180
        while _alive_nodes(address) < 1:
            assert time.time() < deadline, (temp / "head.log").read_text()[-3000:]
            time.sleep(2)
        with open(temp / "worker.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [RAY, "start", f"--address={address}", *node],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        while _alive_nodes(address) < 2:
            assert time.time() < deadline, (temp / "worker.log").read_text()[-3000:]
            time.sleep(2)
        yield address
    finally:
        # SIGTERM to both nodes at once, then SIGKILL to what still runs after 10 s: a `ray start
        # --block` head can take its whole wait to stop, one node after the other (30 s each)
        _signal_groups(procs, signal.SIGTERM)
        deadline = time.time() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        _signal_groups([p for p in procs if p.poll() is None], signal.SIGKILL)
        for proc in procs:
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)
        if mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = mode


def _signal_groups(procs: list[subprocess.Popen], sig: int) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in records]


def kill_worker_of(shard: Path, timeout: float = 600) -> None:
    """SIGKILL the Ray worker running `shard` once the shard has written its first record."""
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        records = shard / "predictions.jsonl"
        if records.exists() and records.read_text().count("\n") >= 1:
            for proc in psutil.process_iter(["cmdline"]):
                if str(shard) in " ".join(proc.info["cmdline"] or ()) and "qstar_cli.cli" in " ".join(
                    proc.info["cmdline"]
                ):
                    proc.parent().send_signal(signal.SIGKILL)  # the worker; its child dies with it
                    return
        time.sleep(0.2)
    raise AssertionError(f"{shard} wrote no record in {timeout} s")


def test_eval_across_shards_survives_a_killed_worker_and_equals_one_process(
    cluster, tmp_path, data_dir, embedded_model
):
    ok(run_qstar(*EVAL, "--out", str(tmp_path / "one")))
    out = tmp_path / "ray"
    launch = subprocess.Popen(
        [sys.executable, "-m", "qstar_cli.cli", *EVAL, "--ray", cluster, "--shards", "2", "--out", str(out)],
        env={**data_env(), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_worker_of(out.with_name("ray.shards") / "shard1of2")
    stdout, stderr = launch.communicate(timeout=900)
    assert launch.returncode == 0, stderr[-4000:]
    assert "accuracy (95% CI)" in stdout  # the stage's own summary table, after the merge
    records = read(out / "predictions.jsonl")
    assert [r["id"] for r in records] == [f"mawps/test/{i}" for i in range(6)]  # each question once, in order
    assert same_records(without_timing(records), without_timing(read(tmp_path / "one" / "predictions.jsonl")))
    attempts = (out.with_name("ray.shards") / "logs" / "attempts.log").read_text().splitlines()
    assert sum("shard1of2" in line for line in attempts) == 2 and sum("shard0of2" in line for line in attempts) == 1
    resumed = json.loads((out.with_name("ray.shards") / "shard1of2" / "manifest.json").read_text())
    assert len(resumed["sessions"]) == 2  # Ray's retry resumed the shard: its finished question was kept
    metrics, single = (json.loads((d / "metrics.json").read_text()) for d in (out, tmp_path / "one"))
    assert metrics["questions"] == 6 and metrics["accuracy"] == single["accuracy"]
    again = ok(run_qstar(*EVAL, "--ray", cluster, "--shards", "2", "--out", str(out)))
    assert "already complete" in " ".join(again.stderr.split())
    other = run_qstar(*EVAL, "-n", "3", "--ray", cluster, "--shards", "2", "--out", str(out))  # not this run
    assert other.returncode == 2 and "different config (eval.n: 2 -> 3)" in " ".join(other.stderr.split()), other.stderr


def test_sigterm_stops_a_ray_launch_like_any_stage(cluster, tmp_path, data_dir, embedded_model):
    """Ray's own handler (a fatal-signal dump, exit 1) does not replace qstar's: one line, 143, and
    the shards stop."""
    import psutil

    out = tmp_path / "ray"
    launch = subprocess.Popen(
        [sys.executable, "-m", "qstar_cli.cli", *EVAL, "--ray", cluster, "--shards", "2", "--out", str(out)],
        env={**data_env(), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    attempts = out.with_name("ray.shards") / "logs" / "attempts.log"
    deadline = time.time() + 300
    while not (attempts.exists() and attempts.read_text().count("\n") >= 2):
        assert time.time() < deadline and launch.poll() is None, launch.communicate()[1][-3000:]
        time.sleep(0.2)
    launch.send_signal(signal.SIGTERM)
    _, stderr = launch.communicate(timeout=120)
    assert launch.returncode == 143, stderr[-3000:]
    assert "stopped (SIGTERM)" in stderr and "SIGTERM received" not in stderr and "Traceback" not in stderr, stderr
    deadline = time.time() + 60
    while any(str(out) in " ".join(p.info["cmdline"] or ()) for p in psutil.process_iter(["cmdline"])):
        assert time.time() < deadline, "a shard still runs a minute after the launch was stopped"
        time.sleep(1)


def test_collect_and_label_across_shards_equal_one_process(cluster, rollouts, tmp_path):
    """The session's rollouts (collect on one process) again on Ray, then labels from their own
    endings (no model) on Ray and on one process."""
    out = tmp_path / "rollouts"
    ok(
        run_qstar(
            "collect-rollouts",
            "--dataset",
            "mawps",
            "--split",
            "test",
            "--limit",
            "3",
            "--num-rollouts",
            "2",
            "--max-tokens",
            "40",
            "--temperature",
            "0.8",
            "--backend",
            "hf",  # float32, as the one-process run it must equal (bfloat16 results depend on the batch)
            "--ray",
            cluster,
            "--out",
            str(out),
        )
    )
    assert same_records(read(out / "rollouts.jsonl"), read(rollouts / "rollouts.jsonl"))
    assert len(list(out.with_name("rollouts.shards").glob("shard*of2"))) == 2  # one shard per node CPU
    label = ("label", "--input", str(rollouts), "--num-rollouts", "0")
    ok(run_qstar(*label, "--ray", cluster, "--out", str(tmp_path / "labels-ray")))
    ok(run_qstar(*label, "--out", str(tmp_path / "labels-one")))
    assert read(tmp_path / "labels-ray" / "qlabels.jsonl") == read(tmp_path / "labels-one" / "qlabels.jsonl")


@pytest.mark.parametrize(
    "args, message",
    [
        (("--search", "greedy", "--ray", "127.0.0.1:1"), "cannot reach the Ray cluster"),
        (("--search", "greedy", "--ray", "nonsense"), "--ray takes auto, local or HOST:PORT"),
        (("--search", "greedy", "--ray", "auto", "--shard", "0/2"), "already sets data.shard=0/2"),
        (("--search", "astar", "--ray", "auto"), "needs a Q-value model"),
    ],
)
def test_bad_ray_launches_fail_cleanly(tmp_path, data_dir, args, message):
    result = run_qstar(
        "eval", "--dataset", "mawps", "--limit", "2", "--backend", "hf", *args, "--out", str(tmp_path / "e")
    )
    assert result.returncode != 0 and message in " ".join(result.stderr.split()), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "e").exists()
