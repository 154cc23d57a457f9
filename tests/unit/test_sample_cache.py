"""`policy.sample_cache`: each state's samples are drawn once; a later run takes the k-th sample of a
state where it took k of that state before, and only new draws are generated."""

from __future__ import annotations

import itertools

import pytest

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend
from qstar_cli.backends.cache import CachedBackend, SampleStore


class Counter(PolicyBackend):
    """Every sample is new: prompt#draw, where draw counts this backend's samples of that prompt."""

    name = "counter"

    def __init__(self, streams: bool = False):
        super().__init__()
        self.streams = streams
        self.draws = itertools.count()
        self.asked: list[tuple[str, int]] = []

    def encode(self, text):
        return [1]

    def _generate_text(self, prompts, params, keys=None):
        self.asked += [(p, params.n) for p in prompts]
        return [[Generation(f"{p}#{next(self.draws)}", [7] * 3, "eos") for _ in range(params.n)] for p in prompts]


def texts(outs):
    return [[g.text for g in gens] for gens in outs]


P = GenParams(n=2, temperature=0.7, max_tokens=32, stop=("\n",))


def test_a_later_run_takes_the_same_draws_and_generates_only_new_ones(tmp_path):
    first = CachedBackend(Counter(), SampleStore(tmp_path, "m"))
    a = texts(first.generate(["p", "q"], P))
    assert a == [["p#0", "p#1"], ["q#2", "q#3"]]
    assert texts(first.generate(["p"], P)) == [["p#4", "p#5"]]  # within a run: new draws of p

    inner = Counter()
    second = CachedBackend(inner, SampleStore(tmp_path, "m"))
    assert texts(second.generate(["p"], GenParams(**{**P.__dict__, "n": 3}))) == [["p#0", "p#1", "p#4"]]
    assert inner.asked == []  # all three were drawn by the first run
    # p has four stored draws (p#0, p#1, p#4, p#5): this run's 4th is stored, its 5th is generated
    # (by the new backend, whose own draws count from 0); q's two come from the store
    assert texts(second.generate(["p", "q"], P)) == [["p#5", "p#0"], ["q#2", "q#3"]]
    assert inner.asked == [("p", 1)]
    # 6 samples of 3 tokens from the store, 1 generated
    assert second.session_usage()["generated_tokens"] == 3 and second.session_usage()["cached_tokens"] == 18


def test_other_settings_or_another_model_share_nothing(tmp_path):
    CachedBackend(Counter(), SampleStore(tmp_path, "m")).generate(["p"], P)
    hotter = Counter()
    CachedBackend(hotter, SampleStore(tmp_path, "m")).generate(["p"], GenParams(**{**P.__dict__, "temperature": 1.0}))
    other_model = Counter()
    CachedBackend(other_model, SampleStore(tmp_path, "other")).generate(["p"], P)
    assert hotter.asked == [("p", 2)] and other_model.asked == [("p", 2)]


@pytest.mark.parametrize("streams", [False, True])
def test_submit_and_collect_serve_the_store_at_once(tmp_path, streams):
    CachedBackend(Counter(), SampleStore(tmp_path, "m")).generate(["p"], P)
    inner = Counter(streams=streams)
    backend = CachedBackend(inner, SampleStore(tmp_path, "m"))
    cached_ticket = backend.submit("p", P)
    new_ticket = backend.submit("r", P)
    first = dict(backend.collect())
    assert first == {cached_ticket: first[cached_ticket]} and [g.text for g in first[cached_ticket]] == ["p#0", "p#1"]
    rest = dict(backend.collect())
    assert [g.text for g in rest[new_ticket]] == ["r#0", "r#1"] and backend.in_flight() == 0
    third = CachedBackend(Counter(), SampleStore(tmp_path, "m"))
    assert texts(third.generate(["r"], P)) == [["r#0", "r#1"]]  # stored on collect


def test_the_cache_is_where_a_run_executes_not_what_it_computes():
    """A run may be resumed with a cache added or moved: the key is an execution key."""
    from qstar_cli.config import EXECUTION_KEYS

    assert "policy.sample_cache" in EXECUTION_KEYS
