"""Shared fixtures: where the real data is, and a CLI runner that runs `qstar` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("QSTAR_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "mawps" / "test.jsonl").exists():
        pytest.skip(f"real data not found at {DATA_DIR} (set QSTAR_DATA_DIR)")
    return DATA_DIR


def run_qstar(*args: str, cwd: Path | None = None, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess, exactly as a user would type it."""
    full_env = {**os.environ, "QSTAR_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "qstar_cli.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def qstar():
    return run_qstar


@pytest.fixture(scope="session")
def embedded_model() -> str:
    """The real embedded SmolLM2-135M-Instruct as a safetensors folder (converted once, cached)."""
    from qstar_cli.backends.models import resolve_model

    return resolve_model(None)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, embedded_model) -> str:
    """A tiny randomly-initialised Llama with the embedded model's real tokenizer (fast unit tests)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
