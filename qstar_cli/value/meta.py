"""What a saved QVM records about itself (`qstar_qvm.json`: input format, step format, datasets,
policy, backbone, and the head of a policy-backbone QVM), read and checked without its weights.
Every kind of QVM (model.py's fine-tuned backbone, policy.py's head on the frozen policy) shares it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qstar_cli.errors import QstarError
from qstar_cli.value.format import FORMAT, encode

META_FILE = "qstar_qvm.json"


@dataclass
class QVMMeta:
    format: str = FORMAT
    step_format: str = "line"
    datasets: list[str] = field(default_factory=list)
    policy: str | None = None  # the policy whose rollouts it was trained on
    backbone: str = ""
    max_length: int = 512
    label_method: str | None = None
    head: dict | None = None  # the policy backbone: {policy, layer, kind, dim} (value/policy.py)


def qvm_folder(path: str | Path) -> Path:
    """The QVM folder of a train-q run directory (its qvm/), or the folder itself."""
    path = Path(path)
    return path / "qvm" if (path / "qvm" / META_FILE).exists() else path


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")  # what save_pretrained writes


def read_meta(path: str | Path) -> QVMMeta:
    """A saved QVM's record of what it was trained for, read without its weights (checks first)."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.exists():
        raise QstarError(f"{path} is not a qstar QVM (no {META_FILE}); train one with `qstar train-q`")
    try:
        meta = QVMMeta(**json.loads(meta_path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise QstarError(f"{meta_path} is corrupt ({exc})") from None
    if meta.format != FORMAT:
        raise QstarError(f"QVM {path} reads inputs of format {meta.format!r}; this qstar writes {FORMAT!r}")
    if not any((path / name).exists() for name in WEIGHT_FILES):
        raise QstarError(
            f"{path} has no weights ({WEIGHT_FILES[0]} is missing): the QVM was not saved whole; "
            f"train it again (qstar train-q) or give a complete one"
        )
    return meta


def check_compatible(meta: QVMMeta, step_format: str, fmt: str = FORMAT) -> None:
    """Refuse to score inputs cut or formatted differently from the training data."""
    if fmt != meta.format:
        raise QstarError(f"this QVM was trained on input format {meta.format!r}, not {fmt!r}")
    if step_format != meta.step_format:
        raise QstarError(
            f"this QVM was trained on {meta.step_format!r} steps; the data uses "
            f"{step_format!r} steps (set data.step_format to match, or train another QVM)"
        )


class SavedQVM:
    """What every kind of QVM shares: its record (`meta`), the check of the inputs it is given, their
    encoding with its tokenizer, and writing its record beside its weights."""

    meta: QVMMeta
    tokenizer: object

    def check_compatible(self, step_format: str, fmt: str = FORMAT) -> None:
        check_compatible(self.meta, step_format, fmt)

    def encode_all(self, items: list[tuple[str, list[str], str]]) -> list[list[int]]:
        return [encode(self.tokenizer, q, steps, a, self.meta.max_length) for q, steps, a in items]

    def write_meta(self, path: Path) -> None:
        (path / META_FILE).write_text(json.dumps(asdict(self.meta), indent=2) + "\n", encoding="utf-8")
