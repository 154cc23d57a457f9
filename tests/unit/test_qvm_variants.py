"""train-q's variants (soft targets, class balance, sibling ranking loss, early stopping on a
validation split, nested question subsets), with hand-worked values."""

import math

import pytest

torch = pytest.importorskip("torch")

from qstar_cli.value.fit import examples_from_records, fit_qvm  # noqa: E402
from qstar_cli.value.metrics import roc_auc  # noqa: E402
from qstar_cli.value.model import QVMMeta  # noqa: E402
from qstar_cli.value.train import (  # noqa: E402
    Example,
    class_weights,
    first_questions,
    pairwise_loss,
    sibling_groups,
    targets,
)
from tests.unit.test_train_q import cfg, examples  # noqa: E402


def ex(qid, y, soft=None, state="-1"):
    return Example(qid, "q?", [], "a", y, soft=soft, state=state)


def test_pairwise_loss_counts_only_better_siblings():
    logits = torch.tensor([2.0, 0.0, 1.0, 5.0])
    tgt = torch.tensor([1.0, 0.0, 0.0, 1.0])
    groups = torch.tensor([0, 0, 1, 2])
    # the one pair: 0 above 1 in group 0 -> -log sigmoid(2 - 0) = log(1 + e^-2)
    assert pairwise_loss(logits, tgt, groups).item() == pytest.approx(math.log(1 + math.exp(-2)))
    # two pairs in one group: (0 over 1) and (0 over 2): mean of log(1+e^-2) and log(1+e^-1)
    both = pairwise_loss(logits[:3], tgt[:3], torch.tensor([0, 0, 0])).item()
    assert both == pytest.approx((math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2)
    # equal targets give no pair
    assert pairwise_loss(logits[:2], torch.tensor([1.0, 1.0]), torch.tensor([0, 0])) is None


def test_class_weights_make_each_class_weigh_half():
    exs = [ex("a", 1.0), ex("a", 0.0), ex("b", 0.0), ex("b", 0.0)]
    w = class_weights(exs, True)
    assert w == [pytest.approx(2.0), pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert class_weights(exs, False) == [1.0] * 4
    assert class_weights([ex("a", 0.0)] * 3, True) == [1.0] * 3  # one class only: nothing to balance


def test_soft_targets_fall_back_to_y_where_no_soft_label_is_recorded():
    exs = [ex("a", 1.0, soft=0.25), ex("a", 0.0, soft=0.0), ex("b", 1.0)]
    assert targets(exs, cfg(target="soft")) == [0.25, 0.0, 1.0]
    assert targets(exs, cfg()) == [1.0, 0.0, 1.0]


def test_question_subsets_are_nested_and_exact():
    exs = [ex(f"q{i}", float(i % 2)) for i in range(40) for _ in range(3)]
    small, large = first_questions(exs, 8, 0), first_questions(exs, 16, 0)
    assert len({e.qid for e in small}) == 8 and len({e.qid for e in large}) == 16
    assert {e.qid for e in small} < {e.qid for e in large}
    assert len(small) == 24  # every example of a kept question


def test_siblings_are_the_actions_of_one_state_of_one_question():
    record = {
        "id": "q",
        "question": "?",
        "nodes": [
            {"parent": -1, "step": "A", "y": 1.0, "soft": 0.5},
            {"parent": -1, "step": "B", "y": 0.0, "soft": 0.0},
            {"parent": 0, "step": "C", "y": 1.0, "soft": 1.0},
        ],
    }
    exs = examples_from_records([record, {**record, "id": "r"}])
    assert [e.soft for e in exs[:3]] == [0.5, 0.0, 1.0]
    assert sibling_groups(exs) == [[0, 1], [2], [3, 4], [5]]


def test_pairwise_training_runs_on_sibling_groups(tiny_model, tmp_path):
    exs = [Example(e.qid, e.question, e.steps, e.action, e.y, state="-1") for e in examples()]
    _, metrics = fit_qvm(
        exs, cfg(backbone=tiny_model, max_steps=4, pairwise=1.0, heldout_fraction=0.0), tmp_path, QVMMeta()
    )
    assert metrics["train_steps"] == 4 and metrics["train_loss_last"] is not None


def test_early_stopping_keeps_the_weights_with_the_best_validation_auc(tiny_model, tmp_path):
    from qstar_cli.value.train import split_by_question

    # validation questions labelled the other way round: the more the QVM learns the training
    # questions, the worse it ranks these, so the best point is early and not the last one
    exs = examples(64)
    _, validation = split_by_question(exs, 0.3, "validation0")
    flipped = {e.qid for e in validation}
    exs = [Example(e.qid, e.question, e.steps, e.action, 1.0 - e.y if e.qid in flipped else e.y) for e in exs]
    validation = [e for e in exs if e.qid in flipped]
    qvm, metrics = fit_qvm(
        exs,
        cfg(backbone=tiny_model, max_steps=16, learning_rate=3e-3, heldout_fraction=0.0, validation_fraction=0.3),
        tmp_path,
        QVMMeta(),
    )
    record = metrics["validation_auc"]
    aucs = [auc for _, auc in record["history"]]
    assert len(aucs) >= 3 and metrics["validation_questions"] == len(flipped)
    assert max(aucs) > aucs[-1] + 0.05, aucs  # the case is what it should be: training hurts these
    final = roc_auc(qvm.score([(e.question, e.steps, e.action) for e in validation]), [e.y >= 0.5 for e in validation])
    assert final == pytest.approx(max(aucs))  # the weights that come back are the best ones
    assert record["kept_step"] == record["history"][aucs.index(max(aucs))][0]


def test_length_batches_pad_only_to_their_own_rows():
    """720 rows of 10 tokens and 80 of 300, batches of 16, one megabatch of 50 batches: sorted, the
    80 long rows fill exactly 5 batches, so the padded tokens equal the real ones (31,200). In a
    random order a batch holds a long row with probability 1 - 0.9^16 = 0.81 and pads to 300:
    about 0.81 x 50 x 16 x 300 = 195,000 padded tokens."""
    from qstar_cli.value.train import LengthBatches

    lengths = [10] * 720 + [300] * 80
    sampler = LengthBatches(lengths, batch=16, seed=3)

    def padded_tokens(order):
        return sum(16 * max(lengths[i] for i in order[b : b + 16]) for b in range(0, len(order), 16))

    order = list(sampler)
    assert sorted(order) == list(range(800))  # every row once an epoch
    assert padded_tokens(order) == sum(lengths) == 31_200
    shuffled = torch.randperm(800, generator=torch.Generator().manual_seed(3)).tolist()
    assert padded_tokens(shuffled) > 150_000
    # long and short batches alternate in a random order, not long-to-short
    long_batches = [b // 16 for b in range(0, 800, 16) if lengths[order[b]] == 300]
    assert long_batches != list(range(45, 50)) and long_batches != list(range(5))
    # each epoch its own order; set_epoch (a resumed Trainer) gives that epoch's order again
    second = list(sampler)
    assert second != order
    sampler.set_epoch(0)
    assert list(sampler) == order


def test_group_by_length_trains_on_batches_of_one_length(tiny_model, tmp_path):
    """With train.group_by_length the Trainer's loader hands out batches whose rows are about one
    length (here two lengths, 8 rows of each per batch of 8: every batch is one length)."""
    from qstar_cli.value.train import make_trainer
    from tests.unit.test_train_q import qvm_for

    exs = [
        Example(f"q{i}", "What is 1 + 1?", [], "= 2" if i % 2 else "= 2 " + "and so on " * 6, float(i % 2))
        for i in range(64)
    ]
    for grouped, most_padding in ((True, 0), (False, None)):
        trainer = make_trainer(
            qvm_for(tiny_model), exs, str(tmp_path / str(grouped)), cfg(backbone=tiny_model, group_by_length=grouped)
        )
        pads = [int((batch["attention_mask"] == 0).sum()) for batch in trainer.get_train_dataloader()]
        if grouped:
            assert max(pads) == most_padding, pads
        else:
            assert max(pads) > 0  # a random batch mixes the two lengths


def test_lora_trains_adapters_and_the_head_and_saves_a_plain_model(tiny_model, tmp_path):
    pytest.importorskip("peft")
    from qstar_cli.value.model import QVM, load_backbone

    _, base, _ = load_backbone(tiny_model)
    qvm, metrics = fit_qvm(
        examples(),
        cfg(backbone=tiny_model, max_steps=4, learning_rate=1e-2, heldout_fraction=0.0, lora_rank=4),
        tmp_path,
        QVMMeta(),
    )
    assert metrics["train_steps"] == 4
    trained = dict(qvm.model.named_parameters())
    before = dict(base.named_parameters())
    # the embedding is no linear layer: frozen, unchanged; a projection moved by its merged adapter
    assert torch.equal(trained["model.embed_tokens.weight"], before["model.embed_tokens.weight"])
    q_proj = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(trained[q_proj], before[q_proj])
    # the saved QVM is a plain model (adapters merged) that scores as the trained one
    loaded = QVM.load(tmp_path / "qvm")
    assert not type(loaded.model).__name__.startswith("Peft")
    items = [(e.question, e.steps, e.action) for e in examples()[:6]]
    assert loaded.score(items) == pytest.approx(qvm.score(items), abs=1e-5)


def test_lora_is_refused_on_the_policy_backbone_and_without_peft(monkeypatch):
    import importlib.util

    from qstar_cli.config import TrainConfig, resolve
    from qstar_cli.errors import QstarError

    with pytest.raises(QstarError, match="for LoRA on the policy use --backbone embedded"):
        resolve(TrainConfig, None, ["train.backbone=policy", "train.lora_rank=8"], {})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    with pytest.raises(QstarError, match=r"needs peft: pip install 'qstar\[lora\]'"):
        resolve(TrainConfig, None, ["train.lora_rank=8"], {})
