"""A backend is one module plus one registry entry: a toy one registered here is validated,
listed in the choices and built with its own options, and no other file names it."""

from __future__ import annotations

import sys
import types

import pytest

from qstar_cli import backends
from qstar_cli.backends.base import Generation, PolicyBackend
from qstar_cli.config import CollectConfig, resolve
from qstar_cli.errors import QstarError


class EchoBackend(PolicyBackend):
    """Answers every prompt with `reply`, `repeat` times over."""

    name = "echo"

    def __init__(self, model_path: str, *, seed: int = 0, reply: str = "4", repeat: int = 1):
        super().__init__()
        self.model_path, self.seed, self.reply, self.repeat = model_path, seed, reply, repeat

    @staticmethod
    def check_options(options: dict, where: str) -> None:
        if options.get("repeat", 1) < 1:
            raise QstarError(f"{where}.repeat must be at least 1")

    @staticmethod
    def gpus(options: dict) -> int:  # one engine per repeat, say: the launchers must ask for them all
        return options.get("repeat", 1)

    def _generate_text(self, prompts, params, keys=None):
        return [[Generation(self.reply * self.repeat, [0], "eos") for _ in range(params.n)] for _ in prompts]


@pytest.fixture
def echo(monkeypatch):
    module = types.ModuleType("qstar_toy_echo")
    module.EchoBackend = EchoBackend
    monkeypatch.setitem(sys.modules, "qstar_toy_echo", module)
    monkeypatch.setitem(backends.BACKENDS, "echo", ("qstar_toy_echo", "EchoBackend"))


def test_a_registered_backend_is_a_choice_with_its_own_options(echo):
    assert "echo" in backends.policy_choices() and "echo" in backends.choices()
    assert backends.option_specs("echo") == {"reply": (str, "4"), "repeat": (int, 1)}
    config = resolve(
        CollectConfig, None, ["policy.backend=echo", "policy.options.echo.repeat=2", "policy.options.echo.reply=7"], {}
    )
    backend = backends.load_backend(config.policy, model_path="/models/x")
    # the shared key it accepts (seed) comes from the policy section; its own from options.echo
    assert (backend.model_path, backend.seed, backend.reply, backend.repeat) == ("/models/x", 0, "7", 2)
    assert backend.generate(["Q"], types.SimpleNamespace(n=2, stop=None))[0][0].text == "77"


def test_a_registered_backend_checks_its_own_options_before_any_model_loads(echo):
    with pytest.raises(QstarError, match="policy.options.echo.repeat must be at least 1"):
        resolve(CollectConfig, None, ["policy.backend=echo", "policy.options.echo.repeat=0"], {})
    with pytest.raises(QstarError, match="the echo backend takes: repeat, reply"):
        resolve(CollectConfig, None, ["policy.options.echo.temperature=2"], {})


def test_without_the_entry_the_name_is_unknown():
    with pytest.raises(QstarError, match="unknown backend 'echo'; choose one of: auto, vllm, hf"):
        resolve(CollectConfig, None, ["policy.backend=echo"], {})


def test_a_ray_shard_asks_for_the_gpus_a_registered_backend_declares(echo):
    from qstar_cli.launch.ray import _policy_gpus

    def cluster(gpus):
        return types.SimpleNamespace(cluster_resources=lambda: {"GPU": gpus} if gpus else {})

    config = resolve(CollectConfig, None, ["policy.backend=echo", "policy.options.echo.repeat=3"], {})
    assert _policy_gpus(config, cluster(8)) == 3
    assert _policy_gpus(config, cluster(0)) == 0  # a cluster without GPUs: none
    vllm = resolve(
        CollectConfig,
        None,
        [
            "policy.backend=vllm",
            "policy.options.vllm.tensor_parallel_size=2",
            "policy.options.vllm.pipeline_parallel_size=2",
        ],
        {},
    )
    assert _policy_gpus(vllm, cluster(8)) == 4
