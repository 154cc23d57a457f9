"""Policy backends behind one batched interface (`base.PolicyBackend`), and the one list of them.

`BACKENDS` maps each name to its class (module, class name); help texts, validation and loading
all derive from it, so adding a backend (SGLang, say) is one module and one entry here. `auto`
picks vllm when it is importable, else hf. Backend modules import their engines only when one is
built, so reading a backend's options (and `qstar --help`) stays light.

A backend's own settings are the keyword arguments of its constructor after the ones every
backend shares (`SHARED`, from `PolicyConfig`): `policy.options.<backend>.<key>` in a recipe or
`--set`, one mapping per backend, so one recipe can carry settings for several backends and each
gets only its own (as lm-evaluation-harness passes `model_args` to the model class it looks up).
An unknown backend or option is an error that names the valid ones, before any model loads; each
class checks its own values in `check_options`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import typing

from qstar_cli.errors import QstarError

BACKENDS = {
    "vllm": ("qstar_cli.backends.vllm_backend", "VLLMBackend"),
    "hf": ("qstar_cli.backends.hf_backend", "HFBackend"),
    "openai": ("qstar_cli.backends.openai_backend", "OpenAIBackend"),
}
SHARED = ("dtype", "seed", "max_model_len", "trust_remote_code")  # PolicyConfig's, passed where accepted


def backend_class(name: str) -> type:
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)


def choices() -> tuple[str, ...]:
    """What --strong-backend accepts."""
    return ("auto", *BACKENDS)


def policy_choices() -> tuple[str, ...]:
    """What --backend (the acting policy) accepts: the backends whose class `serves_policy`."""
    return ("auto", *(name for name in BACKENDS if backend_class(name).serves_policy))


def option_specs(name: str) -> dict[str, tuple[typing.Any, typing.Any]]:
    """{option: (type annotation, default)}: the constructor's keyword-only settings of a backend."""
    cls = backend_class(name)
    hints = typing.get_type_hints(cls.__init__)
    return {p.name: (hints[p.name], p.default) for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in SHARED}


def choose_backend(name: str) -> str:
    if name == "auto":
        return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    if name not in BACKENDS:
        raise QstarError(f"unknown backend {name!r}; choose one of: {', '.join(choices())}")
    if name == "vllm" and importlib.util.find_spec("vllm") is None:
        raise QstarError("backend vllm is not installed: `make install` (CPU) or `make install-gpu`, or use --backend hf")
    return name


def model_reference(policy_config) -> str:
    """What the backend loads: a served model's name (openai, checked by the server), or a local
    folder / hub id resolved and checked here (the embedded model when none is given)."""
    if choose_backend(policy_config.backend) == "openai":
        if not policy_config.model:
            raise QstarError("the openai backend needs the served model's name: --model NAME")
        return policy_config.model
    from qstar_cli.backends.models import resolve_model

    return resolve_model(policy_config.model)


def load_backend(policy_config, model_path: str | None = None):
    """Build the configured backend on `model_path` (default: `model_reference`)."""
    name = choose_backend(policy_config.backend)
    cls = backend_class(name)
    model_path = model_path or model_reference(policy_config)
    accepted = inspect.signature(cls.__init__).parameters
    shared = {k: getattr(policy_config, k) for k in SHARED if k in accepted}
    return cls(model_path, **shared, **policy_config.options.get(name, {}))
