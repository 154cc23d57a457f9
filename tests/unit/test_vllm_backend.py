"""The vLLM backend's engine settings per device, checked on a stand-in engine (no model loads)."""

from __future__ import annotations

import sys
import types

import pytest

from qstar_cli.backends import vllm_backend


class FakeLLM:
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def get_tokenizer(self):
        return None


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=FakeLLM))
    for var in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_HOST_IP", "VLLM_LOGGING_LEVEL"):
        monkeypatch.setenv(var, "x")  # restored after the test; the backend only sets unset ones

    def make(gpu: bool, **kwargs):
        monkeypatch.setattr(vllm_backend, "_on_gpu", lambda: gpu)
        return vllm_backend.VLLMBackend("model", **kwargs).llm.kwargs

    return make


def test_cpu_engines_get_the_measured_block_size(engine):
    assert engine(gpu=False)["block_size"] == vllm_backend.CPU_BLOCK_SIZE == 32
    assert engine(gpu=False)["enforce_eager"] is True and engine(gpu=False)["dtype"] == "float32"


def test_gpu_engines_keep_vllms_own_block_size(engine):
    assert "block_size" not in engine(gpu=True)


def test_an_explicit_block_size_wins_on_both(engine):
    assert engine(gpu=False, block_size=128)["block_size"] == 128
    assert engine(gpu=True, block_size=32)["block_size"] == 32
