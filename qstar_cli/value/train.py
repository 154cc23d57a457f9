"""Training the QVM with the Hugging Face Trainer, so multi-GPU (`accelerate launch`), bf16,
gradient accumulation, checkpoint resume and `report_to` (wandb, tensorboard) need no code here.

The loss is binary cross-entropy on the logit against the soft target y in [0, 1] (`bce`, the
default: the right likelihood for a probability target), or the squared error of sigmoid(logit)
(`mse`, plain regression). Examples are split into train and held-out sets by question, never by
step, so no question's steps are on both sides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from qstar_cli.value.metrics import auc_by_depth, auc_ci, calibration, mse, position_auc, roc_auc, too_small


@dataclass
class Example:
    qid: str
    question: str
    steps: list[str]
    action: str
    y: float
    mean_logprob: float | None = None  # the policy's mean token log-probability of the action, if recorded


def split_by_question(examples: list[Example], heldout_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Deterministic split on a hash of (seed, question id)."""
    def bucket(qid: str) -> float:
        digest = hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest()
        return int(digest[:8], 16) / 0xFFFFFFFF

    train = [e for e in examples if bucket(e.qid) >= heldout_fraction]
    held = [e for e in examples if bucket(e.qid) < heldout_fraction]
    return train, held


class _Rows:
    """A list-backed torch dataset of tokenized rows."""

    def __init__(self, ids: list[list[int]], ys: list[float]):
        self.ids, self.ys = ids, ys

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ys[i]}


def _collator(pad_id: int):
    import torch

    def collate(rows):
        width = max(len(r["input_ids"]) for r in rows)
        return {
            "input_ids": torch.tensor([r["input_ids"] + [pad_id] * (width - len(r["input_ids"])) for r in rows]),
            "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]),
            "labels": torch.tensor([float(r["labels"]) for r in rows]),
        }

    return collate


def _progress_callback():
    """A TrainerCallback drawing qstar's rich progress bar (steps, loss, ETA) instead of log dicts."""
    from transformers import TrainerCallback

    from qstar_cli import ui

    class RichProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = ui.progress("steps")
            self.bar.start()
            self.task = self.bar.add_task("train QVM", total=state.max_steps, completed=state.global_step, stats="")

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.bar.update(self.task, stats=f"loss {float(logs['loss']):.4f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.stop()

    return RichProgress()


def make_trainer(qvm, train: list[Example], out_dir: str, cfg, resume: bool = False):
    """A transformers Trainer for `qvm` on `train`; `cfg` is a TrainSection."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    loss_kind = cfg.loss

    class QTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits.float().squeeze(-1)
            if loss_kind == "bce":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            else:
                loss = torch.nn.functional.mse_loss(torch.sigmoid(logits), labels)
            return (loss, outputs) if return_outputs else loss

    import inspect

    ids = qvm.encode_all([(e.question, e.steps, e.action) for e in train])
    # transformers 5 folded warmup_ratio into warmup_steps (a float < 1 is a ratio)
    if "warmup_ratio" in inspect.signature(TrainingArguments.__init__).parameters:
        warmup = {"warmup_ratio": cfg.warmup_ratio}
    else:
        warmup = {"warmup_steps": cfg.warmup_ratio}
    args = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps else -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        **warmup,
        lr_scheduler_type="cosine",
        bf16=cfg.bf16,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        save_total_limit=2,
        report_to=cfg.report_to or "none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        remove_unused_columns=False,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    trainer = QTrainer(model=qvm.model, args=args, train_dataset=_Rows(ids, [e.y for e in train]),
                       data_collator=_collator(qvm.tokenizer.pad_token_id))
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_progress_callback())
    return trainer


def evaluate(qvm, examples: list[Example]) -> dict:
    """Held-out MSE, ROC-AUC against y >= 0.5 with a 95% interval from a by-question bootstrap,
    ROC-AUC by step depth, the step-position baseline, calibration, the base rate, and whether the
    set is too small for its ROC-AUC to mean anything."""
    if not examples:
        return {"examples": 0}
    preds = qvm.score([(e.question, e.steps, e.action) for e in examples])
    labels = [e.y for e in examples]
    positives = [y >= 0.5 for y in labels]
    qids = [e.qid for e in examples]
    depths = [len(e.steps) for e in examples]  # steps before the action
    questions = len(set(qids))
    ci = auc_ci(preds, positives, qids)
    return {
        "examples": len(examples),
        "questions": questions,
        "mse": mse(preds, labels),
        "baseline_mse": mse([sum(labels) / len(labels)] * len(labels), labels),
        "roc_auc": roc_auc(preds, positives),
        "positive_rate": sum(positives) / len(positives),
        "mean_pred": sum(preds) / len(preds),
        "calibration": calibration(preds, labels),
        "roc_auc_ci95": list(ci) if ci else None,
        "auc_by_depth": auc_by_depth(preds, positives, depths),
        "baseline_position_auc": position_auc(depths, positives),
        # the policy's own confidence in the step: free at search time, so the QVM must beat it
        "baseline_logprob_auc": (roc_auc([e.mean_logprob for e in examples], positives)
                                 if all(e.mean_logprob is not None for e in examples) else None),
        "too_small": too_small(questions, positives),
    }
