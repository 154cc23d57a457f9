"""GPU tier: the same backends on CUDA. Skipped on machines without a GPU (CI has none)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

from qstar_cli.backends.base import GenParams  # noqa: E402


def test_hf_backend_on_gpu_matches_cpu_greedy(embedded_model):
    from qstar_cli.backends.hf_backend import HFBackend

    gpu = HFBackend(embedded_model, dtype="float32")
    assert gpu.device == "cuda"
    prompt = gpu.render([{"role": "user", "content": "What is 2 + 3? Answer in one line."}])
    params = GenParams(n=1, temperature=0.0, max_tokens=16, logprobs=5)
    out = gpu.generate([prompt] * 4, params)
    assert len({o[0].text for o in out}) == 1
    assert out[0][0].top_logprobs and len(out[0][0].top_logprobs[0]) == 5


def test_vllm_backend_on_gpu(embedded_model):
    pytest.importorskip("vllm")
    from qstar_cli.backends.vllm_backend import VLLMBackend

    backend = VLLMBackend(embedded_model, gpu_memory_utilization=0.3, max_model_len=1024)
    assert backend.gpu
    prompt = backend.render([{"role": "user", "content": "What is 2 + 3?"}])
    out = backend.generate([prompt] * 8, GenParams(n=4, temperature=0.9, max_tokens=32, stop=("\n",), seed=1))
    assert len(out) == 8 and all(len(o) == 4 for o in out)
    assert all(g.finish_reason in ("stop", "eos", "length") for o in out for g in o)
