"""Every script of the repository still runs against today's qstar: one smoke test each.

The scripts live in four folders (docs/development.md): scripts/ (the user-facing drivers),
benchmarks/ (the benchmarks behind docs/speed.md's tables and train-q's backbone table),
experiments/ (the studies behind a documented result) and tests/tools/ (the harnesses the tests
drive). SCRIPTS names each of their files (by its path from the repository root) and its checks; a
file not in it fails the first test, so a new script comes with its smoke test. The checks:

- "help": `python SCRIPT --help` exits 0 with its usage (a broken top-level import fails it);
- "imports": every import in the file, inside functions too (most scripts import lazily), resolves
  against today's code: each `from qstar_cli.X import Y` names a module and a Y that exist, each
  sibling script imported is there;
- "module": a module another script imports (no command line of its own) imports, with every
  attribute the other scripts use of it;
- "bash -n": the shell script parses;
- "dry" (test_dry_<name>): the shell script runs through with QSTAR (and PYTHON) a recorder that
  marks each run it names as finished, and every qstar command it would have run parses with
  today's CLI (every flag known, every value of its type), every recipe it names exists;
- "usage" (test_usage_<name>): the shell script's own modes that do no work (a missing setting
  named, nothing to do);
- "run": its smallest real run (slow: the embedded model, a trained QVM or the data), the test
  RUNS names.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import itertools
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, data_env, run_qstar

FOLDERS = ("scripts", "benchmarks", "experiments", "tests/tools")

SCRIPTS = {
    # scripts/: what a user runs
    "scripts/cpu_results.sh": ("bash -n", "dry"),
    "scripts/threshold_curve.sh": ("bash -n", "dry"),
    # benchmarks/
    "benchmarks/bench_engine.py": ("help", "imports", "run"),
    "benchmarks/bench_prefix.py": ("help", "imports", "run"),  # vLLM's engine internals: what --help cannot see
    "benchmarks/bench_qvm.py": ("help", "imports", "run"),
    "benchmarks/bench_search.py": ("help", "imports", "run"),
    "benchmarks/bench_serve.py": ("help", "imports", "run"),  # its clients, soak and tables are its own code
    "benchmarks/bench_stages.py": ("help", "imports", "run"),
    # experiments/
    "experiments/gpu_evidence.sh": ("bash -n", "usage", "dry"),
    "experiments/label_methods.py": ("help", "imports"),  # its tables: tests/unit/test_label_methods.py
    "experiments/label_methods.sh": ("bash -n", "dry"),
    "experiments/mbpp_reference_check.py": ("help", "imports", "run"),
    "experiments/qvm_heldout.py": ("help", "imports", "run"),
    "experiments/qvm_pack.py": ("help", "imports", "run"),  # + tests/unit/test_qvm_pack.py (the rebuild's error bound)
    "experiments/qvm_sweep.py": ("help", "imports", "run"),
    # tests/tools/
    "tests/tools/fault_injection.py": ("help", "imports"),  # its fast real subset: tests/cli/test_fault_injection.py
    "tests/tools/fault_scenarios.py": ("module", "imports"),  # fault_injection.py --scenarios imports it
    # needs root and starts daemons; tests/cli/test_slurm_e2e.py runs it where it can
    "tests/tools/local_slurm.sh": ("bash -n",),
}
RUNS = {
    "benchmarks/bench_engine.py": "test_run_bench_engine",
    "benchmarks/bench_prefix.py": "test_run_bench_prefix",
    "benchmarks/bench_qvm.py": "test_run_bench_qvm",
    "benchmarks/bench_search.py": "test_run_bench_search",
    "benchmarks/bench_serve.py": "test_run_bench_serve",
    "benchmarks/bench_stages.py": "test_run_bench_stages",
    "experiments/mbpp_reference_check.py": "test_run_mbpp_reference_check",
    "experiments/qvm_heldout.py": "test_run_qvm_pack_then_heldout",
    "experiments/qvm_pack.py": "test_run_qvm_pack_then_heldout",
    "experiments/qvm_sweep.py": "test_run_qvm_sweep",
}
PY_CHECKS = {"help", "imports", "module", "run"}
SH_CHECKS = {"bash -n", "dry", "usage", "run"}


def having(check: str) -> list[str]:
    return sorted(name for name, checks in SCRIPTS.items() if check in checks)


def script_files() -> list[str]:
    """The files of the four script folders, by their path from the repository root."""
    return sorted(
        p.relative_to(REPO).as_posix()
        for folder in FOLDERS
        for p in (REPO / folder).iterdir()
        if p.is_file() and p.suffix in (".py", ".sh")
    )


def test_every_script_has_a_smoke_test():
    files = script_files()
    new, gone = sorted(set(files) - set(SCRIPTS)), sorted(set(SCRIPTS) - set(files))
    assert files == sorted(SCRIPTS), (
        f"the files of {', '.join(FOLDERS)} and this file's SCRIPTS differ: give a new "
        "script its smoke checks, drop a removed one "
        f"(only in the folders: {new}; only here: {gone})"
    )
    for name, checks in SCRIPTS.items():
        allowed = PY_CHECKS if name.endswith(".py") else SH_CHECKS
        assert checks and set(checks) <= allowed, (name, checks)
        assert ("run" in checks) == (name in RUNS), name
        if name in RUNS:
            assert callable(globals().get(RUNS[name])), f"{name}: no test {RUNS[name]}"
        if name.endswith(".sh"):
            assert "bash -n" in checks, name
        for check in ("dry", "usage"):  # one test each, named after the script
            test = f"test_{check}_{Path(name).name.removesuffix('.sh')}"
            assert (check in checks) == callable(globals().get(test)), f"{name}: {check} and {test} go together"


# a script named by its path from the repository root (not one inside another path, as in ci/scripts/)
SCRIPT_PATH = r"(?<![\w./-])(?:" + "|".join(FOLDERS) + r")/[\w-]+\.(?:py|sh)\b"


def test_every_script_named_is_there():
    """Each script path the README, the docs, the Makefile, the recipes, the code, the other tests
    and the scripts themselves name exists (CHANGELOG.md's history keeps the paths of its day)."""
    import re

    texts = [
        REPO / "README.md",
        REPO / "Makefile",
        REPO / "mkdocs.yml",
        *sorted((REPO / "docs").rglob("*.md")),
        *sorted((REPO / "recipes").rglob("*.yaml")),
        *sorted((REPO / "recipes").rglob("*.md")),
        *sorted((REPO / "qstar_cli").rglob("*.py")),
        *sorted((REPO / "tests").rglob("*.py")),
        *(REPO / name for name in script_files()),
    ]
    named = {
        (path.relative_to(REPO).as_posix(), found)
        for path in texts
        if path != Path(__file__).resolve()
        for found in re.findall(SCRIPT_PATH, path.read_text(encoding="utf-8"))
    }
    assert len({found for _, found in named}) >= 10, "the pattern finds almost nothing: is it broken?"
    missing = {(where, found) for where, found in named if not (REPO / found).is_file()}
    assert sorted(f"{where}: {found}" for where, found in missing) == []


# --- python scripts: --help, imports, modules -------------------------------------------------------


def run_script(
    name: str | Path, *args: str, timeout: float = 120, env: dict | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess:
    path = name if isinstance(name, Path) else REPO / name
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
    )


def help_problem(path: Path) -> str | None:
    result = run_script(path, "--help")
    if result.returncode != 0 or not result.stdout.startswith("usage:"):
        return f"{path.name} --help: exit {result.returncode}\n{result.stdout[-1000:]}{result.stderr[-3000:]}"
    return None


@pytest.mark.parametrize("name", having("help"))
def test_help(name):
    problem = help_problem(REPO / name)
    assert problem is None, problem


def unresolved_imports(path: Path) -> list[str]:
    """Each import of the file (at any depth) that does not resolve: a qstar_cli module or name that
    is not there, a sibling script that is not there. Other packages are --help's and the runs' to check."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            wanted = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            wanted = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in wanted:
            top = module.split(".")[0]
            where = f"{path.name}:{node.lineno}"
            if top == "qstar_cli":
                try:
                    mod = importlib.import_module(module)
                except ImportError as exc:
                    problems.append(f"{where}: {module}: {exc}")
                    continue
                if name is not None and name != "*" and not hasattr(mod, name) and not _is_module(f"{module}.{name}"):
                    problems.append(f"{where}: {module} has no {name}")
            elif not importlib.util.find_spec(top) and not (path.parent / f"{top}.py").is_file():
                problems.append(f"{where}: no module {top} (a package or a script beside it)")
    return problems


def _is_module(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ImportError:
        return False


@pytest.mark.parametrize("name", having("imports"))
def test_imports_resolve(name):
    assert unresolved_imports(REPO / name) == []


@pytest.mark.parametrize("name", having("module"))
def test_module_imports_with_what_the_other_scripts_use(name):
    path = REPO / name
    stem = path.stem
    spec = importlib.util.spec_from_file_location(f"_scripts_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    used = {
        (other.name, node.attr)
        for other in path.parent.glob("*.py")
        if other != path
        for node in ast.walk(ast.parse(other.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == stem
    }
    assert used, f"no script uses {name}: is it still needed?"
    assert [f"{who} uses {stem}.{attr}" for who, attr in sorted(used) if not hasattr(module, attr)] == []


def test_the_checks_fail_on_a_broken_import(tmp_path):
    """What bench_stages.py did (an import of a name removed from qstar_cli): at the top, --help
    fails; inside a function, the import check does."""
    top = tmp_path / "top.py"
    top.write_text(
        "import argparse\nfrom qstar_cli.labelers.continuation import _states\nargparse.ArgumentParser().parse_args()\n"
    )
    lazy = tmp_path / "lazy.py"
    lazy.write_text(
        "import argparse\n\ndef main():\n    from qstar_cli.labelers.continuation import _states\n"
        "    import qstar_cli.no_such_module\n    import no_such_sibling\n\n"
        "argparse.ArgumentParser().parse_args()\n"
    )
    assert "ImportError" in help_problem(top)
    assert help_problem(lazy) is None
    assert [p.split(": ", 1)[1] for p in unresolved_imports(lazy)] == [
        "qstar_cli.labelers.continuation has no _states",
        "qstar_cli.no_such_module: No module named 'qstar_cli.no_such_module'",
        "no module no_such_sibling (a package or a script beside it)",
    ]


# --- shell scripts: syntax, usage, dry runs ------------------------------------------------------------


@pytest.mark.parametrize("name", having("bash -n"))
def test_bash_syntax(name):
    result = subprocess.run(["bash", "-n", str(REPO / name)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


RECORDER = '''#!{python}
"""Records its command line (one JSON list a line) and marks each run it names inside ROOT finished."""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
with open(os.environ["RECORDER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
root = Path(os.environ["RECORDER_ROOT"]).resolve()
outs = [value for flag, value in zip(args, args[1:]) if flag in ("--out", "-o")]
outs += [value.split("=", 1)[1] for flag, value in zip(args, args[1:])
         if flag == "--set" and value.split("=", 1)[0].endswith(".out")]
for out in outs:
    path = Path(out).resolve()
    if path == root or root in path.parents:
        path.mkdir(parents=True, exist_ok=True)
        (path / "metrics.json").write_text("{{}}")
        (path / "manifest.json").write_text(json.dumps({{"complete": True}}))
'''


def dry_run(tmp_path: Path, name: str, *args: str, **env: str) -> list[list[str]]:
    """The shell script run with QSTAR and PYTHON a recorder; the command lines it recorded."""
    recorder = tmp_path / "recorder"
    recorder.write_text(RECORDER.format(python=sys.executable))
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "commands.jsonl"
    full_env = {
        **os.environ,
        "QSTAR": str(recorder),
        "PYTHON": str(recorder),
        "RECORDER_LOG": str(log),
        "RECORDER_ROOT": str(tmp_path),
        **env,
    }
    result = subprocess.run(
        ["bash", str(REPO / name), *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=full_env
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def check_commands(commands: list[list[str]], monkeypatch) -> set[str]:
    """Every qstar command parses with today's CLI and its recipes exist; a script it runs is there.
    Returns the qstar subcommands seen."""
    from typer.main import get_command

    from qstar_cli.cli import app

    monkeypatch.chdir(REPO)  # the scripts run from the repository root
    cli = get_command(app)
    seen = set()
    for argv in commands:
        if argv and argv[0].endswith(".py"):  # $PYTHON SCRIPT ...: parsed by that script's own dry run
            assert (REPO / argv[0]).is_file(), argv
            continue
        try:
            ctx = cli.make_context("qstar", list(argv))
            name, cmd, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            cmd.make_context(name, rest, parent=ctx)
        except Exception as exc:  # click's own errors (typer vendors them): an unknown flag, a bad value
            pytest.fail(f"qstar {' '.join(argv)}: {type(exc).__name__}: {exc}")
        seen.add(name)
        recipes = [value for flag, value in itertools.pairwise(argv) if flag == "--recipe"]
        assert all((REPO / r).is_file() for r in recipes), argv
    return seen


def test_dry_cpu_results(tmp_path, monkeypatch):
    commands = dry_run(tmp_path, "scripts/cpu_results.sh")
    assert check_commands(commands, monkeypatch) == {"collect-rollouts", "label", "train-q", "eval", "report"}
    evals = [c for c in commands if c[0] == "eval"]
    # five methods; self-consistency and best-of-N at n = 1..10 come from best-of-n-10's one pool
    assert [c[c.index("--recipe") + 1] for c in evals] == [
        f"recipes/cpu/synthetic/{m}.yaml" for m in ("greedy", "best-of-n-10", "beam", "mcts", "astar")
    ]
    assert all(c[c.index("--sample-cache") + 1] == "runs/cpu/synthetic/samples" for c in evals)
    (tmp_path / "real").mkdir()
    seeds = dry_run(tmp_path / "real", "scripts/cpu_results.sh", DATASETS="mawps svamp", METHODS="greedy astar")
    check_commands(seeds, monkeypatch)
    assert sum("train.seed=2" in c for c in seeds) == 2  # QVM seeds 1-2 of each real set, A* with each
    assert seeds[-1][0] == "report" and "--baseline" in seeds[-1]


def test_dry_threshold_curve(tmp_path, monkeypatch):
    commands = dry_run(tmp_path, "scripts/threshold_curve.sh", OUT=str(tmp_path / "t"))
    assert check_commands(commands, monkeypatch) == {"eval", "train-q", "report"}
    evals = [c for c in commands if c[0] == "eval"]
    oracle = [c for c in evals if "oracle" in c]
    assert len(oracle) == 5 + 2 * 3  # A* at five noise levels, best-of-N and beam at three
    cache = {c[c.index("--sample-cache") + 1] for c in evals}
    assert cache == {str(tmp_path / "t" / "samples")}  # one cache for every run
    report = commands[-1]
    assert report[0] == "report" and report[report.index("--baseline") + 1] == "greedy"
    (tmp_path / "m").mkdir()
    mawps = dry_run(
        tmp_path / "m", "scripts/threshold_curve.sh", DATASET="mawps", QVM_RECIPE="", OUT=str(tmp_path / "m/t")
    )
    guided = [c[c.index("--qvm") + 1] for c in mawps if "--qvm" in c]
    # MAWPS has the curve's own QVM recipe (qvm-threshold.yaml): its QVM is the default
    assert guided[0] == "runs/threshold/mawps/qvm" and "--recipe" in mawps[0]
    assert "recipes/cpu/mawps/greedy.yaml" in mawps[0]
    assert not any(c[0] == "train-q" for c in mawps)


def test_dry_label_methods(tmp_path, monkeypatch):
    commands = dry_run(tmp_path, "experiments/label_methods.sh", N="4", W=str(tmp_path / "w"))
    assert check_commands(commands, monkeypatch) == {"collect-rollouts", "label", "train-q", "eval"}
    assert sum(c[0] == "label" for c in commands) == 6  # m4 m2 m1 best3 own fqi
    assert sum(c[0] == "train-q" for c in commands) == 6
    (table,) = [c for c in commands if c[0] == "experiments/label_methods.py"]
    # the table's command line parses with label_methods.py's own (its runs here are the recorder's
    # empty folders: it stops at the first, with its one-line error and not a usage error)
    result = run_script("experiments/label_methods.py", *table[1:])
    assert result.returncode == 1 and "is not a train-q run directory" in result.stderr, result.stderr[-2000:]


def test_dry_gpu_evidence(tmp_path, monkeypatch):
    w, out = tmp_path / "w", tmp_path / "out"
    out.mkdir()
    settings = dict(
        W=str(w),
        OUT=str(out),
        MINILM=str(tmp_path / "minilm"),
        LABEL_QUESTIONS="4",
        SHARDS="2",
        SEEDS="1",
        T_LABEL="600",
        T_FQI="600",
        DEADLINE_S="3600",
    )  # deadlines never reached
    commands = dry_run(tmp_path, "experiments/gpu_evidence.sh", **settings)
    assert check_commands(commands, monkeypatch) == {"label", "train-q"}
    assert sum("--shard" in c for c in commands) == 2 * 5  # m4, m1, m2, best3, own on each shard
    assert sum(c[0] == "train-q" for c in commands) == 6 + 2  # a QVM per method, QVM seed 1 of both sets
    assert (out / "results.tar.xz").is_file()
    grouped = dry_run(tmp_path, "experiments/gpu_evidence.sh", "grouped", **settings, GROUPED_SEEDS="0")[
        len(commands) :
    ]
    assert check_commands(grouped, monkeypatch) == {"train-q"} and len(grouped) == 1


def test_usage_gpu_evidence(tmp_path):
    """Its modes that do no work: without OUT it names it; `more` with no packs left says so."""
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    missing = subprocess.run(
        ["bash", str(REPO / "experiments" / "gpu_evidence.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**env, "W": str(tmp_path)},
    )
    assert missing.returncode != 0 and "where results go" in missing.stderr
    more = subprocess.run(
        ["bash", str(REPO / "experiments" / "gpu_evidence.sh"), "more"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**env, "W": str(tmp_path), "OUT": str(tmp_path)},
    )
    assert more.returncode == 0 and "no packs left" in more.stdout


# --- the smallest real runs (slow) ----------------------------------------------------------------------


# the held-out share of the session's label run (MAWPS test questions 0-2) that holds out one of its
# three questions (the split hashes each question id with train.seed 0)
HELDOUT = "0.75"


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_run_bench_prefix(tmp_path, data_dir, embedded_model):
    pytest.importorskip("vllm")
    ok(
        run_script(
            "benchmarks/bench_prefix.py",
            "--k",
            "2",
            "--states",
            "2",
            "--out",
            str(tmp_path),
            env=data_env(),
            timeout=900,
        )
    )
    report = json.loads((tmp_path / "bench_prefix.json").read_text())
    assert report["fan_out"]["k"] == 2 and len(report["fan_out"]["cached_per_child"]) == 2
    assert len(report["states"]) == 2 and all(s["tokens"] > 0 for s in report["states"])


@pytest.mark.slow
def test_run_bench_engine(tmp_path, data_dir, embedded_model):
    """One block size on two questions: an engine, its three workloads, the JSON and the table."""
    pytest.importorskip("vllm")
    ok(
        run_script(
            "benchmarks/bench_engine.py",
            *("--block-sizes", "32", "--questions", "2", "--repeats", "1", "--out", str(tmp_path)),
            env=data_env(),
            timeout=900,
        )
    )
    [row] = json.loads((tmp_path / "bench_engine.json").read_text())["rows"]
    assert row["block_size"] == row["engine_block_size"] == 32
    assert min(row["expansion"], row["flat"], row["greedy"]) > 0
    assert "| 32 |" in (tmp_path / "bench_engine.md").read_text()


@pytest.mark.slow
def test_run_bench_search(tmp_path, trained_qvm):
    """Every search the benchmark measures, on one question, and the calls-per-round runs."""
    pytest.importorskip("vllm")
    qvm, _, _ = trained_qvm
    settings = ("--questions", "1", "--k", "2", "--budget", "2", "--n-terminals", "1", "--refill", "0.5")
    others = ("--beam-width", "2", "--mcts-iterations", "1", "--scaling-questions", "1", "2", "--scaling-budget", "1")
    ok(
        run_script(
            "benchmarks/bench_search.py",
            *("--qvm", str(qvm), *settings, *others, "--out", str(tmp_path)),
            env=data_env(),
            timeout=900,
        )
    )
    report = json.loads((tmp_path / "bench_search.json").read_text())
    runs = report["runs"]
    assert [run["method"] for run in runs] == ["astar", "astar", "beam", "mcts"]  # streamed, lockstep, ...
    assert all(run["generated_tokens"] > 0 and run["tokens_per_second"] > 0 for run in runs)
    assert all(0 <= run["qvm_share"] <= 1 and 0 <= run["outside_share"] <= 1 for run in runs)
    assert [row["questions"] for row in report["scaling"]] == [1, 2]
    assert all(row["rounds"] >= 1 and row["qvm_calls_per_round"] >= 1 for row in report["scaling"])
    assert "| astar | lockstep rounds |" in (tmp_path / "bench_search.md").read_text()


@pytest.mark.slow
def test_run_bench_serve(tmp_path, data_dir, embedded_model):
    """The load table (two clients, against qstar eval) and the soak, each on a small hf server."""
    common = ("--backend", "hf", "--shots", "0", "--questions", "2", "--max-tokens", "16")
    ok(
        run_script(
            "benchmarks/bench_serve.py", *common, "--clients", "2", "--out", str(tmp_path), env=data_env(), timeout=600
        )
    )
    report = json.loads((tmp_path / "bench_serve.json").read_text())
    [row] = report["load"]
    assert row["clients"] == 2 and row["requests"] == 2 and row["generated_tokens"] > 0 and row["rounds"]
    assert report["eval"]["questions"] == 2 and report["eval"]["tokens_per_s"] > 0
    assert "vs qstar eval" in (tmp_path / "bench_serve.md").read_text()
    ok(
        run_script(
            "benchmarks/bench_serve.py", *common, "--soak", "20", "--out", str(tmp_path), env=data_env(), timeout=600
        )
    )
    soak = json.loads((tmp_path / "bench_serve_soak.json").read_text())["soak"]
    assert soak["server_errors"] == 0 and soak["good_answered_once"] and soak["server_exit"] == 0
    assert soak["in_flight_after"] == 0 and sum(n for k, n in soak["outcomes"].items() if k.startswith("bad -> 4")) == 2


@pytest.mark.slow
def test_run_bench_stages(tmp_path, data_dir, embedded_model):
    ok(
        run_script(
            "benchmarks/bench_stages.py",
            "--backend",
            "hf",
            "--questions",
            "1",
            "--rollouts",
            "2",
            "--label-rollouts",
            "1",
            "--max-tokens",
            "16",
            "--out",
            str(tmp_path),
            env=data_env(),
            timeout=900,
        )
    )
    report = json.loads((tmp_path / "bench_stages.json").read_text())
    collect, label = report["stages"]
    assert (collect["stage"], collect["prompts"], collect["samples_per_prompt"]) == ("collect-rollouts", 1, 2)
    assert collect["stage_tokens"] > 0 and collect["bare_tokens"] > 0
    assert label["stage"] == "label --method rollout" and label["samples_per_prompt"] == 1
    assert "| collect-rollouts | 1 |" in (tmp_path / "bench_stages.md").read_text()


@pytest.mark.slow
def test_run_bench_qvm(tmp_path, rollout_labels):
    labels, _ = rollout_labels
    ok(
        run_script(
            "benchmarks/bench_qvm.py",
            "--labels",
            str(labels),
            "--backbones",
            "minilm",
            "--max-steps",
            "1",
            "--batch-size",
            "4",
            "--max-length",
            "128",
            "--heldout",
            HELDOUT,
            "--out",
            str(tmp_path),
            timeout=900,
        )
    )
    (row,) = json.loads((tmp_path / "bench_qvm.json").read_text())
    assert row["backbone"] == "minilm" and row["steps"] == 1 and row["heldout_examples"] > 0
    assert "| minilm | no |" in (tmp_path / "bench_qvm.md").read_text()


@pytest.mark.slow
def test_run_qvm_sweep(tmp_path, rollout_labels):
    labels, _ = rollout_labels
    recipe = tmp_path / "qvm.yaml"
    recipe.write_text(
        json.dumps(
            {
                "train": {
                    "labels": [str(labels)],
                    "backbone": "minilm",
                    "max_steps": 1,
                    "batch_size": 4,
                    "max_length": 128,
                    "heldout_fraction": float(HELDOUT),
                }
            }
        )
    )
    ok(
        run_script(
            "experiments/qvm_sweep.py",
            "--recipe",
            str(recipe),
            "--run",
            "as is:",
            "--run",
            "soft: train.target=soft",
            "--out",
            str(tmp_path / "sweep"),
            timeout=900,
        )
    )
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [(r["name"], r["sets"], r["train_steps"]) for r in rows] == [
        ("as is", [], 1),
        ("soft", ["train.target=soft"], 1),
    ]
    assert (tmp_path / "sweep" / "soft" / "qvm").is_dir()


@pytest.mark.slow
def test_run_qvm_pack_then_heldout(tmp_path, rollout_labels):
    """The README's way back for a QVM trained elsewhere: pack, unpack onto the backbone, re-score;
    train-q with the run's settings still finds it trained (make results resumes over it)."""
    from qstar_cli.backends.models import packaged_model

    labels, _ = rollout_labels
    qvm = tmp_path / "qvm"
    args = (
        "train-q",
        "--labels",
        str(labels),
        "--backbone",
        "minilm",
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--set",
        f"train.heldout_fraction={HELDOUT}",
        "--out",
    )
    ok(run_qstar(*args, str(qvm)))
    minilm = str(packaged_model("minilm"))
    ok(run_script("experiments/qvm_pack.py", "pack", str(qvm), minilm, str(tmp_path / "qvm.tar"), timeout=900))
    info = json.loads(
        ok(
            run_script(
                "experiments/qvm_pack.py",
                "unpack",
                str(tmp_path / "qvm.tar"),
                minilm,
                str(tmp_path / "back"),
                timeout=900,
            )
        ).stdout
    )
    assert info["max_abs_error"] < 1e-3
    ok(run_script("experiments/qvm_heldout.py", str(tmp_path / "back"), timeout=900))
    metrics = json.loads((tmp_path / "back" / "metrics.json").read_text())
    assert metrics["heldout_reevaluated"]["by"] == "experiments/qvm_heldout.py"
    assert metrics["heldout"]["examples"] == metrics["heldout_before"]["examples"] > 0
    assert json.loads((qvm / "metrics.json").read_text()).get("heldout_reevaluated") is None  # the original untouched
    rerun = ok(run_qstar(*args, str(tmp_path / "back")))
    assert "already trained" in rerun.stdout + rerun.stderr


@pytest.mark.slow
def test_run_mbpp_reference_check(tmp_path, data_dir):
    ok(
        run_script(
            "experiments/mbpp_reference_check.py",
            "--limit",
            "3",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
            env=data_env(),
            timeout=900,
        )
    )
    report = json.loads((tmp_path / "reference_check.json").read_text())
    assert report["programs"] == 3 and report["throughput"][0]["workers"] == 1
    assert (tmp_path / "reference_check.md").is_file()
