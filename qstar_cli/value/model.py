"""The Q-value model: a transformer with one scalar output, read through a sigmoid as Q in [0, 1].

Any Hugging Face encoder or causal model can be the backbone (`AutoModelForSequenceClassification`
with `num_labels=1`; causal models pool their last non-pad token). `QVM.score` takes many
(question, steps so far, candidate step) triples and scores them in length-sorted batches, one
forward pass per batch. A saved QVM is a folder from `save_pretrained` plus `qstar_qvm.json`,
which records the input format, step format, dataset and policy it was trained for; `QVM.load`
refuses a folder without it and `check_compatible` refuses inputs of another format.
"""

from __future__ import annotations

from pathlib import Path

from qstar_cli.batching import by_length, padded
from qstar_cli.errors import QstarError

# a QVM's record lives in meta.py; importers of this module get it here too
from qstar_cli.value.meta import META_FILE, WEIGHT_FILES, QVMMeta, SavedQVM, check_compatible, qvm_folder, read_meta  # noqa: F401


def load_backbone(name_or_path: str, *, dtype: str = "float32", trust_remote_code: bool = False):
    """(tokenizer, model) for scalar regression on any HF backbone, pad token fixed."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from qstar_cli.backends.models import resolve_model

    path = resolve_model(None if name_or_path in ("", "embedded", None) else name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=1,
            problem_type="regression",
            dtype=getattr(torch, dtype),
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise QstarError(f"cannot load QVM backbone {name_or_path!r}: {str(exc).splitlines()[0][:300]}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model, path


class QVM(SavedQVM):
    def __init__(self, tokenizer, model, meta: QVMMeta, batch_size: int = 32, device: str | None = None):
        import torch

        self.torch = torch
        self.tokenizer = tokenizer
        self.model = model
        self.meta = meta
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.calls = 0  # forward passes, for compute accounting
        self.scored = 0

    @classmethod
    def load(cls, path: str | Path, batch_size: int = 32) -> QVM:
        meta = read_meta(path)
        if meta.head is not None:  # a head on the frozen policy: scored through the same interface
            from qstar_cli.value.policy import PolicyQVM

            return PolicyQVM.load(path, meta, batch_size=batch_size)
        tokenizer, model, _ = load_backbone(str(path))
        return cls(tokenizer, model.eval(), meta, batch_size=batch_size)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        self.write_meta(path)

    def score(self, items: list[tuple[str, list[str], str]]) -> list[float]:
        """Q in [0, 1] for each (question, steps so far, candidate step), batched by length."""
        if not items:
            return []
        torch = self.torch
        ids = self.encode_all(items)
        scores = [0.0] * len(ids)
        self.model.eval()
        with torch.inference_mode():
            for batch in by_length(ids, self.batch_size):
                # right padding: sequence-classification heads of causal models pool the last
                # non-pad token, which they find from the first pad position
                rows, masks = padded([ids[i] for i in batch], self.tokenizer.pad_token_id)
                input_ids = torch.tensor(rows, device=self.device)
                mask = torch.tensor(masks, device=self.device)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float().squeeze(-1)
                for i, p in zip(batch, torch.sigmoid(logits).tolist()):
                    scores[i] = p
                self.calls += 1
        self.scored += len(items)
        return scores
