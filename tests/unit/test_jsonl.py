"""Crash-safe JSONL: torn-tail repair, precise errors, disk full."""

import json
import os

import pytest

from qstar_cli.artifacts.jsonl import JsonlAppender, read_jsonl, repair_tail, write_jsonl
from qstar_cli.errors import QstarError


def test_repair_cuts_only_a_torn_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "tra')
    assert repair_tail(path) == len('{"id": "c", "tra')
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b"]
    assert repair_tail(path) == 0  # idempotent on a clean file


def test_repair_a_last_line_with_newline_but_bad_json(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": \n')
    assert repair_tail(path) == len('{"id": \n')
    assert path.read_text() == '{"id": "a"}\n'


def test_repair_missing_and_empty_files(tmp_path):
    assert repair_tail(tmp_path / "none.jsonl") == 0
    (tmp_path / "e.jsonl").write_text("")
    assert repair_tail(tmp_path / "e.jsonl") == 0


def test_malformed_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": 1}\n\n{"id": 2,}\n{"id": 3}\n')
    with pytest.raises(QstarError, match=r"data.jsonl:3: malformed JSON"):
        read_jsonl(path)
    path.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(QstarError, match=r"data.jsonl:2: expected a JSON object, got list"):
        read_jsonl(path)


def test_append_and_atomic_write(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlAppender(path) as w:
        w.append({"id": "x", "text": "ü"})
        w.append({"id": "y"})
    assert path.read_text(encoding="utf-8").count("\n") == 2
    write_jsonl(tmp_path / "all.jsonl", [{"id": i} for i in range(3)])
    assert [json.loads(line)["id"] for line in (tmp_path / "all.jsonl").read_text().splitlines()] == [0, 1, 2]
    assert not (tmp_path / "all.jsonl.tmp").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_is_a_clear_error():
    writer = JsonlAppender("/dev/full")
    with pytest.raises(QstarError, match="disk full"):
        writer.append({"id": "x"})
