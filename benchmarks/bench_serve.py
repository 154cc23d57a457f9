"""`qstar serve` under load, against `qstar eval` on the same questions and method, in one run.

    python benchmarks/bench_serve.py --dataset mawps --questions 64 --out bench/serve
    python benchmarks/bench_serve.py --search astar --qvm runs/threshold/mawps/qvm -- -K 4 -N 1 --budget 6
    python benchmarks/bench_serve.py --soak 1000 --out bench/soak
    python benchmarks/bench_serve.py --clients 1,8,64 --lockstep-below 0 --out bench/serve-streamed

Load: a server of the method (the vLLM backend, the dataset's prompt format), then 1, 8 and 64
concurrent clients (the `openai` async client), each asking every question once: requests/s,
p50/p95/p99 latency, generated tokens/s (every token the searches generated, from the responses'
`usage`), and the engine's schedule (rounds in lockstep or streamed, from the server's summary;
`--lockstep-below 0` streams at every load, to compare the schedules).
Then the server stops and `qstar eval` answers the same questions with the same method and
settings in one process: its generated tokens/s is the reference (target at 64 clients: >= 0.9).

Soak (--soak N): after a warm-up batch, N requests from 16 clients at once, loopback only, a tenth of them malformed
(broken JSON, a bad value, an unknown field) and a tenth dropped by their client mid-answer; it
checks that the server never fails (no 5xx), answers each request exactly once (every good request
one 200 with one answer, every malformed one a 4xx), cancels the dropped ones, and keeps its memory
flat (resident memory sampled before and after).

Reports JSON + markdown in --out. Its tables: docs/speed.md, "Serving".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from qstar_cli.datasets.registry import load_problems, resolve_data_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, extra: list[str], log: Path, tries: int = 3) -> tuple[subprocess.Popen, str]:
    """A server on a free port (another one if a client's connection took the port meanwhile)."""
    for _ in range(tries - 1):
        try:
            return _start_server(args, extra, log)
        except PortTaken:
            pass
    return _start_server(args, extra, log)


class PortTaken(Exception):
    pass


def _start_server(args, extra: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "qstar_cli.cli", "serve", "--dataset", args.dataset, "--num-shots", str(args.shots)]
    cmd += ["--backend", args.backend, "--search", args.search, "--port", str(port), "--max-queue", "1024"]
    cmd += ["--qvm", args.qvm] if args.qvm else []
    cmd += ["--lockstep-below", str(args.lockstep_below)] if args.lockstep_below is not None else []
    with open(log, "w") as sink:
        proc = subprocess.Popen([*cmd, *extra], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None and "cannot listen" in log.read_text():
            raise PortTaken
        if proc.poll() is not None or time.time() > deadline:
            raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(1)


def stop_server(proc: subprocess.Popen, log: Path) -> dict:
    proc.send_signal(signal.SIGTERM)
    proc.wait(300)
    text = log.read_text()
    rounds = re.search(r"([\d,]+) lockstep, ([\d,]+) streamed", text)
    return {"lockstep": int(rounds[1].replace(",", "")), "streamed": int(rounds[2].replace(",", ""))} if rounds else {}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


async def load(url: str, questions: list[str], clients: int, max_tokens: int) -> dict:
    """Every question once, `clients` requests in flight at a time."""
    latencies, tokens = [], 0
    gate = asyncio.Semaphore(clients)
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="-", max_retries=0, timeout=3600) as client:

        async def ask(q: str) -> None:
            nonlocal tokens
            async with gate:
                start = time.perf_counter()
                r = await client.completions.create(model="qstar", prompt=q, max_tokens=max_tokens)
                latencies.append(time.perf_counter() - start)
                tokens += r.usage.completion_tokens

        start = time.perf_counter()
        await asyncio.gather(*(ask(q) for q in questions))
        wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": len(questions),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(questions) / wall, 3),
        "p50_s": round(percentile(latencies, 50), 2),
        "p95_s": round(percentile(latencies, 95), 2),
        "p99_s": round(percentile(latencies, 99), 2),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
    }


def eval_reference(args, extra: list[str], out: Path) -> dict:
    """qstar eval of the same questions, method and settings, in one process."""
    run = out / "eval"
    cmd = [sys.executable, "-m", "qstar_cli.cli", "eval", "--dataset", args.dataset, "--split", args.split]
    cmd += ["--num-shots", str(args.shots), "--limit", str(args.questions), "--backend", args.backend]
    cmd += ["--search", args.search, "--set", f"sampling.max_tokens={args.max_tokens}", "--out", str(run)]
    cmd += ["--qvm", args.qvm] if args.qvm else []
    subprocess.run([*cmd, *extra], check=True, capture_output=True)
    # the search's own time (each record's share adds up to it), not the engine's start
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    seconds = sum(r["wall_seconds"] for r in records)
    tokens = sum(r["usage"]["generated_tokens"] for r in records)
    return {"questions": len(records), "generated_tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1)}  # fmt: skip


async def soak(url: str, pid: int, questions: list[str], n: int, seed: int) -> dict:
    """n requests, a tenth malformed and a tenth dropped mid-answer, 16 at a time."""
    rng = random.Random(seed)
    kinds = ["bad"] * (n // 10) + ["drop"] * (n // 10)
    kinds += ["good"] * (n - len(kinds))
    rng.shuffle(kinds)
    bad_bodies = [b'{"model": "qstar", "prompt": ', b'{"model": "qstar", "prompt": "x", "max_tokens": 0}',
                  b'{"model": "qstar", "prompt": "x", "beam_size": 2}', b'[1]']  # fmt: skip
    outcome: dict[str, int] = {}
    answered: dict[int, int] = {}
    gate = asyncio.Semaphore(16)

    def count(key: str) -> None:
        outcome[key] = outcome.get(key, 0) + 1

    async with httpx.AsyncClient(base_url=url, timeout=600) as client:

        async def one(i: int, kind: str) -> None:
            async with gate:
                if kind == "bad":
                    r = await client.post("/v1/completions", content=rng.choice(bad_bodies),
                                          headers={"content-type": "application/json"})  # fmt: skip
                    count(f"bad -> {r.status_code}")
                    return
                body = {"model": "qstar", "prompt": questions[i % len(questions)], "max_tokens": 32}
                if kind == "drop":
                    try:
                        await client.post("/v1/completions", json=body, timeout=rng.uniform(0.05, 1.0))
                        count("drop -> answered before the client left")
                    except httpx.TimeoutException:
                        count("drop -> client left")
                    return
                r = await client.post("/v1/completions", json=body)
                count(f"good -> {r.status_code}")
                if r.status_code == 200:
                    answered[i] = answered.get(i, 0) + len(r.json()["choices"])

        # a warm-up of 16 requests first: memory is compared from a server that has served a full batch
        warm = [{"model": "qstar", "prompt": q, "max_tokens": 32} for q in (questions * 16)[:16]]
        await asyncio.gather(*(client.post("/v1/completions", json=body) for body in warm))
        rss_before = rss_kib(pid)
        start = time.perf_counter()
        await asyncio.gather(*(one(i, kind) for i, kind in enumerate(kinds)))
        wall = time.perf_counter() - start
        deadline = time.time() + 120  # the dropped questions leave the engine
        while (await client.get("/health")).json()["in_flight"] and time.time() < deadline:
            await asyncio.sleep(0.5)
        health = (await client.get("/health")).json()
    return {
        "requests": n,
        "seconds": round(wall, 1),
        "outcomes": dict(sorted(outcome.items())),
        "good_answered_once": sum(1 for k in kinds if k == "good") == len(answered)
        and all(v == 1 for v in answered.values()),
        "server_errors": sum(v for k, v in outcome.items() if re.search(r"-> 5\d\d", k)),
        "in_flight_after": health["in_flight"],
        "queued_after": health["queued"],
        "rss_mib_before": round(rss_before / 1024, 1),
        "rss_mib_after": round(rss_kib(pid) / 1024, 1),
    }


def markdown(report: dict) -> str:
    lines = [f"# qstar serve: {report['search']} on {report['dataset']} ({report['backend']})", ""]
    if "load" in report:
        ref = report["eval"]["tokens_per_s"]
        lines += ["| clients | requests/s | p50 s | p95 s | p99 s | generated tokens/s | vs qstar eval | schedule |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in report["load"]:
            rounds = row.get("rounds", {})
            schedule = f"{rounds.get('lockstep', 0)} lockstep / {rounds.get('streamed', 0)} streamed rounds"
            lines.append(
                f"| {row['clients']} | {row['requests_per_s']} | {row['p50_s']} | {row['p95_s']} | {row['p99_s']} "
                f"| {row['tokens_per_s']} | {row['tokens_per_s'] / ref:.2f} | {schedule} |"
            )
        e = report["eval"]
        lines += ["", f"qstar eval, same questions and settings: {e['tokens_per_s']} generated tokens/s "
                  f"({e['generated_tokens']} tokens in {e['seconds']} s)."]  # fmt: skip
    if "soak" in report:
        s = report["soak"]
        lines += ["", "| soak | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in s.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mawps")
    parser.add_argument("--split", default="test")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--search", default="greedy")
    parser.add_argument("--qvm", default=None)
    parser.add_argument("--backend", default="vllm")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--clients", default="1,8,64", help="concurrency levels")
    parser.add_argument(
        "--lockstep-below", type=int, default=None, help="the server's schedule switch (0: always streamed)"
    )
    parser.add_argument("--soak", type=int, default=0, help="run the soak of N requests instead of the load table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/serve"))
    parser.add_argument("extra", nargs="*", help="after --: more flags for both qstar serve and qstar eval")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    problems = load_problems(args.dataset, args.split, resolve_data_dir(None))[: args.questions]
    questions = [p.question for p in problems]
    report: dict = {"dataset": args.dataset, "search": args.search, "backend": args.backend,
                    "questions": len(questions), "max_tokens": args.max_tokens, "extra": args.extra}  # fmt: skip
    if args.soak:
        log = args.out / "server-soak.log"
        proc, url = start_server(args, args.extra, log)
        try:
            report["soak"] = asyncio.run(soak(url, proc.pid, questions, args.soak, args.seed))
            report["soak"]["server_exit"] = (stop_server(proc, log), proc.returncode)[1]
        finally:
            if proc.poll() is None:
                proc.kill()
        name = "bench_serve_soak"
    else:
        report["load"] = []
        for clients in (int(c) for c in args.clients.split(",")):
            log = args.out / f"server-{clients}.log"
            proc, url = start_server(args, args.extra, log)  # a fresh server per level: its schedule counts are its own
            try:
                row = asyncio.run(load(url, questions, clients, args.max_tokens))
                row["rounds"] = stop_server(proc, log)
            finally:
                if proc.poll() is None:
                    proc.kill()
            report["load"].append(row)
            print(json.dumps(row), flush=True)
        report["eval"] = eval_reference(args, args.extra, args.out)
        name = "bench_serve"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    main()
