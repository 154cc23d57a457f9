"""One training run of a QVM, shared by `qstar train-q` and every FQI iteration.

Examples -> split by question -> HF Trainer -> held-out metrics -> save_pretrained + the QVM's
meta (input format, step format, datasets, policy). Warns when the targets give nothing to learn.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from qstar_cli import ui
from qstar_cli.errors import QstarError
from qstar_cli.value.model import QVM, QVMMeta, load_backbone
from qstar_cli.value.policy import BACKBONE as POLICY
from qstar_cli.value.policy import VALIDATION_FRACTION as POLICY_VALIDATION
from qstar_cli.value.train import Example, evaluate, first_questions, make_trainer, processes, split_by_question


def examples_from_records(records: list[dict]) -> list[Example]:
    """One example per labelled node: (question, steps before it, its step) -> y."""
    out = []
    for rec in records:
        nodes = rec["nodes"]
        for node in nodes:
            steps, j = [], node["parent"]
            while j >= 0:
                steps.append(nodes[j]["step"])
                j = nodes[j]["parent"]
            out.append(
                Example(
                    rec["id"],
                    rec["question"],
                    steps[::-1],
                    node["step"],
                    float(node["y"]),
                    node.get("mean_logprob"),
                    soft=node.get("soft"),
                    state=str(node["parent"]),
                    terminal=bool(node.get("terminal")),
                )
            )
    return out


def fit_qvm(
    examples: list[Example], cfg, out_dir: Path, meta: QVMMeta, resume: bool = False
) -> tuple[QVM, dict | None]:
    """Train a fresh QVM from `cfg.backbone` on `examples`; save it to out_dir/qvm. Under several
    processes (`accelerate launch`) each trains its share; the first one alone scores and saves,
    and the others get None for metrics. `policy` trains a head on the frozen policy (policy.py)."""
    if not examples:
        raise QstarError("no labelled examples to train on")
    ys = [e.y for e in examples]
    if max(ys) - min(ys) < 1e-9:
        ui.warn(f"all {len(ys)} labels equal {ys[0]:g}: there is nothing to learn (the QVM will predict a constant)")
    train, held = split_by_question(examples, cfg.heldout_fraction, cfg.seed)
    if not train:
        raise QstarError("every question fell into the held-out split; lower train.heldout_fraction or add questions")
    if cfg.max_questions:
        available = len({e.qid for e in train})
        if cfg.max_questions > available:
            ui.warn(f"train.max_questions={cfg.max_questions} but only {available} training questions: using all")
        train = first_questions(train, cfg.max_questions, cfg.seed)
    validation: list[Example] = []
    # the policy backbone always needs validation questions: they choose its layer
    fraction = cfg.validation_fraction or (POLICY_VALIDATION if cfg.backbone == POLICY else 0.0)
    if fraction:
        # split off the training questions, never the held-out ones: the held-out AUC stays unbiased
        train, validation = split_by_question(train, fraction, f"validation{cfg.seed}")
        if not train or not validation:
            raise QstarError("train.validation_fraction leaves no training or no validation question; change it")
    if cfg.backbone == POLICY:
        from qstar_cli.value.policy import fit_policy_qvm

        if processes()[1] > 1:
            raise QstarError(
                "the policy backbone trains its head in one process: run qstar train-q without accelerate launch"
            )
        qvm, losses, seconds, record = fit_policy_qvm(train, validation, cfg, meta)
        metrics = run_metrics(
            qvm, train, validation, held, losses=losses, seconds=seconds, steps=cfg.policy_head_epochs
        )
        metrics["policy_backbone"] = record
        qvm.save(out_dir / "qvm")
        return qvm, metrics
    # the value head is initialised here, when the backbone loads, before the Trainer seeds: seed
    # now so that one seed gives one QVM
    from transformers import set_seed

    set_seed(cfg.seed)
    tokenizer, model, _path = load_backbone(cfg.backbone)
    if cfg.lora_rank:
        model = with_lora(model, cfg.lora_rank)
    meta.backbone = cfg.backbone
    meta.max_length = cfg.max_length
    qvm = QVM(tokenizer, model, meta, batch_size=cfg.score_batch_size)
    trainer = make_trainer(qvm, train, str(out_dir / "checkpoints"), cfg, validation=validation)
    if processes()[0] == 0:
        ui.info(
            f"training the QVM on {len(train):,} examples ({len({e.qid for e in train})} questions), "
            f"holding out {len(held):,} ({len({e.qid for e in held})} questions)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        last_ckpt = _last_checkpoint(out_dir / "checkpoints") if resume else None
        result = trainer.train(resume_from_checkpoint=last_ckpt)
    if cfg.lora_rank:  # the adapters folded into the weights: the saved QVM is a plain model
        qvm.model = qvm.model.merge_and_unload()
    qvm.model.eval()
    if processes()[0] != 0:
        return qvm, None
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    metrics = run_metrics(
        qvm,
        train,
        validation,
        held,
        losses=losses,
        seconds=result.metrics.get("train_runtime", 0.0),
        steps=trainer.state.global_step,
        validation_auc=_keep_best_history(trainer),
    )
    qvm.save(out_dir / "qvm")
    return qvm, metrics


def with_lora(model, rank: int):
    """`model` with LoRA adapters of rank `rank` on every linear layer and its value head trained in
    full (peft's sequence-classification task keeps the head trainable); the rest frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=rank, lora_alpha=2 * rank, lora_dropout=0.05, target_modules="all-linear"
    )
    return get_peft_model(model, config)


def run_metrics(
    qvm,
    train: list[Example],
    validation: list[Example],
    held: list[Example],
    *,
    losses: list[float],
    seconds: float,
    steps: int,
    validation_auc: dict | None = None,
) -> dict:
    """metrics.json of a train-q run, whatever the backbone: the training record and the held-out
    block (`evaluate`) that `qstar report` puts in its QVM table."""
    return {
        "train_examples": len(train),
        "train_questions": len({e.qid for e in train}),
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "train_seconds": round(seconds, 2),
        "train_steps": steps,
        "processes": processes()[1],
        "validation_questions": len({e.qid for e in validation}),
        "validation_auc": validation_auc,
        "heldout": evaluate(qvm, held),
        "train_eval": evaluate(qvm, train[: max(1, min(len(train), 2000))]),
    }


def _keep_best_history(trainer) -> dict | None:
    """The early-stopping record: every (step, validation AUC), and the step kept."""
    for cb in trainer.callback_handler.callbacks:
        if hasattr(cb, "best_state"):
            return {"history": cb.history, "kept_step": cb.best[0] if cb.best else None}
    return None


def _last_checkpoint(path: Path) -> str | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last (after the weights,
    optimizer and RNG states), so a checkpoint killed while it was saved has none, or a torn one.
    Such a checkpoint is removed, and training resumes from the one before it."""
    if not path.is_dir():
        return None
    ckpts = sorted(path.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    for ckpt in reversed(ckpts):
        try:
            json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
            return str(ckpt)
        except (OSError, ValueError):
            shutil.rmtree(ckpt, ignore_errors=True)
    return None
