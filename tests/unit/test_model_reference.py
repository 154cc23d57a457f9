"""`--model` (and --prm, --backbone): a path or a Hugging Face id, told apart before any hub lookup.

A value that names a folder that is not there fails at once with "no such folder"; a hub id that
cannot be had (offline and not cached, or the hub unreachable) fails at once too, not after
huggingface_hub's 25 s of retries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qstar_cli.backends.models import check_reference
from qstar_cli.errors import QstarError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks transformers for a hub config."""
    import transformers

    calls = []

    def from_pretrained(name, *args, **kwargs):
        calls.append(name)
        raise AssertionError(f"hub lookup for {name!r}")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)
    return calls


@pytest.mark.parametrize(
    "value",
    [
        "./x",
        "../nope/model",
        "/no/such/model",
        "~/no-such-model-qstar",
        "models/foo",
        "runs/qvm/backbone",
        "foo/",
        "org/name/",
        "my model",
        "a//b",
    ],
)
def test_a_missing_path_is_refused_at_once(value, tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()  # `models/foo` is a path because models/ is a folder here
    (tmp_path / "runs").mkdir()
    started = time.monotonic()
    with pytest.raises(QstarError) as error:
        check_reference(value, "model")
    assert time.monotonic() - started < 1
    message = str(error.value)
    assert "\n" not in message
    assert f"model path not found: {value}" in message and "no such folder" in message, message
    assert not no_hub


def test_org_name_without_such_a_folder_is_a_hub_id(tmp_path, monkeypatch, no_hub):
    """`org/name` with no `org/` folder here stays a hub id: the hub (here: offline) is asked."""
    from huggingface_hub import constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with pytest.raises(QstarError) as error:
        check_reference("no-such-org/no-such-model", "model")
    message = str(error.value)
    assert "no such folder" not in message
    assert "no-such-org/no-such-model" in message and "HF_HUB_OFFLINE" in message, message
    assert "Hugging Face cache" in message, message
    assert not no_hub  # offline and not cached: refused without asking transformers


def test_an_existing_folder_is_used(tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "foo").mkdir(parents=True)
    with pytest.raises(QstarError, match="has no config.json"):
        check_reference("models/foo", "model")
    (tmp_path / "models" / "foo" / "config.json").write_text("{}")
    assert check_reference("models/foo", "model") == str((tmp_path / "models" / "foo").resolve())
    assert check_reference("models/foo/", "model") == str((tmp_path / "models" / "foo").resolve())


def fake_hub_cache(root: Path, repo: str) -> None:
    """What a past download of `repo`'s config.json leaves in the Hugging Face cache."""
    folder = root / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(
        json.dumps({"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2})
    )


def test_an_unreachable_hub_fails_at_once(tmp_path):
    """No network (here: a hub endpoint that refuses connections): a hub id that is not cached fails
    in seconds, not after huggingface_hub's retries (25 s); one that is cached still resolves."""
    hf_home = tmp_path / "hf"
    fake_hub_cache(hf_home / "hub", "cached-org/cached-model")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE")}
    env.update(HF_HOME=str(hf_home), HF_ENDPOINT="http://127.0.0.1:9", PYTHONPATH=str(REPO))
    script = """
import time
from qstar_cli.backends.models import check_reference
from qstar_cli.errors import QstarError
import transformers  # its import is not what is timed
started = time.monotonic()
try:
    check_reference("no-such-org/no-such-model", "model")
    print("RESOLVED")
except QstarError as exc:
    print("ERROR", exc)
print("SECONDS", time.monotonic() - started)
started = time.monotonic()
print("CACHED", check_reference("cached-org/cached-model", "model"), time.monotonic() - started)
"""
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}
    assert "no-such-org/no-such-model" in lines["ERROR"] and "reach" in lines["ERROR"], result.stdout
    assert float(lines["SECONDS"]) < 8, result.stdout
    name, seconds = lines["CACHED"].split()
    assert name == "cached-org/cached-model" and float(seconds) < 8, result.stdout
