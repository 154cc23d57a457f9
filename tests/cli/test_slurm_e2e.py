"""`qstar launch slurm` on a real single-node Slurm (slurmctld + slurmd on this machine, started by
tests/tools/local_slurm.sh when it is not running): an eval recipe as a 2-task array on the embedded
model, a task that fails and is retried or rerun, and the merge job after the array."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_qstar

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm():
    """A Slurm to submit to: one answering here, else a local one started for these tests and
    stopped after them (the machine is left as it was found, but for the slurm-wlm and munge
    packages, installed as root when missing; QSTAR_TEST_SLURM=0 skips these tests instead)."""

    def idle():
        probe = (
            subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
            if shutil.which("sinfo")
            else None
        )
        return probe is not None and probe.returncode == 0 and "idle" in probe.stdout

    if os.environ.get("QSTAR_TEST_SLURM") == "0":
        pytest.skip("QSTAR_TEST_SLURM=0: no local Slurm wanted")
    if idle():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no Slurm answering here, and starting a local one (tests/tools/local_slurm.sh) needs root")
    script = str(REPO / "tests" / "tools" / "local_slurm.sh")
    started = subprocess.run([script], capture_output=True, text=True, timeout=600)
    try:
        if started.returncode != 0 or not idle():
            pytest.skip(f"a local Slurm could not be started here: {started.stderr[-500:]}")
        yield
    finally:
        subprocess.run([script, "stop"], capture_output=True, timeout=120)


@pytest.fixture
def recipe(tmp_path, data_dir, embedded_model):
    path = tmp_path / "greedy.yaml"
    path.write_text(
        "data: {name: mawps, split: test, limit: 4, num_shots: 0}\npolicy: {backend: hf}\n"
        "sampling: {max_tokens: 32}\n"
        f"eval: {{search: greedy, out: {tmp_path / 'eval'}}}\n"
    )
    return path


def flaky_python(tmp_path, crashes: int) -> str:
    """A python for the nodes whose first `crashes` runs of shard 1 fail at once (a task that crashes)."""
    count, script = tmp_path / "crashes", tmp_path / "python"
    script.write_text(
        f'#!/bin/bash\nif [[ "$*" == *"data.shard=1/2"* ]] '
        f"&& [ $(cat {count} 2>/dev/null || echo 0) -lt {crashes} ]; then\n"
        f'  echo $(( $(cat {count} 2>/dev/null || echo 0) + 1 )) > {count}; echo "simulated crash" >&2; exit 3\nfi\n'
        f'exec {sys.executable} "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


def wait_for(path: Path, timeout: float = 600) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (path / "manifest.json").exists():
            manifest = json.loads((path / "manifest.json").read_text())
            if manifest.get("complete"):
                return manifest
        time.sleep(2)
    raise AssertionError(f"{path} not complete after {timeout} s")


def jobs_gone(name_prefix: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True).stdout
        if name_prefix not in queue:
            return
        time.sleep(2)
    raise AssertionError(f"jobs {name_prefix}* still queued")


def test_a_failing_shard_is_retried_then_rerun_and_the_merge_follows(slurm, recipe, tmp_path):
    launch = (
        "launch",
        "slurm",
        "--stage",
        "eval",
        "--recipe",
        str(recipe),
        "--shards",
        "2",
        "--retries",
        "1",
        "--python",
        flaky_python(tmp_path, crashes=2),
    )
    first = run_qstar(*launch)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "submitted every shard as array job" in " ".join(first.stderr.split())
    shards, out = tmp_path / "eval.shards", tmp_path / "eval"
    wait_for(shards / "shard0of2")
    jobs_gone("qstar-eval")  # shard 1 failed twice (its run and its retry): Slurm drops the merge
    log = (tmp_path / "eval.slurm" / "logs" / "shard-1.log").read_text()
    assert "shard 1 failed (attempt 0)" in log and "shard 1 failed (attempt 1)" in log
    assert not (out / "manifest.json").exists()

    again = run_qstar(*launch)  # the same command: only shard 1 is submitted again, then the merge
    assert "submitted the unfinished shards" in " ".join(again.stderr.split()), again.stderr[-2000:]
    wait_for(out)
    assert [json.loads(line)["id"] for line in (out / "predictions.jsonl").read_text().splitlines()] == [
        f"mawps/test/{i}" for i in range(4)
    ]  # each question once, in the unsharded order
    assert json.loads((out / "metrics.json").read_text())["questions"] == 4
    assert len(json.loads((shards / "shard0of2" / "manifest.json").read_text())["sessions"]) == 1  # not redone
    done = run_qstar(*launch)
    assert "already complete; nothing to submit" in " ".join(done.stderr.split())
    other = run_qstar(*launch, "--set", "sampling.max_tokens=40")  # not this run: refused, nothing submitted
    assert other.returncode == 2 and "different config (sampling.max_tokens: 32 -> 40)" in " ".join(
        other.stderr.split()
    )


def test_dry_run_writes_the_scripts_and_submits_nothing(recipe, tmp_path):
    result = run_qstar(
        "launch",
        "slurm",
        "--stage",
        "eval",
        "--recipe",
        str(recipe),
        "--shards",
        "3",
        "--gpus-per-shard",
        "2",
        "--sbatch=--account=lab",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shards = (tmp_path / "eval.slurm" / "shards.sbatch").read_text()
    assert "#SBATCH --gpus-per-task=2" in shards and "#SBATCH --account=lab" in shards
    assert "--set data.shard=$i/3 --out" in shards and "shard${i}of3" in shards
    assert "merge" in (tmp_path / "eval.slurm" / "merge.sbatch").read_text() and "#!/bin/bash" in result.stdout
    assert "#SBATCH --open-mode=append" in shards  # a requeued task keeps its first attempt's log
    # what a user needs to submit the scripts by hand
    assert f"ARRAY_ID=$(sbatch --parsable --array=0,1,2 {tmp_path / 'eval.slurm' / 'shards.sbatch'})" in result.stdout
    assert (
        f"sbatch --dependency=afterok:$ARRAY_ID --kill-on-invalid-dep=yes {tmp_path / 'eval.slurm' / 'merge.sbatch'}"
        in result.stdout
    )
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--stage", "train-q", "--shards", "2"), "not 'train-q' (train-q: accelerate launch inside one job)"),
        (("--stage", "eval", "--shards", "1"), "--shards must be at least 2"),
        (("--stage", "eval", "--shards", "2", "--set", "data.shard=0/2"), "already sets data.shard=0/2"),
        (("--stage", "eval", "--shards", "2", "--set", "eval.search=astar"), "needs a Q-value model"),
    ],
)
def test_bad_launches_are_refused_before_anything_is_written(recipe, tmp_path, args, message):
    result = run_qstar("launch", "slurm", "--recipe", str(recipe), *args)
    assert result.returncode != 0 and message in " ".join(result.stderr.split()), result.stderr[-2000:]
    assert not (tmp_path / "eval.slurm").exists()


def test_label_shards_too_but_fqi_does_not(rollouts, tmp_path):
    recipe = tmp_path / "label.yaml"
    recipe.write_text(f"label: {{input: {rollouts}, num_rollouts: 0, out: {tmp_path / 'labels'}}}\n")
    result = run_qstar("launch", "slurm", "--stage", "label", "--recipe", str(recipe), "--shards", "2", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    shards = (tmp_path / "labels.slurm" / "shards.sbatch").read_text()
    assert " label --recipe " in shards and "--set data.shard=$i/2 --out" in shards
    fqi = run_qstar(
        "launch",
        "slurm",
        "--stage",
        "label",
        "--recipe",
        str(recipe),
        "--shards",
        "2",
        "--set",
        "label.method=fqi",
        "--set",
        "label.num_rollouts=2",
        "--dry-run",
    )
    assert fqi.returncode != 0 and "cannot be sharded" in " ".join(fqi.stderr.split()), fqi.stderr[-2000:]
