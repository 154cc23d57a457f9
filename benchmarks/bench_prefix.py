"""Check what vLLM's prefix cache shares in a search expansion, with the engine's own counts.

    python benchmarks/bench_prefix.py --out bench/prefix

1. K children of one state (vLLM fans `n = K` out into K requests): each request's
   `num_cached_tokens`, and the time of K identical fresh prompts against one and against K
   different ones. Shared: every full KV block of the prompt is computed once; each child
   recomputes only the last, partial block.
2. A search state after a generated step, sent as qstar sends it (the text re-encoded) against
   the prompt's ids plus the generated ids: whether the ids agree, and how much of it is cached.
Writes bench_prefix.json and bench_prefix.md to --out; its numbers: docs/speed.md, "K children
re-prefill their state's last KV block".
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from qstar_cli.backends import load_backend
from qstar_cli.config import PolicyConfig
from qstar_cli.datasets.registry import get_dataset, load_problems, resolve_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mawps")
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--states", type=int, default=16, help="search states checked in part 2")
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="bench/prefix")
    args = parser.parse_args()

    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    dataset = get_dataset(args.dataset)
    problems = load_problems(args.dataset, "test", resolve_data_dir(args.data_dir))[: args.states + 4]
    backend = load_backend(PolicyConfig(backend="vllm", options={"vllm": {"block_size": args.block_size}}))
    engine, ids = backend.llm.llm_engine, itertools.count()

    def run(prompts: list[list[int]], max_tokens: int = 1, stop: list[str] | None = None):
        """Each prompt as its own request at once; (outputs, seconds)."""
        names = []
        for p in prompts:
            names.append(f"p{next(ids)}")
            engine.add_request(
                names[-1],
                {"prompt_token_ids": p},
                SamplingParams(
                    max_tokens=max_tokens,
                    temperature=0.9,
                    stop=stop,
                    include_stop_str_in_output=True,
                    output_kind=RequestOutputKind.FINAL_ONLY,
                ),
            )
        done, start = {}, time.perf_counter()
        while len(done) < len(names):
            done.update((o.request_id, o) for o in engine.step() if o.finished)
        return [done[n] for n in names], time.perf_counter() - start

    prompts = [backend.render(dataset.messages(p, num_shots=4)) for p in problems]
    fresh = [backend.encode(f"Note {i}.\n" + text) for i, text in enumerate(prompts[:4])]  # not cached yet
    run([backend.encode("warm up")])
    fan, fan_s = run([fresh[0]] * args.k)
    _, one_s = run([fresh[1]])
    _, many_s = run([backend.encode(f"Other {i}.\n" + prompts[2]) for i in range(args.k)])
    sharing = {
        "prompt_tokens": len(fresh[0]),
        "k": args.k,
        "cached_per_child": [o.num_cached_tokens for o in fan],
        "seconds_k_identical": fan_s,
        "seconds_one": one_s,
        "seconds_k_different": many_s,
    }

    states = []
    for text in prompts[4 : 4 + args.states]:
        prompt_ids = backend.encode(text)
        [out], _ = run([prompt_ids], max_tokens=64, stop=["\n"])
        step = out.outputs[0]
        encoded = backend.encode(text + step.text)
        [again], _ = run([encoded])
        states.append(
            {
                "same_ids": encoded == prompt_ids + list(step.token_ids),
                "tokens": len(encoded),
                "cached": again.num_cached_tokens,
            }
        )
    report = {"block_size": args.block_size or "default", "fan_out": sharing, "states": states}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_prefix.json").write_text(json.dumps(report, indent=2) + "\n")
    same = sum(s["same_ids"] for s in states)
    uncached = [s["tokens"] - s["cached"] for s in states]
    lines = [
        f"K = {args.k} children of one fresh {sharing['prompt_tokens']}-token prompt: cached tokens per child "
        f"{sharing['cached_per_child']}; {args.k} identical fresh prompts {fan_s:.2f} s, one {one_s:.2f} s, "
        f"{args.k} different {many_s:.2f} s.",
        "",
        f"Search states after one generated step: re-encoded text == prompt ids + generated ids for {same} of "
        f"{len(states)}; tokens not served from the cache per state: min {min(uncached)}, mean "
        f"{sum(uncached) / len(uncached):.1f}, max {max(uncached)}.",
    ]
    (out / "bench_prefix.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
