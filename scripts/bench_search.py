"""Benchmark A* eval against a flat batched generate, with the same backend and model, in one run.

    python scripts/bench_search.py --qvm runs/qvm --dataset mawps --questions 64 --out bench/search

Reports (JSON + markdown in --out):
- tokens/s of A* versus one flat batched `generate` producing about as many tokens (target >= 0.85);
- the share of A*'s wall time spent outside policy and QVM calls, i.e. in search bookkeeping
  (target <= 3%);
- policy and QVM calls per search round for 1, 8 and 64 questions (target: 1 each, whatever the
  number of questions), with the one extra policy call that completes the best open node of
  questions left without a terminal (A*'s fallback) counted apart;
- a log of every policy call of the measured A* run (sequences, generated tokens, longest
  sequence, seconds), to see where the time goes.

Both measured runs start with the prompts already in the backend's prefix cache (the pilot
generate that sizes the flat run warms it), so neither pays the few-shot prompt's prefill and the
comparison is about search versus flat decoding.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from qstar_cli.backends import load_backend
from qstar_cli.backends.base import GenParams
from qstar_cli.config import PolicyConfig
from qstar_cli.datasets.registry import get_dataset, load_problems, resolve_data_dir
from qstar_cli.search.astar import AStarConfig, search
from qstar_cli.search.base import Question
from qstar_cli.stages.search_env import PolicySearchEnv
from qstar_cli.steps import StepFormat
from qstar_cli.value.model import QVM


class TimedEnv(PolicySearchEnv):
    """Counts calls and the seconds spent inside policy and QVM calls."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = {"policy": 0.0, "qvm": 0.0}
        self.calls = {"policy": 0, "qvm": 0, "propose": 0, "complete": 0}
        self.log: list[dict] = []  # one entry per policy call

    def _timed(self, kind, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[kind] += time.perf_counter() - start
            self.calls[kind] += 1

    def _policy(self, name, fn, *args, **kwargs):
        start = time.perf_counter()
        out = self._timed("policy", fn, *args, **kwargs)
        lengths = [c.tokens for cands in out for c in cands]
        self.calls[name] += 1
        self.log.append({"call": name, "prompts": len(out), "sequences": len(lengths),
                         "generated_tokens": sum(c.cost for cands in out for c in cands),
                         "longest": max(lengths, default=0),
                         "seconds": round(time.perf_counter() - start, 3)})
        return out

    def propose(self, *a, **k):
        return self._policy("propose", super().propose, *a, **k)

    def complete(self, *a, **k):
        return self._policy("complete", super().complete, *a, **k)

    def q_values(self, *a, **k):
        return self._timed("qvm", super().q_values, *a, **k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qvm", required=True, help="a train-q run dir or its qvm/ folder")
    parser.add_argument("--dataset", default="mawps")
    parser.add_argument("--split", default="test")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--num-shots", type=int, default=4)
    parser.add_argument("--backend", default="vllm")
    parser.add_argument("--block-size", type=int, default=None, help="vLLM KV block size (policy.block_size)")
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--n-terminals", type=int, default=6)
    parser.add_argument("--scaling-budget", type=int, default=2, help="expansions per question in the calls-per-round runs")
    parser.add_argument("--data-dir", default=None, help="local data dir (else $QSTAR_DATA_DIR, else the hub)")
    parser.add_argument("--out", default="bench/search")
    args = parser.parse_args()

    dataset = get_dataset(args.dataset)
    problems = load_problems(args.dataset, args.split, resolve_data_dir(args.data_dir))[: args.questions]
    backend = load_backend(PolicyConfig(backend=args.backend, block_size=args.block_size))
    qvm_path = Path(args.qvm) / "qvm" if (Path(args.qvm) / "qvm").exists() else Path(args.qvm)
    qvm = QVM.load(qvm_path)
    fmt = StepFormat.parse(dataset.default_step_format)
    questions = [Question(p.id, p.question, backend.render(dataset.messages(p, num_shots=args.num_shots)))
                 for p in problems]
    cfg = AStarConfig(k=args.k, budget=args.budget, n_terminals=min(args.n_terminals, args.budget))

    # warm-up: the first calls pay one-time costs (graph capture, allocator growth)
    warm = TimedEnv(backend, dataset, fmt, qvm=qvm)
    search(questions[:2], warm, AStarConfig(k=2, budget=1, n_terminals=1))

    # the pilot sizes the flat run and puts every prompt in the prefix cache before both runs
    pilot = backend.generate([q.prompt for q in questions], GenParams(n=1, temperature=0.9, max_tokens=256))
    per_sample = max(1.0, sum(g.num_tokens for o in pilot for g in o) / len(questions))

    env = TimedEnv(backend, dataset, fmt, qvm=qvm)
    start = time.perf_counter()
    results = search(questions, env, cfg)
    wall = time.perf_counter() - start
    tokens = sum(r.usage.generated_tokens for r in results)
    inside = env.seconds["policy"] + env.seconds["qvm"]

    # a flat batched generate of about the same number of tokens, same prompts and backend
    n = max(1, math.ceil(tokens / (per_sample * len(questions))))
    start = time.perf_counter()
    flat = backend.generate([q.prompt for q in questions], GenParams(n=n, temperature=0.9, max_tokens=256))
    flat_wall = time.perf_counter() - start
    flat_tokens = sum(g.num_tokens for o in flat for g in o)

    scaling = []
    for count in (1, 8, 64):
        qs = (questions * math.ceil(count / len(questions)))[:count]
        qs = [Question(f"{q.id}#{i}", q.text, q.prompt) for i, q in enumerate(qs)]
        e = TimedEnv(backend, dataset, fmt, qvm=qvm)
        rs = search(qs, e, AStarConfig(k=args.k, budget=args.scaling_budget, n_terminals=args.scaling_budget))
        rounds = max(r.usage.expansions for r in rs)
        scaling.append({"questions": count, "rounds": rounds, "policy_calls": e.calls["policy"],
                        "expansion_calls": e.calls["propose"], "fallback_calls": e.calls["complete"],
                        "qvm_calls": e.calls["qvm"], "policy_calls_per_round": e.calls["propose"] / max(rounds, 1),
                        "qvm_calls_per_round": e.calls["qvm"] / max(rounds, 1)})

    report = {
        "backend": backend.name, "model": backend.model_path, "questions": len(questions),
        "block_size": args.block_size,
        "astar": {"k": cfg.k, "budget": cfg.budget, "n_terminals": cfg.n_terminals, "wall_seconds": wall,
                  "generated_tokens": tokens, "tokens_per_second": tokens / wall,
                  "policy_seconds": env.seconds["policy"], "qvm_seconds": env.seconds["qvm"],
                  "policy_calls": env.calls["policy"], "qvm_calls": env.calls["qvm"],
                  "outside_share": (wall - inside) / wall, "policy_call_log": env.log},
        "flat_generate": {"samples_per_question": n, "generated_tokens": flat_tokens, "wall_seconds": flat_wall,
                          "tokens_per_second": flat_tokens / flat_wall},
        "scaling": scaling,
    }
    report["astar_vs_flat_tokens_per_second"] = report["astar"]["tokens_per_second"] / report["flat_generate"]["tokens_per_second"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_search.json").write_text(json.dumps(report, indent=2) + "\n")
    a, f = report["astar"], report["flat_generate"]
    lines = [
        f"Backend {backend.name} (block size {args.block_size or 'default'}), {len(questions)} {args.dataset} questions, "
        f"A* K={cfg.k} budget={cfg.budget} N={cfg.n_terminals}",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| A* tokens/s | {a['tokens_per_second']:.1f} ({a['generated_tokens']} tokens in {a['wall_seconds']:.1f} s) | |",
        f"| flat generate tokens/s | {f['tokens_per_second']:.1f} ({f['generated_tokens']} tokens in {f['wall_seconds']:.1f} s) | |",
        f"| A* / flat tokens/s | {report['astar_vs_flat_tokens_per_second']:.2f} | >= 0.85 |",
        f"| wall share outside policy + QVM calls | {a['outside_share']:.1%} | <= 3% |",
        f"| QVM share of wall | {a['qvm_seconds'] / a['wall_seconds']:.1%} | |",
        "",
        "| questions | rounds | expansion calls | fallback calls | QVM calls | policy calls / round | QVM calls / round |",
        "|---|---|---|---|---|---|---|",
    ] + [f"| {s['questions']} | {s['rounds']} | {s['expansion_calls']} | {s['fallback_calls']} | {s['qvm_calls']} | "
         f"{s['policy_calls_per_round']:.2f} | {s['qvm_calls_per_round']:.2f} |" for s in scaling] + [
        "",
        "A* policy calls (measured run):",
        "",
        "| call | prompts | sequences | generated tokens | longest | seconds | tokens/s |",
        "|---|---|---|---|---|---|---|",
    ] + [f"| {c['call']} | {c['prompts']} | {c['sequences']} | {c['generated_tokens']} | {c['longest']} | "
         f"{c['seconds']:.1f} | {c['generated_tokens'] / max(c['seconds'], 1e-9):.1f} |" for c in a["policy_call_log"]]
    (out / "bench_search.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
