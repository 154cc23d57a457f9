"""What a user does wrong, or what goes wrong around a run, and what qstar must do about it: the
second table of tests/tools/fault_injection.py (`--scenarios`).

Each scenario sets up a situation on the embedded model (hf backend) or on a run folder, runs the
commands a user would type, and checks the outcome: wrong input refused with one line and exit 2
before any work (no traceback, nothing finished lost), right input handled. Every scenario is a
function `(root, ctx) -> (ok, what happened)`; `ctx` holds a finished reference eval run and its
recipe, made once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SMALL = {
    "data": {"name": "mawps", "split": "test", "limit": 3},
    "policy": {"backend": "hf"},
    "sampling": {"max_tokens": 32},
    "eval": {"search": "greedy", "batch_questions": 1},
}


def qstar(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qstar_cli.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "300", **(env or {})},
        cwd=REPO,
    )


def refused(result: subprocess.CompletedProcess, words: str) -> tuple[bool, str]:
    """Exit 2, one error line that says `words`, no traceback."""
    text = " ".join(result.stderr.split())
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    ok = result.returncode == 2 and words in text and len(errors) == 1 and "Traceback" not in result.stderr
    return ok, f"exit {result.returncode}: {errors[0] if errors else result.stderr.strip()[-300:]}"


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


def untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]


def reference(root: Path) -> dict:
    """A finished greedy eval of 3 MAWPS questions, from a recipe (what every scenario starts from)."""
    import yaml

    recipe = root / "eval.yaml"
    recipe.write_text(yaml.safe_dump({**SMALL, "eval": {**SMALL["eval"], "out": str(root / "reference")}}))
    result = qstar("eval", "--recipe", str(recipe))
    if result.returncode != 0:
        raise SystemExit(f"the reference eval failed: {result.stderr[-2000:]}")
    return {"recipe": recipe, "run": root / "reference"}


def copy_of(ctx: dict, root: Path, name: str) -> Path:
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ctx["run"], folder, ignore=shutil.ignore_patterns(".lock"))
    return folder


def rerun(ctx: dict, folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return qstar("eval", "--recipe", str(ctx["recipe"]), "--out", str(folder), *extra)


# ---- the scenarios ---------------------------------------------------------------------------


def ray_relaunch_other_config(root, ctx):
    """--ray into a finished run's folder with another config (was: 'already complete', old results)."""
    return refused(rerun(ctx, ctx["run"], "--set", "sampling.max_tokens=40", "--ray", "local"), "different config")


def slurm_relaunch_other_config(root, ctx):
    """A Slurm relaunch of a finished run's recipe with another config."""
    result = qstar(
        "launch",
        "slurm",
        "--stage",
        "eval",
        "--recipe",
        str(ctx["recipe"]),
        "--shards",
        "2",
        "--set",
        "sampling.max_tokens=40",
        "--dry-run",
    )
    return refused(result, "different config")


def rerun_after_a_record_edit(root, ctx):
    """A record edited by hand, then the same command again (was: 'finished', the edit kept)."""
    folder = copy_of(ctx, root, "edited")
    rows = records(folder)
    rows[0]["correct"] = not rows[0]["correct"]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ok, said = refused(rerun(ctx, folder), "changed after its run completed")
    return ok and records(folder) == rows, said


def report_without_records(root, ctx):
    """qstar report on a run whose records file is gone (was: a report from metrics.json alone)."""
    folder = copy_of(ctx, root, "no-records")
    (folder / "predictions.jsonl").unlink()
    return refused(qstar("report", str(folder), "--out", str(root / "no-records-report")), "is missing")


def manifest_deleted(root, ctx):
    """manifest.json deleted: report says what is there; the same command rebuilds it."""
    folder = copy_of(ctx, root, "no-manifest")
    (folder / "manifest.json").unlink()
    ok, said = refused(qstar("report", str(folder), "--out", str(root / "no-manifest-report")), "no manifest.json")
    again = rerun(ctx, folder)
    ok = ok and again.returncode == 0 and untimed(records(folder)) == untimed(records(ctx["run"]))
    return ok, f"{said}; rerun: exit {again.returncode}, records equal the reference's: {ok}"


def two_processes_on_an_empty_model_cache(root, ctx):
    """Two processes use the embedded model first, at once (was: a traceback, a 538 MB .partial folder)."""
    cache = Path(tempfile.mkdtemp(prefix="cache", dir=root))
    command = [sys.executable, "-m", "qstar_cli.cli", "eval", "--recipe", str(ctx["recipe"]), "--set", "data.limit=1"]
    procs = [
        subprocess.Popen(
            [*command, "--out", str(root / f"race{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "QSTAR_CACHE": str(cache), "COLUMNS": "300"},
        )
        for i in range(2)
    ]
    codes = [p.wait(timeout=900) for p in procs]
    leftovers = [p.name for p in cache.rglob("*") if "partial" in p.name or p.name.startswith(".tmp")]
    ok = codes == [0, 0] and not leftovers
    shutil.rmtree(cache, ignore_errors=True)
    return ok, f"exits {codes}, leftovers {leftovers or 'none'}"


def sigterm_under_ray(root, ctx):
    """SIGTERM to a --ray launch (was: Ray's fatal-signal dump, exit 1); the rerun finishes it."""
    out = root / "ray-stopped"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(root / "ray-stopped.shards", ignore_errors=True)
    launch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qstar_cli.cli",
            "eval",
            "--recipe",
            str(ctx["recipe"]),
            "--ray",
            "local",
            "--shards",
            "2",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "300"},
    )
    attempts = root / "ray-stopped.shards" / "logs" / "attempts.log"
    deadline = time.time() + 300
    while (
        not (attempts.exists() and attempts.read_text().count("\n") >= 2)
        and launch.poll() is None
        and time.time() < deadline
    ):
        time.sleep(0.2)
    launch.send_signal(signal.SIGTERM)
    _, stderr = launch.communicate(timeout=300)
    one_line = "stopped (SIGTERM)" in stderr and "SIGTERM received" not in stderr and "Traceback" not in stderr
    again = rerun(ctx, out, "--ray", "local", "--shards", "2")
    same = again.returncode == 0 and untimed(records(out)) == untimed(records(ctx["run"]))
    return (
        launch.returncode == 143 and one_line and same,
        f"exit {launch.returncode}, one line: {one_line}; rerun: exit {again.returncode}, "
        f"records equal one process's: {same}",
    )


def out_is_a_file(root, ctx):
    """--out names a regular file (was: the config printed, then a raw 'File exists')."""
    target = root / "a-file"
    target.write_text("mine")
    result = rerun(ctx, target)
    ok, said = refused(result, "is a file")
    return ok and "sampling:" not in result.stdout and target.read_text() == "mine", said  # no config dump first


def missing_relative_model(root, ctx):
    """--model names a relative folder that does not exist (was: 25 s of offline hub retries)."""
    began = time.perf_counter()
    ok, said = refused(rerun(ctx, root / "no-model", "--model", "./no-such-model"), "no-such-model")
    seconds = time.perf_counter() - began
    return ok and seconds < 20, f"{said} ({seconds:.0f} s)"


NUMBERS = [  # (completion, the language the dataset says its questions are in, reference)
    ("La respuesta es 18,00 €.", None, "18"),
    ("Ответ: 18,5", None, "18.5"),
    ("Ответ: 1 234", None, "1234"),
    ("70.000 dólares", "es", "70000"),
    ("70.000 dollars", None, "70"),
    ("-(1/3)", None, "-0.333333"),
    ("答えは 18", None, "18"),
    ("Ответ: 18 долларов. Итого 2 дня.", None, "18"),
]
NOT_A_NUMBER = ["The answer is 3:30 p.m.", "The answer is 5:6"]  # never graded as their first number


def numbers_read_as_written(root, ctx):
    """Answers with decimal commas, spaced thousands, times, ratios, other languages' answer phrases."""
    from qstar_cli.grading.numeric import extract_numeric, numbers_equal

    right = [numbers_equal(extract_numeric(text, language=language), ref) for text, language, ref in NUMBERS]
    first = [extract_numeric(text) not in ("3", "5") for text in NOT_A_NUMBER]
    return (
        all(right) and all(first),
        f"{sum(right)}/{len(right)} numbers right, "
        f"{sum(first)}/{len(first)} times and ratios not read as their first number",
    )


def a_file_with_odd_rows(root, ctx):
    """A file where 2 of 10 answers are words: a slice, the whole, the whole with skipping."""
    path = root / "odd.jsonl"
    rows = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(10)]
    rows[7]["answer"], rows[9]["answer"] = "Yes", "Alice"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = ["--dataset", "jsonl", "--set", f"data.path={path}", "--dry-run"]
    sliced = qstar("eval", *data, "--limit", "5")
    whole = qstar("eval", *data)
    ok_whole, said = refused(whole, "skip_ungradable")
    skipped = qstar("eval", *data, "--set", "data.skip_ungradable=true")
    ok = (
        sliced.returncode == 0
        and ok_whole
        and skipped.returncode == 0
        and "8 questions" in " ".join(skipped.stderr.split())
    )
    return ok, f"--limit 5: exit {sliced.returncode}; whole file: {said}; skipping: exit {skipped.returncode}"


def dry_run_checks_the_data(root, ctx):
    """--dry-run with an MGSM language that is not there (was: passed, then the run failed)."""
    return refused(qstar("eval", "--dataset", "mgsm", "--set", "data.subset=fr", "--dry-run"), "fr")


SCENARIOS = [
    ray_relaunch_other_config,
    slurm_relaunch_other_config,
    rerun_after_a_record_edit,
    report_without_records,
    manifest_deleted,
    two_processes_on_an_empty_model_cache,
    sigterm_under_ray,
    numbers_read_as_written,
    a_file_with_odd_rows,
    dry_run_checks_the_data,
    out_is_a_file,
    missing_relative_model,
]


def run(root: Path, only: set[str] | None = None) -> list[dict]:
    root.mkdir(parents=True, exist_ok=True)
    ctx = reference(root)
    rows = []
    for scenario in SCENARIOS:
        if only and scenario.__name__ not in only:
            continue
        began = time.perf_counter()
        try:
            ok, said = scenario(root, ctx)
        except Exception as exc:  # a scenario that crashes is a failed row, not a lost table
            ok, said = False, f"{type(exc).__name__}: {exc}"
        for path, name in (
            (str(root), "<dir>"),
            (os.environ.get("QSTAR_DATA_DIR") or "<no data dir>", "$QSTAR_DATA_DIR"),
        ):
            said = said.replace(path, name)  # the table shows no paths of the machine it ran on
        said = said if len(said) <= 320 else said[:319] + "…"
        rows.append(
            {
                "scenario": scenario.__name__,
                "what": " ".join(scenario.__doc__.split("(was")[0].split()),
                "ok": ok,
                "outcome": said,
                "seconds": round(time.perf_counter() - began, 1),
            }
        )
        print(f"{scenario.__name__}: {'ok' if ok else 'FAILED'} - {said}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| scenario | handled | what qstar did |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {'yes' if r['ok'] else 'NO'} | {r['outcome'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"
