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


def test_multi_gpu_options_reach_the_engine(engine):
    kwargs = engine(
        gpu=True,
        tensor_parallel_size=4,
        pipeline_parallel_size=2,
        distributed_executor_backend="ray",
        max_num_seqs=512,
        engine_args={"quantization": "fp8", "enable_chunked_prefill": True},
    )
    assert (kwargs["tensor_parallel_size"], kwargs["pipeline_parallel_size"]) == (4, 2)
    assert (kwargs["distributed_executor_backend"], kwargs["max_num_seqs"]) == ("ray", 512)
    assert (kwargs["quantization"], kwargs["enable_chunked_prefill"]) == ("fp8", True)
    cpu = engine(gpu=False, tensor_parallel_size=4, max_num_seqs=64)  # no parallelism on a CPU engine
    assert "tensor_parallel_size" not in cpu and cpu["max_num_seqs"] == 64


def test_the_weight_loading_bar_shows_only_with_verbose(engine, monkeypatch):
    monkeypatch.delenv("QSTAR_VERBOSE", raising=False)
    assert engine(gpu=False)["use_tqdm_on_load"] is False
    monkeypatch.setenv("QSTAR_VERBOSE", "1")
    assert engine(gpu=True)["use_tqdm_on_load"] is True
    monkeypatch.delenv("QSTAR_VERBOSE")
    assert engine(gpu=False, engine_args={"use_tqdm_on_load": True})["use_tqdm_on_load"] is True  # a user's wins


def test_engine_args_cannot_override_what_qstar_sets():
    from qstar_cli.config import EvalConfig, resolve
    from qstar_cli.errors import QstarError

    base = ["eval.search=greedy", "policy.backend=vllm"]
    with pytest.raises(QstarError, match=r"engine_args may not set seed: qstar sets it"):
        resolve(EvalConfig, None, base + ["policy.options.vllm.engine_args={seed: 3}"], {})
    with pytest.raises(QstarError, match=r"unknown policy.options.vllm.distributed_executor_backend 'slurm'"):
        resolve(EvalConfig, None, base + ["policy.options.vllm.distributed_executor_backend=slurm"], {})
    config = resolve(
        EvalConfig,
        None,
        base
        + ["policy.options.vllm.pipeline_parallel_size=2", "policy.options.vllm.engine_args={kv_cache_dtype: fp8}"],
        {},
    )
    assert config.policy.options["vllm"]["engine_args"] == {"kv_cache_dtype": "fp8"}


def test_each_cpu_engine_gets_its_own_kv_cache_size(engine, monkeypatch):
    """Per engine, not through the process-wide VLLM_CPU_KVCACHE_SPACE that the first engine used
    to set for every later one (and that rounded 1.5 GiB to 2)."""
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")
    assert engine(gpu=False, cpu_kv_cache_gib=1.5)["kv_cache_memory_bytes"] == 3 * 2**29
    assert engine(gpu=False, cpu_kv_cache_gib=3)["kv_cache_memory_bytes"] == 3 * 2**30
    assert "kv_cache_memory_bytes" not in engine(gpu=True)


def test_only_an_in_process_cpu_engine_is_reused(engine, monkeypatch):
    """keep_engines may hand an engine to a later stage only where `restart` reseeds what samples:
    the CPU engine in this process, not a GPU engine's worker process."""

    def reusable(gpu: bool) -> bool:
        monkeypatch.setattr(vllm_backend, "_on_gpu", lambda: gpu)
        return vllm_backend.VLLMBackend("model").reusable

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    assert reusable(gpu=False) and not reusable(gpu=True)
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    assert not reusable(gpu=False)
