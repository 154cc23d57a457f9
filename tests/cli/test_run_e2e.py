"""`qstar run`: several recipes' stages in one process, on the real embedded model (vLLM on CPU).

Two recipes that differ only in their output folder sample the same questions at temperature 1:
run one after the other in one process, on one engine, the second must write exactly the first's
records, because the engine is restarted as a fresh one with the stage's seed starts.
"""

import json

import pytest

from tests.cli.test_bad_input import assert_clean_error
from tests.conftest import run_qstar

pytestmark = pytest.mark.slow

TIMES = ("wall_seconds", "seconds")  # what may differ between two identical runs


def recipe(path, out, cache=None, **eval_keys):
    keys = {"search": "self-consistency", "n": 3, "out": str(out), **eval_keys}
    policy = {"options": {"vllm": {"cpu_kv_cache_gib": 1}}, **({"sample_cache": str(cache)} if cache else {})}
    path.write_text(
        "data: {name: synthetic-arith, subset: easy, split: test, limit: 4, num_shots: 2}\n"
        f"policy: {json.dumps(policy)}\n"
        "sampling: {temperature: 1.0, max_tokens: 48}\n"
        f"eval: {json.dumps(keys)}\n"
    )
    return str(path)


def records(out):
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMES} for row in rows]


def session(out):
    return json.loads((out / "manifest.json").read_text())["sessions"][-1]


def test_stages_share_one_engine_and_write_what_separate_commands_would(tmp_path, shell_env):
    """Also a sample cache: a cold one changes nothing (the third stage writes the first's records),
    a warm one gives the same records without generating a token (the fourth). `shell_env`: a
    user's environment, where --verbose lets vLLM log its engine starts."""
    outs = [tmp_path / name for name in ("first", "second", "cold", "warm")]
    cache = tmp_path / "samples"
    recipes = [recipe(tmp_path / f"{out.name}.yaml", out, cache if i >= 2 else None) for i, out in enumerate(outs)]
    result = run_qstar("run", *recipes, "-v")
    assert result.returncode == 0, result.stderr[-4000:]
    # vLLM logs each engine start (to stdout, under --verbose): one for all four stages
    assert (result.stdout + result.stderr).count("Initializing a V1 LLM engine") == 1
    assert "[4/4]" in result.stderr
    a, b, cold, warm = (records(out) for out in outs)
    assert len(a) == 4 and any(len({t["answer"] for t in r["terminals"]}) > 1 for r in a)  # really sampled
    assert b == a and cold == a and warm == a
    generated = session(outs[0])["generated_tokens"]
    assert session(outs[2])["generated_tokens"] == generated and session(outs[2])["cached_tokens"] == 0
    assert session(outs[3])["generated_tokens"] == 0 and session(outs[3])["cached_tokens"] == generated


def test_every_recipe_is_checked_before_the_first_stage_runs(tmp_path):
    good = recipe(tmp_path / "a.yaml", tmp_path / "first")
    bad = recipe(tmp_path / "b.yaml", tmp_path / "second", n="three")
    assert_clean_error(run_qstar("run", good, bad), "eval.n")
    same_out = recipe(tmp_path / "c.yaml", tmp_path / "first")
    assert_clean_error(run_qstar("run", good, same_out), "both write")
    assert not (tmp_path / "first").exists()
