"""A search method is one module plus one registry entry: a toy one registered here gets its own
eval key and its checks, --search's choices, and searches questions through the driver; nothing
else names it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from qstar_cli import search
from qstar_cli.config import EvalConfig, eval_section, resolve, sections
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Question, SearchResult, Terminal
from qstar_cli.search.driver import Complete
from tests.toy_env import ScriptedEnv


@dataclass
class ShortestConfig:
    pool: int = field(default=3, metadata={"min": 1})  # samples drawn; the shortest answers


def shortest_one(env, q, cfg, usage, trees=False):
    [cands] = yield Complete([[]], cfg.pool, 0.7)
    usage.generated(cands)
    terms = [Terminal([c.text], 0.0, finish=c.finish) for c in cands]
    return SearchResult(q.id, min(terms, key=lambda t: len(t.text)), terms, usage)


@pytest.fixture
def shortest(monkeypatch):
    monkeypatch.setitem(
        search.SEARCHERS,
        "shortest",
        search.Method(shortest_one, ShortestConfig, "shortest", "#000000", shown=(("pool", "pool"),)),
    )
    monkeypatch.setitem(sections.SECTIONS, "eval", eval_section.build_eval_section())
    monkeypatch.setattr(eval_section, "SEARCH_KEYS", eval_section.search_keys())


def test_a_registered_search_method_has_its_key_and_checks(shortest):
    config = resolve(EvalConfig, None, ["eval.search=shortest", "eval.pool=5"])
    assert search.SEARCHERS["shortest"].configure(config) == ShortestConfig(pool=5)
    with pytest.raises(QstarError, match=r"eval.pool must be at least 1, got 0"):
        resolve(EvalConfig, None, ["eval.search=shortest", "eval.pool=0"])
    with pytest.raises(QstarError, match=r"--search astar does not use eval.pool"):
        resolve(EvalConfig, None, ["eval.search=astar", "eval.pool=5"])


def test_a_registered_search_method_searches_through_the_driver(shortest):
    env = ScriptedEnv({"P:": ["4 + 4 = 8. The answer is 8.", "The answer is 8.", "So 8."]})
    config = resolve(EvalConfig, None, ["eval.search=shortest", "eval.pool=3"])
    [result] = search.run(
        "shortest", [Question("q", "4 + 4?", "P:")], env, search.SEARCHERS["shortest"].configure(config)
    )
    assert result.answer.text == "So 8." and len(result.terminals) == 3
    assert env.calls == [("complete", ["P:"], 3)]  # one policy call for the question's pool


def test_without_the_entry_the_name_and_key_are_unknown():
    with pytest.raises(QstarError, match=r"unknown search 'shortest'"):
        resolve(EvalConfig, None, ["eval.search=shortest"])
    with pytest.raises(QstarError, match=r"eval.pool"):
        resolve(EvalConfig, None, ["eval.pool=5"])
    assert "pool" not in {f.name for f in dataclasses.fields(sections.SECTIONS["eval"])}
