"""`--ray ADDRESS` on collect-rollouts, label and eval: the stage split into shards, one Ray task
per shard, and the shards merged into the run folder one process would have written.

Each task runs the stage's own command (`python -m qstar_cli.cli <stage> --recipe <the resolved
config> --set data.shard=i/n --out <out>.shards/shard<i>of<n>`) in a child process of the Ray
worker, on the GPUs Ray gave the task (CUDA_VISIBLE_DEVICES). So a shard is an ordinary run: it
resumes, and a task Ray retries (the command failed, the worker or its node died, a spot node was
preempted) carries on from the shard's last finished question. The child dies with its worker
(PR_SET_PDEATHSIG), so a lost worker never leaves a writer behind beside the retry.

The nodes need qstar, the models and the run folder at the same paths as this machine (a shared
file system, as on most clusters); the driver only reads the shards' records to show progress and
merges them at the end. Ray is imported here only: `pip install qstar[ray]`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.config import to_dict
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.launch import shards as S

# environment the shards need from the driver's (Ray workers start with the `ray start` shell's)
FORWARD_ENV = ("QSTAR_", "HF_", "TRANSFORMERS_", "VLLM_", "OPENAI_", "PYTHONPATH")
POLL_SECONDS = 2.0


def run(section: str, config) -> Path:
    stage = STAGES[section]
    out, total = S.check(section, config)
    if S.is_complete(out):
        ui.info(f"{out} is already complete; nothing to run")
        return out
    ray = _connect(config.ray.address)
    gpus = config.ray.gpus_per_shard if config.ray.gpus_per_shard is not None else _policy_gpus(config, ray)
    n = _shard_count(config, out, gpus, total, ray)
    recipe = _write_recipe(config, out, stage.command)
    todo = S.unfinished(out, n, config)
    ui.info(
        f"{stage.command} on Ray ({config.ray.address}): {total} questions in {n} shards, "
        f"{config.ray.cpus_per_shard} CPU and {gpus} GPU each, {config.ray.retries} retries; "
        f"{len(todo)} to run -> {out}"
    )
    task = ray.remote(_run_shard).options(
        num_cpus=config.ray.cpus_per_shard, num_gpus=gpus, max_retries=config.ray.retries, retry_exceptions=True
    )
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARD_ENV)}
    logs = S.folder(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    refs = {}
    for i in todo:
        command = [
            "-m",
            "qstar_cli.cli",
            stage.command,
            "--recipe",
            str(recipe),
            "--set",
            f"data.shard={i}/{n}",
            "--out",
            str(S.shard_out(out, i, n)),
        ]
        refs[task.remote(command, str(Path.cwd()), env, str(logs / f"shard{i}.log"), str(logs / "attempts.log"))] = i
    failed = _wait(ray, refs, stage, out, n, total, logs)
    if failed:
        detail = "; ".join(f"shard {i}: {why} (log {logs / f'shard{i}.log'})" for i, why in sorted(failed.items()))
        raise QstarError(
            f"{len(failed)} of {n} shards failed after {config.ray.retries} retries: {detail}. "
            "Rerun the same command to resume them (finished questions are kept)"
        )
    from qstar_cli.stages import merge

    merge.run([str(S.shard_out(out, i, n)) for i in range(n)], str(out))
    stage.load().show_summary(json.loads((out / "metrics.json").read_text(encoding="utf-8")), out)
    return out


def _connect(address: str):
    try:
        import ray
    except ImportError:
        raise QstarError("--ray needs Ray: pip install 'qstar[ray]' (or pip install 'ray[default]')") from None
    _check_reachable(address)
    # ray.init installs its own SIGTERM and SIGINT handlers (a fatal-signal dump and exit 1): a
    # scheduler's stop must still end the launch as every qstar stage ends, with one line and
    # 128 + the signal, the shards cancelled and their finished questions kept
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    level = "INFO" if ui.verbose() else "ERROR"  # the shards' own output goes to their log files either way
    try:
        if address == "local":  # a cluster of this machine alone, for the length of the run
            ray.init(logging_level=level, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, logging_level=level, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise QstarError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return ray


def _check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that does not answer is refused at once (ray.init would wait
    for it for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        if address not in ("auto", "local"):
            raise QstarError(f"--ray takes auto, local or HOST:PORT (e.g. 10.0.0.1:6379), got {address!r}")
        return
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise QstarError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc}") from None


def _policy_gpus(config, ray) -> int:
    """GPUs a shard asks for when the recipe does not say: none on a cluster without GPUs; else the
    policy's (what its backend declares: vLLM tensor x pipeline parallel size, hf one), which the QVM
    and PRM share (vLLM leaves them memory); a served policy (openai) has none, so they get one of
    their own."""
    if not ray.cluster_resources().get("GPU"):
        return 0
    from qstar_cli.backends import backend_class, choose_backend

    backend = choose_backend(config.policy.backend)
    policy = backend_class(backend).gpus(config.policy.options.get(backend, {}))
    section = getattr(config, "eval", None)
    value_model = section is not None and (section.qvm or section.prm)
    return max(policy, 1 if value_model else 0)


def _shard_count(config, out: Path, gpus: int, total: int, ray) -> int:
    """ray.shards; else the shards an interrupted launch of this run made (so a resume keeps its
    finished shards when the cluster has grown or shrunk); else as many as run at once."""
    if config.ray.shards:
        return min(config.ray.shards, total)
    earlier = sorted(S.folder(out).glob("shard0of*"))
    if earlier:
        return int(earlier[-1].name.rpartition("of")[2])
    resources = ray.cluster_resources()
    fits = resources.get("GPU", 0) // gpus if gpus else resources.get("CPU", 0) // config.ray.cpus_per_shard
    return max(1, min(int(fits), total))


def _write_recipe(config, out: Path, command: str) -> Path:
    """The resolved config every shard runs, as a recipe (without --ray, so a shard runs in place)."""
    values = to_dict(config)
    values["ray"] = {**values["ray"], "address": None}
    path = S.folder(out) / f"{command}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _wait(ray, refs: dict, stage, out: Path, n: int, total: int, logs: Path) -> dict[int, str]:
    """One progress bar over every shard's records until all tasks end: {shard: why} of those failed."""
    counters = {i: _Counter(S.shard_out(out, i, n) / stage.records) for i in range(n)}
    failed: dict[int, str] = {}
    started, attempts_before = time.monotonic(), _lines(logs / "attempts.log")
    done_before = sum(c.poll()[0] for c in counters.values())
    tokens_before = sum(c.tokens for c in counters.values())  # a resumed launch: tok/s of this session's work
    try:
        with ui.progress() as bar:
            task = bar.add_task(f"{stage.command} (ray)", total=total, completed=done_before, stats="")
            pending = dict(refs)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL_SECONDS)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as exc:  # every task failure is reported per shard
                        failed[i] = _reason(exc)
                done = sum(c.poll()[0] for c in counters.values())
                tokens = sum(c.tokens for c in counters.values()) - tokens_before
                retries = max(0, _lines(logs / "attempts.log") - attempts_before - len(refs))
                bar.update(
                    task,
                    completed=done,
                    stats=f"{len(refs) - len(pending)}/{len(refs)} shards  "
                    f"{tokens / max(time.monotonic() - started, 1e-9):,.0f} tok/s  retries {retries}",
                )
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    return failed


class _Counter:
    """Questions and generated tokens in a growing records file, read from where it last stopped."""

    def __init__(self, path: Path):
        self.path, self.offset, self.questions, self.tokens = path, 0, 0, 0

    def poll(self) -> tuple[int, int]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return self.questions, self.tokens
        if size < self.offset:  # a resumed shard cut a torn last line: count again
            self.offset = self.questions = self.tokens = 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            self.questions += 1
            self.tokens += _generated_tokens(record)
        return self.questions, self.tokens


def _generated_tokens(record: dict) -> int:
    if "usage" in record:  # eval
        return record["usage"].get("generated_tokens", 0)
    return sum(t.get("tokens", 0) for t in record.get("trajectories", ()))  # collect (labels: not recorded)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _run_shard(command: list[str], cwd: str, env: dict, log: str, attempts: str) -> None:
    """A Ray task: one shard's stage command, in a child that dies with this worker."""
    import socket
    import subprocess

    with open(attempts, "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {socket.gethostname()} pid {os.getpid()} {' '.join(command)}\n")
    with open(log, "ab") as f:
        code = subprocess.run(
            [sys.executable, *command],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=f,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        ).returncode
    if code != 0:
        raise RuntimeError(f"the stage exited with status {code}")


def _die_with_parent() -> None:
    """In the child: SIGKILL when the Ray worker that started it dies (Linux; elsewhere a no-op)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
