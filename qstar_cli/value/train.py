"""Training the QVM with the Hugging Face Trainer, so multi-GPU (`accelerate launch`), bf16,
gradient accumulation, checkpoint resume and `report_to` (wandb, tensorboard) need no code here.

The loss is binary cross-entropy on the logit against the target in [0, 1] (`bce`, the
default: the right likelihood for a probability target), or the squared error of sigmoid(logit)
(`mse`, plain regression). Examples are split into train and held-out sets by question, never by
step, so no question's steps are on both sides.

Variants, each a `train.*` setting whose default is the paper's setting:
- `target: soft` learns the mean outcome of a state's rollouts instead of the best one;
- `class_balance` weights each class to count alike (rollout labels are mostly negative);
- `pairwise: w` adds w x a logistic ranking loss -log sigmoid(f_i - f_j) over sibling steps i, j
  of the same state with target_i > target_j (the comparison a search makes between candidates);
  a batch then holds whole sibling groups;
- `validation_fraction` keeps the weights with the best ROC-AUC on questions split off the
  training set (early stopping), never on the held-out set that is reported;
- `max_questions` trains on a nested subset of the training questions (learning curves) with the
  held-out set unchanged.

`group_by_length` (speed, not a variant of what is learned): each batch takes rows of about one
length, so a batch pads to little more than its own rows. In a random order a batch pads to its
longest row: on SVAMP's rollout labels (mean 87 tokens, a few at the 384 cap) that is 2.2x the
real tokens, and a CPU spends its time on the padding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from qstar_cli.batching import padded
from qstar_cli.errors import QstarError
from qstar_cli.value.metrics import (
    auc_by_depth,
    auc_ci,
    calibration,
    grouped_auc,
    grouped_auc_ci,
    mse,
    position_auc,
    roc_auc,
    too_small,
)


@dataclass
class Example:
    qid: str
    question: str
    steps: list[str]
    action: str
    y: float
    mean_logprob: float | None = None  # the policy's mean token log-probability of the action, if recorded
    soft: float | None = None  # the mean outcome of the rollouts (rollout labels), if recorded
    state: str = ""  # the state s_t the action was taken in: siblings share it
    terminal: bool = False  # the action ends the solution (its label is the graded answer)


def _bucket(salt: str, qid: str) -> float:
    digest = hashlib.sha256(f"{salt}:{qid}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def split_by_question(
    examples: list[Example], heldout_fraction: float, seed: int | str
) -> tuple[list[Example], list[Example]]:
    """Deterministic split on a hash of (seed, question id)."""
    train = [e for e in examples if _bucket(str(seed), e.qid) >= heldout_fraction]
    held = [e for e in examples if _bucket(str(seed), e.qid) < heldout_fraction]
    return train, held


def first_questions(examples: list[Example], n: int, seed: int) -> list[Example]:
    """The examples of n questions in a fixed hashed order, so a smaller n is a subset of a larger."""
    order = sorted({e.qid for e in examples}, key=lambda q: (_bucket(f"subset{seed}", q), q))
    keep = set(order[:n])
    return [e for e in examples if e.qid in keep]


def targets(examples: list[Example], cfg) -> list[float]:
    """What the QVM learns per example: y (the best outcome), or the soft mean where recorded."""
    if cfg.target == "soft":
        return [e.y if e.soft is None else e.soft for e in examples]
    return [e.y for e in examples]


def class_weights(examples: list[Example], balance: bool) -> list[float]:
    """1 each; balanced: n / (2 x class size), so each class (y >= 0.5 or not) weighs n / 2."""
    if not balance:
        return [1.0] * len(examples)
    pos = sum(e.y >= 0.5 for e in examples)
    neg = len(examples) - pos
    if not pos or not neg:
        return [1.0] * len(examples)
    n = len(examples)
    return [n / (2 * pos) if e.y >= 0.5 else n / (2 * neg) for e in examples]


def pairwise_loss(logits, targets, groups):
    """Mean of -log sigmoid(f_i - f_j) over pairs in one group (siblings) with target_i > target_j;
    None when the batch has no such pair."""
    import torch

    same = groups.unsqueeze(0) == groups.unsqueeze(1)
    better = targets.unsqueeze(1) > targets.unsqueeze(0)  # [i, j]: i should rank above j
    pairs = same & better
    if not pairs.any():
        return None
    diff = logits.unsqueeze(1) - logits.unsqueeze(0)
    return -torch.nn.functional.logsigmoid(diff[pairs]).mean()


class _Rows:
    """A list-backed torch dataset of tokenized rows; with `groups`, one item is a sibling group."""

    def __init__(self, ids: list[list[int]], ys: list[float], weights: list[float], groups: list[list[int]] | None):
        self.rows = [{"input_ids": i, "labels": y, "weight": w, "group": 0} for i, y, w in zip(ids, ys, weights)]
        self.groups = groups

    def __len__(self):
        return len(self.groups) if self.groups is not None else len(self.rows)

    def lengths(self) -> list[int]:
        """Tokens of each item: a sibling group pads to its longest row."""
        if self.groups is None:
            return [len(r["input_ids"]) for r in self.rows]
        return [max(len(self.rows[j]["input_ids"]) for j in g) for g in self.groups]

    def __getitem__(self, i):
        if self.groups is None:
            return self.rows[i]
        return [{**self.rows[j], "group": i} for j in self.groups[i]]


def _collator(pad_id: int):
    import torch

    def collate(items):
        rows = [r for item in items for r in (item if isinstance(item, list) else [item])]
        ids, masks = padded([r["input_ids"] for r in rows], pad_id)
        return {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(masks),
            "labels": torch.tensor([float(r["labels"]) for r in rows]),
            "weights": torch.tensor([float(r["weight"]) for r in rows]),
            "groups": torch.tensor([int(r["group"]) for r in rows]),
        }

    return collate


class LengthBatches:
    """A sampler: indices in a seeded random order whose consecutive `batch` indices have about one
    length (the idea of transformers' LengthGroupedSampler: sort within shuffled megabatches of 50
    batches), with the batches themselves in random order, so long and short batches alternate
    through an epoch instead of running long-to-short. Epoch e draws from seed + e, so a resumed
    run (the Trainer calls set_epoch) takes the same batches as an uninterrupted one."""

    def __init__(self, lengths: list[int], batch: int, seed: int, megabatch: int = 50):
        self.lengths, self.batch, self.seed, self.megabatch = lengths, batch, seed, megabatch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        size = self.batch * self.megabatch
        batches = []
        for start in range(0, len(order), size):
            mega = sorted(order[start : start + size], key=lambda i: self.lengths[i])
            batches += [mega[i : i + self.batch] for i in range(0, len(mega), self.batch)]
        self.epoch += 1  # without set_epoch (a bare loop), the next pass is the next epoch
        return iter([i for b in torch.randperm(len(batches), generator=g).tolist() for i in batches[b]])


def sibling_groups(examples: list[Example]) -> list[list[int]]:
    """Indices of examples grouped by the state they were taken in, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(f"{e.qid}|{e.state}", []).append(i)
    return list(groups.values())


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


def processes() -> tuple[int, int]:
    """(this process's rank, the number of processes) under `accelerate launch` / torchrun; (0, 1) alone."""
    import os

    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def check_processes(cfg) -> None:
    """train.batch_size is the batch of all processes together: refused unless they can share it."""
    world = processes()[1]
    if cfg.batch_size % world:
        raise QstarError(
            f"train.batch_size ({cfg.batch_size}) is the batch of all {world} processes together: "
            f"make it a multiple of {world}"
        )


def make_trainer(qvm, train: list[Example], out_dir: str, cfg, validation=None):
    """A transformers Trainer for `qvm` on `train`; `cfg` is a TrainSection; `validation` (a
    list of Examples) turns on keeping the best weights by its ROC-AUC.

    With several processes `train.batch_size` stays the global batch: each process takes its share,
    and the Trainer's sharded loader hands process r the r-th slice of each global batch in the one
    seeded order, so N processes take the same steps as one, up to numerical noise. Progress and
    validation run on the first process, the one that keeps and saves the weights."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    loss_kind, pair_weight = cfg.loss, cfg.pairwise

    class QTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            labels, weights, groups = inputs.pop("labels"), inputs.pop("weights"), inputs.pop("groups")
            outputs = model(**inputs)
            logits = outputs.logits.float().squeeze(-1)
            if loss_kind == "bce":
                each = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
            else:
                each = (torch.sigmoid(logits) - labels) ** 2
            loss = (each * weights).sum() / weights.sum()
            if pair_weight > 0:
                ranking = pairwise_loss(logits, labels, groups)
                if ranking is not None:
                    loss = loss + pair_weight * ranking
            return (loss, outputs) if return_outputs else loss

        def _get_train_sampler(self, train_dataset=None):
            if not cfg.group_by_length:
                return super()._get_train_sampler(train_dataset)
            # one global batch (every process's share of one step) holds rows of about one length
            return LengthBatches(rows.lengths(), batch_size * world, cfg.seed)

    import inspect

    ids = qvm.encode_all([(e.question, e.steps, e.action) for e in train])
    groups = sibling_groups(train) if pair_weight > 0 else None
    # a batch of sibling groups holds about as many examples as a batch of single ones
    per_item = len(train) / len(groups) if groups else 1.0
    rank, world = processes()
    batch_size = max(1, round(cfg.batch_size / per_item / world))
    # transformers 5 folded warmup_ratio into warmup_steps (a float < 1 is a ratio)
    if "warmup_ratio" in inspect.signature(TrainingArguments.__init__).parameters:
        warmup = {"warmup_ratio": cfg.warmup_ratio}
    else:
        warmup = {"warmup_steps": cfg.warmup_ratio}
    args = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps else -1,
        per_device_train_batch_size=batch_size,
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
    rows = _Rows(ids, targets(train, cfg), class_weights(train, cfg.class_balance), groups)
    trainer = QTrainer(
        model=qvm.model, args=args, train_dataset=rows, data_collator=_collator(qvm.tokenizer.pad_token_id)
    )
    trainer.remove_callback(PrinterCallback)
    if rank == 0:
        trainer.add_callback(_progress_callback())
    if validation and rank == 0:
        per_epoch = max(1, len(rows) // (batch_size * world * cfg.grad_accum))
        trainer.add_callback(KeepBest(qvm, validation, every=max(1, per_epoch // 4)))
    return trainer


def KeepBest(qvm, validation: list[Example], every: int):
    """A TrainerCallback that scores `validation` at the start, every `every` steps and at the end, and loads
    back the weights with the best ROC-AUC (early stopping without stopping: the schedule runs
    out, the best point is kept). `history` holds (step, AUC)."""
    from transformers import TrainerCallback

    from qstar_cli.value.metrics import roc_auc

    items = [(e.question, e.steps, e.action) for e in validation]
    positives = [e.y >= 0.5 for e in validation]

    class _KeepBest(TrainerCallback):
        def __init__(self):
            self.best, self.best_state, self.history = None, None, []

        def _check(self, step):
            auc = roc_auc(qvm.score(items), positives)
            qvm.model.train()
            self.history.append((step, auc))
            if auc is not None and (self.best is None or auc > self.best[1]):
                self.best = (step, auc)
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in qvm.model.state_dict().items()}

        def on_train_begin(self, args, state, control, **kwargs):
            self._check(state.global_step)  # the untrained start counts: training may only hurt

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % every == 0:
                self._check(state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            if not self.history or self.history[-1][0] != state.global_step:
                self._check(state.global_step)
            if self.best_state is not None:
                qvm.model.load_state_dict(self.best_state)

    return _KeepBest()


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
    # a search only ever compares steps of one question (A*'s open set) or of one state (a node's
    # children): the pooled AUC also rewards telling solvable questions from hopeless ones
    within, within_questions = grouped_auc(preds, positives, qids)
    siblings, sibling_states = grouped_auc(preds, positives, [(e.qid, e.state) for e in examples])
    # final steps only: can f tell a question's right answers from its wrong ones (what A* and
    # best-of-N choose between at the end)?
    ends = [i for i, e in enumerate(examples) if e.terminal]
    final, final_questions = grouped_auc(
        [preds[i] for i in ends], [positives[i] for i in ends], [qids[i] for i in ends]
    )
    logprobs = [e.mean_logprob for e in examples]
    has_logprob = all(lp is not None for lp in logprobs)
    states = [(e.qid, e.state) for e in examples]
    intervals = {  # each by the bootstrap over questions, as the pooled AUC's
        "within_question_auc_ci95": grouped_auc_ci(preds, positives, qids, qids),
        "sibling_auc_ci95": grouped_auc_ci(preds, positives, states, qids),
        "final_step_auc_ci95": grouped_auc_ci(
            [preds[i] for i in ends], [positives[i] for i in ends], [qids[i] for i in ends], [qids[i] for i in ends]
        ),
    }
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
        "baseline_logprob_auc": roc_auc(logprobs, positives) if has_logprob else None,
        "within_question_auc": within,
        "within_question_questions": within_questions,
        "sibling_auc": siblings,
        "sibling_states": sibling_states,
        "final_step_auc": final,
        "final_step_questions": final_questions,
        "baseline_logprob_within_question_auc": grouped_auc(logprobs, positives, qids)[0] if has_logprob else None,
        "baseline_position_within_question_auc": grouped_auc([float(d) for d in depths], positives, qids)[0],
        **{key: list(ci) if ci else None for key, ci in intervals.items()},
        "too_small": too_small(questions, positives),
    }
