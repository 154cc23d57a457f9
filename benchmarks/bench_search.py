"""Benchmark A*, beam and MCTS against a flat batched generate, same backend, model and prompts.

    python benchmarks/bench_search.py --qvm runs/qvm --dataset mawps --questions 64 --out bench/search

Reports (JSON + markdown in --out):
- tokens/s of each search run versus one flat batched `generate` over the same prompts producing
  about as many tokens (target >= 0.85): A* streamed on the engine's continuous batching at each
  `--refill` (the fraction of in-flight requests that must finish before the search gets them back
  and refills the batch), A* in lockstep rounds (the schedule of a backend that cannot stream), and
  beam and MCTS;
- the share of each run's wall time spent in QVM calls, and outside policy and QVM calls, i.e. in
  search bookkeeping (target <= 3%);
- policy and QVM calls per lockstep round for 1, 8 and 64 questions (target: 1 each, whatever the
  number of questions), with the extra policy calls that complete the best open node of questions
  left without a terminal (A*'s fallback) counted apart;
- a log of every policy call (lockstep) or collect (streamed) of each run: requests, sequences,
  generated tokens, longest sequence, seconds.

All runs start with the prompts already in the backend's prefix cache (the pilot generate that
sizes the flat runs warms it), so none pays the few-shot prompt's prefill and the comparison is
about search versus flat decoding.
Its tables: docs/speed.md, "Search against flat decoding" and "GPU (hf backend)".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

from qstar_cli.backends import load_backend
from qstar_cli.backends.base import GenParams
from qstar_cli.config import PolicyConfig
from qstar_cli.datasets.registry import get_dataset, load_problems, resolve_data_dir
from qstar_cli.environment import PolicySearchEnv
from qstar_cli.search import run as run_search
from qstar_cli.search.astar import AStarConfig, search
from qstar_cli.search.base import Question, SearchEnv
from qstar_cli.search.beam import BeamConfig
from qstar_cli.search.mcts import MCTSConfig
from qstar_cli.steps import StepFormat
from qstar_cli.value.model import QVM


class TimedEnv(PolicySearchEnv):
    """Counts calls and the seconds spent inside policy and QVM calls, and logs every policy collect."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = {"policy": 0.0, "qvm": 0.0}
        self.calls = {"policy": 0, "qvm": 0, "propose": 0, "complete": 0}
        self.log: list[dict] = []  # one entry per policy call (lockstep) or collect (streamed)

    def _timed(self, kind, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[kind] += time.perf_counter() - start
            self.calls[kind] += 1

    def _logged(self, name, fn, *args, **kwargs):
        start = time.perf_counter()
        out = self._timed("policy", fn, *args, **kwargs)
        cands = [c for item in out for c in (item[1] if name == "collect" else item)]
        self.calls[name] = self.calls.get(name, 0) + 1
        self.log.append(
            {
                "call": name,
                "requests": len(out),
                "sequences": len(cands),
                "generated_tokens": sum(c.cost for c in cands),
                "longest": max((c.tokens for c in cands), default=0),
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
        return out

    def propose(self, *a, **k):
        return self._logged("propose", super().propose, *a, **k)

    def complete(self, *a, **k):
        return self._logged("complete", super().complete, *a, **k)

    def collect(self):
        return self._logged("collect", super().collect)

    def q_values(self, *a, **k):
        return self._timed("qvm", super().q_values, *a, **k)


class LockstepEnv(TimedEnv):
    """The same env without streaming: each round is one propose (and one complete) call for all
    questions, as on a backend without continuous batching; measures calls per round."""

    submit = SearchEnv.submit
    collect = SearchEnv.collect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qvm", required=True, help="a train-q run dir or its qvm/ folder")
    parser.add_argument("--dataset", default="mawps")
    parser.add_argument("--split", default="test")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--num-shots", type=int, default=4)
    parser.add_argument("--backend", default="vllm")
    parser.add_argument("--model", default=None, help="a local model folder (default: the embedded model)")
    parser.add_argument("--hf-batch-size", type=int, default=32, help="sequences per transformers generate call")
    parser.add_argument(
        "--block-size", type=int, default=None, help="vLLM KV block size (policy.options.vllm.block_size)"
    )
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--n-terminals", type=int, default=6)
    parser.add_argument(
        "--refill",
        type=float,
        nargs="+",
        default=[1.0, 0.5, 0.25, 0.1],
        help="A* runs streamed with these policy.refill values (plus one in lockstep rounds)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        nargs="+",
        default=[1],
        help="A* streamed runs with these eval.parallel values (nodes each question expands at once)",
    )
    parser.add_argument("--beam-width", type=int, default=2, help="also measure beam search (0: skip)")
    parser.add_argument("--mcts-iterations", type=int, default=4, help="also measure MCTS (0: skip)")
    parser.add_argument("--log-rows", type=int, default=12, help="policy calls per run shown in the markdown")
    parser.add_argument(
        "--scaling-budget", type=int, default=2, help="expansions per question in the calls-per-round runs"
    )
    parser.add_argument(
        "--scaling-questions",
        type=int,
        nargs="+",
        default=[1, 8, 64],
        help="question counts of the calls-per-round runs",
    )
    parser.add_argument("--data-dir", default=None, help="local data dir (else $QSTAR_DATA_DIR, else the hub)")
    parser.add_argument("--out", default="bench/search")
    args = parser.parse_args()

    dataset = get_dataset(args.dataset)
    problems = load_problems(args.dataset, args.split, resolve_data_dir(args.data_dir))[: args.questions]
    backend = load_backend(
        PolicyConfig(
            model=args.model,
            backend=args.backend,
            options={"vllm": {"block_size": args.block_size}, "hf": {"batch_size": args.hf_batch_size}},
        )
    )
    qvm_path = Path(args.qvm) / "qvm" if (Path(args.qvm) / "qvm").exists() else Path(args.qvm)
    qvm = QVM.load(qvm_path)
    fmt = StepFormat.parse(dataset.default_step_format)
    questions = [
        Question(p.id, p.question, backend.render(dataset.messages(p, num_shots=args.num_shots))) for p in problems
    ]
    cfg = AStarConfig(k=args.k, budget=args.budget, n_terminals=min(args.n_terminals, args.budget))

    # warm-up: the first calls pay one-time costs (graph capture, allocator growth)
    search(questions[:2], TimedEnv(backend, dataset, fmt, qvm=qvm), AStarConfig(k=2, budget=1, n_terminals=1))

    # the pilot sizes the flat runs and puts every prompt in the prefix cache before all runs
    pilot = backend.generate([q.prompt for q in questions], GenParams(n=1, temperature=0.9, max_tokens=256))
    per_sample = max(1.0, sum(g.num_tokens for o in pilot for g in o) / len(questions))
    flats: dict[int, dict] = {}

    def flat(tokens: int) -> dict:
        """A flat batched generate of about `tokens` tokens over the same prompts (cached per n)."""
        n = max(1, math.ceil(tokens / (per_sample * len(questions))))
        if n not in flats:
            start = time.perf_counter()
            outs = backend.generate([q.prompt for q in questions], GenParams(n=n, temperature=0.9, max_tokens=256))
            wall = time.perf_counter() - start
            made = sum(g.num_tokens for o in outs for g in o)
            flats[n] = {
                "samples_per_question": n,
                "generated_tokens": made,
                "wall_seconds": wall,
                "tokens_per_second": made / wall,
            }
        return flats[n]

    running = _trace_engine(backend)  # sequences running at each engine step (vLLM only)
    runs = []
    # a backend that cannot stream runs lockstep rounds whatever the refill: one A* run says it all
    refills = args.refill if backend.streams else []
    plans = [
        ("astar", f"streamed, refill {r:g}, parallel {p}", TimedEnv, r, replace(cfg, parallel=p))
        for r in refills
        for p in args.parallel
    ]
    plans.append(("astar", "lockstep rounds", LockstepEnv, 1.0, cfg))
    stream = f"streamed, refill {backend.refill:g}, " if backend.streams else "lockstep, "
    if args.beam_width:
        plans.append(
            (
                "beam",
                f"{stream}width {args.beam_width}",
                TimedEnv,
                backend.refill,
                BeamConfig(width=args.beam_width, k=args.k),
            )
        )
    if args.mcts_iterations:
        plans.append(
            (
                "mcts",
                f"{stream}{args.mcts_iterations} iterations",
                TimedEnv,
                backend.refill,
                MCTSConfig(iterations=args.mcts_iterations, k=args.k),
            )
        )
    for method, schedule, env_cls, refill, method_cfg in plans:
        backend.refill = refill
        running.clear()
        env = env_cls(backend, dataset, fmt, qvm=qvm)
        start = time.perf_counter()
        results = run_search(method, questions, env, method_cfg)
        wall = time.perf_counter() - start
        steps = list(running)  # before the flat baseline steps the engine too
        tokens = sum(r.usage.generated_tokens for r in results)
        base = flat(tokens)
        run = {
            "method": method,
            "schedule": schedule,
            "refill": refill,
            "wall_seconds": wall,
            "generated_tokens": tokens,
            "tokens_per_second": tokens / wall,
            "policy_seconds": env.seconds["policy"],
            "qvm_seconds": env.seconds["qvm"],
            "qvm_share": env.seconds["qvm"] / wall,
            "outside_share": (wall - env.seconds["policy"] - env.seconds["qvm"]) / wall,
            "policy_calls": sum(r.usage.policy_calls for r in results),
            "qvm_calls": env.calls["qvm"],
            "flat": base,
            "vs_flat": tokens / wall / base["tokens_per_second"],
            "engine_steps": len(steps),
            "mean_running": sum(steps) / len(steps) if steps else None,
            "policy_call_log": env.log,
        }
        runs.append(run)
        print(
            f"{method} ({schedule}): {run['tokens_per_second']:.1f} tok/s, flat {base['tokens_per_second']:.1f}, "
            f"ratio {run['vs_flat']:.2f}, QVM {run['qvm_share']:.1%}, bookkeeping {run['outside_share']:.1%}",
            flush=True,
        )

    scaling = []  # lockstep rounds: one policy and one QVM call per round, whatever the number of questions
    for count in args.scaling_questions:
        qs = (questions * math.ceil(count / len(questions)))[:count]
        qs = [Question(f"{q.id}#{i}", q.text, q.prompt) for i, q in enumerate(qs)]
        e = LockstepEnv(backend, dataset, fmt, qvm=qvm)
        rs = search(qs, e, AStarConfig(k=args.k, budget=args.scaling_budget, n_terminals=args.scaling_budget))
        rounds = max(r.usage.expansions for r in rs)
        scaling.append(
            {
                "questions": count,
                "rounds": rounds,
                "policy_calls": e.calls["policy"],
                "expansion_calls": e.calls["propose"],
                "fallback_calls": e.calls["complete"],
                "qvm_calls": e.calls["qvm"],
                "policy_calls_per_round": e.calls["propose"] / max(rounds, 1),
                "qvm_calls_per_round": e.calls["qvm"] / max(rounds, 1),
            }
        )

    report = {
        "backend": backend.name,
        "model": backend.model_path,
        "device": _device(),
        "dataset": args.dataset,
        "questions": len(questions),
        "block_size": args.block_size,
        "astar": {"k": cfg.k, "budget": cfg.budget, "n_terminals": cfg.n_terminals},
        "runs": runs,
        "scaling": scaling,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_search.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = (
        [
            f"Backend {backend.name} on {report['device']} (block size {args.block_size or 'default'}), "
            f"{len(questions)} {args.dataset} questions; A* K={cfg.k} budget={cfg.budget} N={cfg.n_terminals}",
            "",
            "| method | schedule | tokens/s | flat tokens/s (same tokens) | / flat (target >= 0.85) "
            "| QVM share | bookkeeping (target <= 3%) | mean sequences running | wall s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        + [
            f"| {r['method']} | {r['schedule']} | {r['tokens_per_second']:.1f} | "
            f"{r['flat']['tokens_per_second']:.1f} | "
            f"{r['vs_flat']:.2f} | {r['qvm_share']:.1%} | {r['outside_share']:.1%} | "
            f"{'-' if r['mean_running'] is None else round(r['mean_running'], 1)} | {r['wall_seconds']:.1f} |"
            for r in runs
        ]
        + [
            "",
            "| questions | rounds | expansion calls | fallback calls | QVM calls "
            "| policy calls / round | QVM calls / round |",
            "|---|---|---|---|---|---|---|",
        ]
        + [
            f"| {s['questions']} | {s['rounds']} | {s['expansion_calls']} | {s['fallback_calls']} | {s['qvm_calls']} | "
            f"{s['policy_calls_per_round']:.2f} | {s['qvm_calls_per_round']:.2f} |"
            for s in scaling
        ]
    )
    for r in runs:
        lines += [
            "",
            f"{r['method']} ({r['schedule']}) policy calls:",
            "",
            "| call | requests | sequences | generated tokens | longest | seconds | tokens/s |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['call']} | {c['requests']} | {c['sequences']} | {c['generated_tokens']} | {c['longest']} | "
            f"{c['seconds']:.1f} | {c['generated_tokens'] / max(c['seconds'], 1e-9):.1f} |"
            for c in r["policy_call_log"][: args.log_rows]
        ]
        if len(r["policy_call_log"]) > args.log_rows:
            lines.append(f"| ... {len(r['policy_call_log']) - args.log_rows} more in the JSON | | | | | | |")
    (out / "bench_search.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[: 8 + len(runs) + 6]))


def _trace_engine(backend) -> list[int]:
    """Record how many sequences the engine runs at each step: how full the batch stays."""
    try:
        scheduler = backend.llm.llm_engine.engine_core.engine_core.scheduler  # in-process vLLM engine
        step = backend._step
    except AttributeError:
        return []
    counts: list[int] = []

    def traced():
        counts.append(len(scheduler.running))
        return step()

    backend._step = traced
    return counts


def _device() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
