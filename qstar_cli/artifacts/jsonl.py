"""JSONL reading and crash-safe appending.

Every artifact is JSONL: one JSON object a line. Readers name the file and line of anything
malformed. Writers append one record at a time and flush (and fsync) it, so a crash loses at most
the line being written; `repair_tail` finds such a torn last line on resume and cuts it off.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

from qstar_cli.errors import QstarError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line is a QstarError."""
    path = Path(path)
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise QstarError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise QstarError(f"expected a JSONL file but found a directory: {path}") from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QstarError(f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise QstarError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def read_jsonl(path: str | Path) -> list[dict]:
    return [obj for _, obj in iter_jsonl(path)]


def repair_tail(path: str | Path) -> int:
    """Cut a torn last line (no newline, or not valid JSON) left by a crash; return bytes removed.

    Only the last line can be torn by an interrupted append, so only it is repaired; a bad line
    anywhere else is real corruption and is reported by the reader instead.
    """
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data:
        return 0
    body_end = len(data)
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
    else:
        prev = data.rfind(b"\n", 0, len(data) - 1) + 1
        try:
            json.loads(data[prev:])
            return 0
        except ValueError:
            cut = prev
    with path.open("r+b") as handle:
        handle.truncate(cut)
    return body_end - cut


class JsonlAppender:
    """Append records to a JSONL file, each flushed and fsynced before the call returns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        start = os.fstat(self._fd).st_size
        try:
            written = 0
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except OSError as exc:
            # a full disk (or a file size limit) stopped the line part-way: cut it now, so no torn
            # record stays behind for a resume to trust, whatever happens next
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise disk_error(exc, self.path) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_jsonl(path: str | Path, records: list[dict]) -> None:
    """Write a whole file atomically (temp file + rename), for merged or rewritten artifacts."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_error(exc, path) from None


def disk_error(exc: OSError, path: Path) -> QstarError:
    """Turn an OS write failure into a user-facing message (disk full is the common one)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}
        return QstarError(
            f"{what[exc.errno]} while writing {path}; free space and rerun the same command to resume "
            f"(finished questions are kept)"
        )
    if exc.errno == errno.EACCES:
        return QstarError(f"permission denied writing {path}")
    return QstarError(f"could not write {path}: {exc.strerror or exc}")


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_error(exc, path) from None
