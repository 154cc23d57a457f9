"""Benchmark collect-rollouts and `label --method rollout` against a bare batched generate.

    python benchmarks/bench_stages.py --dataset mawps --questions 64 --out bench/stages   # docs/speed.md's table
    python benchmarks/bench_stages.py --backend hf --questions 1 --rollouts 2 --label-rollouts 1 --max-tokens 48
                                                 # the smallest run (tests/cli/test_scripts.py): ~30 s

Each stage runs for real (its own code: batches, grading, step splitting, records written to a
run directory) on an engine loaded once beforehand, so model loading is not counted. Its tokens/s
(generated tokens over the stage's wall time) is compared with ONE bare `generate` over the same
prompts with the same sampling settings: the collect prompts, and the label stage's states (every
non-terminal node's next state, built from the rollouts just collected). Target: >= 0.9.
Writes bench_stages.json and bench_stages.md to --out: docs/speed.md, "Stages against a bare generate".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import qstar_cli.backends as backends
from qstar_cli.artifacts.jsonl import read_jsonl
from qstar_cli.backends.base import GenParams
from qstar_cli.config import CollectConfig, LabelConfig, PolicyConfig, resolve
from qstar_cli.environment import PolicySearchEnv
from qstar_cli.labelers.tree import open_states
from qstar_cli.stages import collect, label
from qstar_cli.stages.common import select_problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mawps")
    parser.add_argument("--split", default="test")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--num-shots", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=4, help="collect: samples per question")
    parser.add_argument("--label-rollouts", type=int, default=2, help="label: continuations per state")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--backend", default="vllm")
    parser.add_argument("--model", default=None, help="a local model folder (default: the embedded model)")
    parser.add_argument("--hf-batch-size", type=int, default=32, help="sequences per transformers generate call")
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="bench/stages")
    args = parser.parse_args()

    common = [
        f"data.name={args.dataset}",
        f"data.split={args.split}",
        f"data.limit={args.questions}",
        f"data.num_shots={args.num_shots}",
        f"policy.backend={args.backend}",
        f"sampling.max_tokens={args.max_tokens}",
    ]
    if args.data_dir:
        common.append(f"data.data_dir={args.data_dir}")
    if args.block_size:
        common.append(f"policy.options.vllm.block_size={args.block_size}")
    if args.model:
        common.append(f"policy.model={args.model}")
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    try:
        # the config and the stage's own questions first: a bad setting or missing data fails before the model loads
        config = resolve(
            CollectConfig, None, common + [f"collect.num_rollouts={args.rollouts}", f"collect.out={work}/rollouts"]
        )
        dataset, problems, _ = select_problems(config.data)
        backend = backends.load_backend(
            PolicyConfig(
                model=args.model,
                backend=args.backend,
                options={"vllm": {"block_size": args.block_size}, "hf": {"batch_size": args.hf_batch_size}},
            )
        )
        backend.close = lambda: None  # the stages close their backend; this one serves them all
        backends.load_backend = lambda *a, **k: backend  # the stages get the engine loaded above
        rows = _stages(args, config, dataset, problems, backend, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report = {
        "backend": backend.name,
        "device": _device(),
        "dataset": args.dataset,
        "questions": args.questions,
        "block_size": args.block_size,
        "stages": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_stages.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Backend {backend.name} on {report['device']}, {args.questions} {args.dataset} questions",
        "",
        "| stage | prompts | stage tokens/s (wall) | bare generate tokens/s | stage / bare (target >= 0.9) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['stage']} | {r['prompts']} | {r['stage_tokens_per_second']:.1f} ({r['stage_tokens']} in "
        f"{r['stage_seconds']:.1f} s) | {r['bare_tokens_per_second']:.1f} ({r['bare_tokens']} in "
        f"{r['bare_seconds']:.1f} s) | {r['ratio']:.2f} |"
        for r in rows
    ]
    (out / "bench_stages.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _stages(args, config: CollectConfig, dataset, problems, backend, work: Path) -> list[dict]:
    """Each stage run for real, then its bare generate; one row each."""
    # warm-up (one-time costs), then put the few-shot prompts in the prefix cache for every run
    backend.generate(["Warm up."], GenParams(n=2, max_tokens=8))
    prompts = [backend.render(dataset.messages(p, num_shots=config.data.num_shots)) for p in problems]
    backend.generate(prompts, GenParams(n=1, max_tokens=1))
    sampling = config.sampling
    params = GenParams(
        n=args.rollouts,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        logprobs=0,
    )
    rows = [_measure("collect-rollouts", lambda: collect.run(config), backend, prompts, params)]

    config = resolve(
        LabelConfig,
        None,
        [f"label.num_rollouts={args.label_rollouts}", f"label.out={work}/labels"],
        {"label.input": str(work / "rollouts")},
        base=label.input_base(str(work / "rollouts")),
    )
    records = list(read_jsonl(work / "rollouts" / "rollouts.jsonl"))
    # the label stage's states: every non-terminal node's next state s_{t+1}, as its env sends them
    _, requests, _ = open_states(records)
    states = PolicySearchEnv._states(requests)
    cfg = config.label
    params = GenParams(
        n=args.label_rollouts,
        temperature=cfg.temperature if cfg.temperature is not None else config.sampling.temperature,
        top_p=config.sampling.top_p,
        max_tokens=cfg.max_tokens or config.sampling.max_tokens,
    )
    rows.append(_measure("label --method rollout", lambda: label.run(config), backend, states, params))
    return rows


def _measure(stage: str, run, backend, prompts: list[str], params: GenParams) -> dict:
    before = backend.usage.generated_tokens
    start = time.perf_counter()
    run()
    stage_seconds = time.perf_counter() - start
    stage_tokens = backend.usage.generated_tokens - before
    start = time.perf_counter()
    outs = backend.generate(prompts, params)
    bare_seconds = time.perf_counter() - start
    bare_tokens = sum(g.num_tokens for o in outs for g in o)
    row = {
        "stage": stage,
        "prompts": len(prompts),
        "samples_per_prompt": params.n,
        "stage_tokens": stage_tokens,
        "stage_seconds": stage_seconds,
        "stage_tokens_per_second": stage_tokens / stage_seconds,
        "bare_tokens": bare_tokens,
        "bare_seconds": bare_seconds,
        "bare_tokens_per_second": bare_tokens / max(bare_seconds, 1e-9),
    }
    # no prompts (a label run of rollouts that all ended in one step): nothing to compare
    row["ratio"] = row["stage_tokens_per_second"] / row["bare_tokens_per_second"] if bare_tokens else float("nan")
    print(
        f"{stage}: {row['stage_tokens_per_second']:.1f} tok/s, bare {row['bare_tokens_per_second']:.1f}, "
        f"ratio {row['ratio']:.2f}",
        flush=True,
    )
    return row


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
