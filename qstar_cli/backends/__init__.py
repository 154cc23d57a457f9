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

import contextlib
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
    return {
        p.name: (hints[p.name], p.default)
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in SHARED
    }


def choose_backend(name: str) -> str:
    if name == "auto":
        return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    if name not in BACKENDS:
        raise QstarError(f"unknown backend {name!r}; choose one of: {', '.join(choices())}")
    if name == "vllm" and importlib.util.find_spec("vllm") is None:
        raise QstarError(
            "backend vllm is not installed: `make install` (CPU) or `make install-gpu`, or use --backend hf"
        )
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


# engines kept for the later stages of this process while `keep_engines` is open: key -> backend
_kept: dict[tuple, typing.Any] | None = None


@contextlib.contextmanager
def keep_engines():
    """Within this block a stage gets the engine an earlier stage built for the same model and
    settings, restarted as a fresh one with its seed would start (`PolicyBackend.restart`), instead
    of building another: `qstar run` and `qstar repro` start an engine once, not once per stage.
    An idle engine is dropped when a stage needs a different one; all are closed at the end."""
    global _kept
    if _kept is not None:  # nested: the outer block keeps them
        yield
        return
    _kept = {}
    try:
        yield
    finally:
        kept, _kept = _kept, None
        for backend in kept.values():
            backend.kept = False
            backend.close()


def load_backend(policy_config, model_path: str | None = None):
    """The configured backend on `model_path` (default: `model_reference`), reading its samples from
    `policy.sample_cache` when one is set (`backends.cache`)."""
    from qstar_cli.backends.cache import cached

    backend = _engine(policy_config, model_path)
    model = f"{backend.name}:{policy_config.model or 'embedded'}:{policy_config.dtype}"
    return cached(backend, getattr(policy_config, "sample_cache", None), model)


def _engine(policy_config, model_path: str | None = None):
    """Build the configured backend, or restart the one `keep_engines` holds for the same settings."""
    name = choose_backend(policy_config.backend)
    cls = backend_class(name)
    model_path = model_path or model_reference(policy_config)
    accepted = inspect.signature(cls.__init__).parameters
    args = {**{k: getattr(policy_config, k) for k in SHARED if k in accepted}, **policy_config.options.get(name, {})}
    key = (name, model_path, repr(sorted((k, v) for k, v in args.items() if k != "seed")))
    backend = _kept.get(key) if _kept is not None else None
    if _kept is None or (backend is not None and backend.in_use):  # nothing kept, or that one is busy
        return cls(model_path, **args)
    if backend is not None:
        backend.restart(args.get("seed", 0))
    else:
        for other in [k for k, b in _kept.items() if not b.in_use]:  # one idle engine at a time
            _kept.pop(other).close()
        backend = cls(model_path, **args)
        if not backend.reusable:
            return backend
        backend.kept = True
        _kept[key] = backend
    backend.in_use = True
    return backend
