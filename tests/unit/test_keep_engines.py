"""`backends.keep_engines`: stages of one process share an engine, restarted as a fresh one starts.

A toy backend counts how it was built, restarted and closed; the HF backend on a tiny random Llama
shows that a restarted engine samples exactly what a fresh one with that seed samples.
"""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

from qstar_cli import backends
from qstar_cli.backends.base import Generation, GenParams, PolicyBackend

BUILT: list[Toy] = []


class Toy(PolicyBackend):
    name = "toy"
    reusable = True

    def __init__(self, model_path: str, *, seed: int = 0, size: int = 1, reusable: bool = True):
        super().__init__()
        self.model_path, self.seed, self.size, self.reusable = model_path, seed, size, reusable
        self.restarts: list[int] = []
        self.closed = False
        BUILT.append(self)

    def _generate(self, prompt_ids, params):
        return [[Generation("x", [1], "eos")] for _ in prompt_ids]

    def encode(self, text: str) -> list[int]:
        return [1]

    def restart(self, seed: int) -> None:
        super().restart(seed)
        self.restarts.append(seed)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def toy(monkeypatch):
    module = types.ModuleType("toy_backend")
    module.Toy = Toy
    monkeypatch.setitem(sys.modules, "toy_backend", module)
    monkeypatch.setitem(backends.BACKENDS, "toy", ("toy_backend", "Toy"))
    BUILT.clear()

    def policy(seed: int = 0, **options):
        return SimpleNamespace(
            backend="toy",
            model=None,
            seed=seed,
            dtype="auto",
            max_model_len=2048,
            trust_remote_code=False,
            options={"toy": options},
        )

    return policy


def load(policy):
    return backends.load_backend(policy, "model")


def test_without_the_block_every_stage_builds_and_closes_its_own(toy):
    with load(toy()) as first:
        first.generate(["q"], GenParams())
    with load(toy()) as second:
        pass
    assert first is not second and first.closed and second.closed


def test_the_same_settings_get_the_same_engine_restarted_with_the_stages_seed(toy):
    with backends.keep_engines():
        with load(toy(seed=0)) as first:
            first.generate(["q", "r"], GenParams())
            assert first.usage.prompts == 2
        assert not first.closed  # kept for the next stage
        with load(toy(seed=3)) as second:
            assert second is first and first.restarts == [3]
            assert second.usage.prompts == 0  # the stage counts only its own work
    assert len(BUILT) == 1 and first.closed  # closed when the block ends


def test_other_settings_get_another_engine_and_the_idle_one_is_dropped(toy):
    with backends.keep_engines():
        with load(toy(size=1)) as small:
            pass
        with load(toy(size=2)) as big:
            assert big is not small and small.closed and not big.closed
        with load(toy(size=2)) as again:
            assert again is big
    assert big.closed


def test_an_engine_in_use_is_not_handed_out_twice(toy):
    with backends.keep_engines():
        with load(toy()) as outer:
            with load(toy()) as inner:  # e.g. a stage that holds two of the same at once
                assert inner is not outer
            assert inner.closed and not outer.closed  # the second one is not kept
        with load(toy()) as later:
            assert later is outer


def test_a_backend_that_cannot_restart_exactly_is_never_kept(toy):
    with backends.keep_engines():
        with load(toy(reusable=False)) as first:
            pass
        assert first.closed
        with load(toy(reusable=False)) as second:
            assert second is not first


def test_a_stage_that_wraps_its_engine_in_a_policy_hands_it_back(toy):
    """collect-rollouts holds its engine through `Policy`: leaving that block must release the engine
    for the next stage, not close it (nor keep it marked busy, which built a second engine)."""
    from qstar_cli.environment import Policy
    from qstar_cli.steps import StepFormat

    with backends.keep_engines():
        with Policy(load(toy()), StepFormat.parse("line")) as policy:
            engine = policy.backend
        assert not engine.closed and not engine.in_use
        with load(toy()) as again:
            assert again is engine


def test_a_restarted_hf_engine_samples_what_a_fresh_one_does(tiny_model):
    """Keyed (per-question) samples depend on the seed and the requests so far: a restart clears both."""
    from qstar_cli.backends.hf_backend import HFBackend

    params = GenParams(n=3, temperature=1.0, max_tokens=8)

    def texts(backend):
        return [[g.text for g in gens] for gens in backend.generate(["Alpha prompt"], params, ["qa"])]

    fresh = texts(HFBackend(tiny_model, batch_size=4, seed=1))
    reused = HFBackend(tiny_model, batch_size=4, seed=0)
    texts(reused)
    texts(reused)
    reused.restart(1)
    assert texts(reused) == fresh
