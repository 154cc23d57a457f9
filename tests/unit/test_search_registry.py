"""The search registry: every setting of every method reaches it from a recipe, and the facts the
rest of qstar derives from an entry (keys, choices, bounds, QVM need, report labels) hold."""

from __future__ import annotations

import dataclasses
import time
import typing

import pytest
import yaml

from qstar_cli import search
from qstar_cli.config import SEARCH_KEYS, EvalConfig, resolve
from qstar_cli.config.fields import literal_choices
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Question, SearchResult


def other_value(hint, default):
    """A valid value of a field's type that differs from its default."""
    choices = literal_choices(hint)
    if choices:
        return next(c for c in choices if c != default)
    if default is None:  # an optional float (MCTS rollout temperature)
        return 0.3
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 3
    if isinstance(default, float):
        return default + 0.25
    raise AssertionError(f"no test value for {hint}")


@pytest.mark.parametrize("name", list(search.SEARCHERS))
def test_every_field_of_every_method_is_set_from_a_recipe_and_reaches_the_method(name, tmp_path, monkeypatch):
    method = search.SEARCHERS[name]
    hints = typing.get_type_hints(method.config)
    recipe: dict = {"eval": {"search": name}, "sampling": {}}
    wanted = {}
    for f in dataclasses.fields(method.config):
        value = other_value(hints[f.name], f.default)
        section, _, key = method.key(f).partition(".")
        recipe[section][key] = value
        wanted[f.name] = value
    if name in ("best_of_n", "astar"):
        recipe["eval"]["prm"] = "some/prm"  # rank_by / utility prm need one
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    config = resolve(EvalConfig, path)

    # the eval stage builds the method's config with `configure` and hands it to `search.run`
    received = []

    def fake(env, q, cfg, usage, trees=False):
        received.append(cfg)
        return SearchResult(q.id, None, [], usage)
        yield  # a generator, like every method's search

    monkeypatch.setitem(search.SEARCHERS, name, dataclasses.replace(method, search=fake))
    search.run(name, [Question("q", "?", "P")], None, search.SEARCHERS[name].configure(config))
    assert dataclasses.asdict(received[0]) == wanted


def test_max_tokens_reaches_astar_and_beam_from_the_sampling_section():
    config = resolve(EvalConfig, None, ["sampling.max_tokens=1024", "eval.search=astar"])
    assert search.SEARCHERS["astar"].configure(config).max_tokens == 1024
    config = resolve(EvalConfig, None, ["sampling.max_tokens=128", "eval.search=beam"])
    assert search.SEARCHERS["beam"].configure(config).max_tokens == 128


def test_mcts_rollout_temperature_defaults_to_the_proposals():
    config = resolve(EvalConfig, None, ["eval.search=mcts", "eval.temperature=0.7"])
    assert search.SEARCHERS["mcts"].configure(config).rollout_temperature is None
    config = resolve(EvalConfig, None, ["eval.search=mcts", "eval.rollout_temperature=1.1"])
    assert search.SEARCHERS["mcts"].configure(config).rollout_temperature == 1.1


def test_keys_are_derived_from_the_configs():
    assert SEARCH_KEYS["greedy"] == set()
    assert SEARCH_KEYS["beam"] == {"width", "k", "temperature", "max_depth", "answer", "qvm"}
    assert {"fallback", "utility", "agg", "prm"} <= SEARCH_KEYS["astar"]
    assert {"mcts_reward", "mcts_answer", "rollout_temperature"} <= SEARCH_KEYS["mcts"]


def test_astar_beam_and_best_of_n_read_one_answer_choice():
    for method in ("astar", "beam", "best_of_n"):
        config = resolve(EvalConfig, None, [f"eval.search={method}", "eval.answer=weighted"])
        assert search.SEARCHERS[method].configure(config).answer == "weighted"


def test_methods_that_share_a_key_share_its_type_and_default():
    seen = {}
    for method in search.SEARCHERS.values():
        hints = typing.get_type_hints(method.config)
        for f in dataclasses.fields(method.config):
            key = method.key(f)
            seen.setdefault(key, (hints[f.name], f.default))
            assert seen[key] == (hints[f.name], f.default), key


@pytest.mark.parametrize(
    "sets,message",
    [
        (["eval.search=mcts", "eval.mcts_reward=prm"], "unknown eval.mcts_reward 'prm'"),
        (["eval.search=astar", "eval.agg=median"], "unknown eval.agg 'median'; choose one of: min, max, sum, last"),
        (["eval.search=astar", "eval.k=0"], "eval.k must be at least 1"),
        (["eval.search=astar", "eval.budget=2", "eval.n_terminals=3"], "more than the --budget"),
        (["eval.search=astar", "eval.utility=prm"], "--utility prm needs --prm"),
        (["eval.search=best-of-n", "eval.rank_by=prm"], "needs --prm"),
        (["eval.search=beam", "eval.budget=3"], "--search beam does not use eval.budget"),
        (["eval.search=greedy", "eval.fallback=none"], "--search greedy does not use eval.fallback"),
        (["eval.search=dfs"], "unknown search 'dfs'"),
        (["eval.search=beam", "eval.answer=sum"], "unknown eval.answer 'sum'; choose one of: best_f, vote, weighted"),
        (["eval.search=mcts", "eval.answer=weighted"], "--search mcts does not use eval.answer"),
        (["eval.search=astar", "eval.prm_mode=logits"], "unknown eval.prm_mode"),
    ],
)
def test_bad_settings_are_refused_by_the_config(sets, message):
    with pytest.raises(QstarError, match=message.replace("*", r"\*")):
        resolve(EvalConfig, None, sets)


def test_prm_keys_reach_the_prm_config():
    from qstar_cli.stages.eval import load_prm
    from qstar_cli.value import prm as prm_module

    got = []
    config = resolve(
        EvalConfig,
        None,
        [
            "eval.search=best-of-n",
            "eval.rank_by=prm",
            "eval.prm=m",
            "eval.prm_trust_remote_code=true",
            "eval.prm_batch_size=3",
            "eval.prm_mode=classification",
            "eval.prm_positive_label=0",
        ],
    )
    original = prm_module.PRM.load
    try:
        prm_module.PRM.load = classmethod(lambda cls, cfg, device=None: got.append(cfg))
        load_prm(config.eval)
    finally:
        prm_module.PRM.load = original
    cfg = got[0]
    assert (cfg.model, cfg.trust_remote_code, cfg.batch_size, cfg.mode, cfg.positive_label) == (
        "m",
        True,
        3,
        "classification",
        0,
    )


def test_needs_qvm_follows_the_method_settings():
    def needs(*sets):
        config = resolve(EvalConfig, None, list(sets))
        method = search.SEARCHERS[config.eval.search]
        return method.needs_qvm(method.configure(config))

    assert needs("eval.search=astar") and not needs("eval.search=astar", "eval.heuristic=zero")
    assert needs("eval.search=beam") and not needs("eval.search=greedy")
    assert not needs("eval.search=best-of-n", "eval.rank_by=prm", "eval.prm=m")
    assert needs("eval.search=mcts", "eval.mcts_reward=qvm") and not needs("eval.search=mcts")


def test_per_question_wall_times_add_up_to_the_run(monkeypatch):
    def slow(env, q, cfg, usage, trees=False):  # a search that takes 0.1 s of its own, no model call
        time.sleep(0.1)
        return SearchResult(q.id, None, [], usage)
        yield  # a generator, like every method's search

    monkeypatch.setitem(search.SEARCHERS, "greedy", dataclasses.replace(search.SEARCHERS["greedy"], search=slow))
    started = time.perf_counter()
    results = search.run("greedy", [Question(f"q{i}", "?", "P") for i in range(4)], None, None)
    elapsed = time.perf_counter() - started
    shares = [r.wall_seconds for r in results]
    assert [r.question_id for r in results] == ["q0", "q1", "q2", "q3"]
    assert min(shares) >= 0 and 0.4 <= sum(shares) <= elapsed
