"""The QVM training core on a tiny random backbone."""

import random

import pytest

torch = pytest.importorskip("torch")

from qstar_cli.config import TrainSection  # noqa: E402
from qstar_cli.errors import QstarError  # noqa: E402
from qstar_cli.value.format import encode  # noqa: E402
from qstar_cli.value.model import QVM, QVMMeta, load_backbone  # noqa: E402
from qstar_cli.value.train import Example, make_trainer, split_by_question  # noqa: E402


def examples(n=32, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        good = i % 2 == 0
        out.append(
            Example(
                f"q{i // 4}",
                f"What is {i} + 1?",
                [f"{i} + 1\n"],
                f"= {i + 1}" if good else "I give up",
                1.0 if good else 0.0,
            )
        )
    rng.shuffle(out)
    return out


def cfg(**kw):
    base = dict(
        backbone="",
        max_length=64,
        batch_size=8,
        epochs=1.0,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_ratio=0.0,
        logging_steps=1,
        seed=0,
    )
    base.update(kw)
    return TrainSection(**base)


def qvm_for(tiny_model):
    tokenizer, model, _ = load_backbone(tiny_model)
    return QVM(tokenizer, model, QVMMeta(step_format="line", max_length=64), batch_size=8)


def test_every_trainable_parameter_changes_after_one_step(tiny_model, tmp_path):
    qvm = qvm_for(tiny_model)
    before = {n: p.detach().clone() for n, p in qvm.model.named_parameters() if p.requires_grad}
    make_trainer(qvm, examples(), str(tmp_path), cfg(max_steps=1)).train()
    unchanged = [n for n, p in qvm.model.named_parameters() if p.requires_grad and torch.equal(p, before[n])]
    assert unchanged == []


def test_loss_falls_when_overfitting_32_examples(tiny_model, tmp_path):
    qvm = qvm_for(tiny_model)
    trainer = make_trainer(qvm, examples(), str(tmp_path), cfg(max_steps=40, learning_rate=3e-3))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < 0.5 * losses[0], losses
    scores = qvm.score([(e.question, e.steps, e.action) for e in examples()])
    ys = [e.y for e in examples()]
    assert sum((s > 0.5) == (y > 0.5) for s, y in zip(scores, ys)) >= 28


def test_save_load_gives_identical_scores_and_refuses_other_formats(tiny_model, tmp_path):
    qvm = qvm_for(tiny_model)
    items = [(e.question, e.steps, e.action) for e in examples(8)]
    qvm.save(tmp_path / "qvm")
    again = QVM.load(tmp_path / "qvm")
    assert again.score(items) == pytest.approx(qvm.score(items), abs=1e-6)
    assert again.meta.step_format == "line"
    with pytest.raises(QstarError, match="'tokens:24' steps"):
        again.check_compatible("tokens:24")
    with pytest.raises(QstarError, match="input format"):
        again.check_compatible("line", fmt="qstar-qvm/0")
    with pytest.raises(QstarError, match="not a qstar QVM"):
        QVM.load(tiny_model)


def test_batched_scores_equal_one_by_one(tiny_model):
    qvm = qvm_for(tiny_model)
    items = [(e.question, e.steps * (i % 3 + 1), e.action) for i, e in enumerate(examples(10))]
    batched = qvm.score(items)
    single = [qvm.score([item])[0] for item in items]
    assert batched == pytest.approx(single, abs=1e-5)


def test_split_is_by_question():
    exs = examples(200)
    train, held = split_by_question(exs, 0.25, seed=3)
    assert {e.qid for e in train}.isdisjoint({e.qid for e in held})
    assert len(train) + len(held) == 200 and held


def test_truncation_keeps_the_candidate_and_the_latest_steps(tiny_model):
    tokenizer, _, _ = load_backbone(tiny_model)
    steps = [f"step number {i}\n" for i in range(200)]
    ids = encode(tokenizer, "What is the question?", steps, "FINAL CANDIDATE", max_length=96)
    text = tokenizer.decode(ids)
    assert len(ids) <= 96
    assert "Question: What is the question?" in text and text.endswith("FINAL CANDIDATE")
    assert "step number 199" in text and "step number 0\n" not in text


def test_unloadable_backbone(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "no-such-arch"}')
    with pytest.raises(QstarError, match="cannot load QVM backbone"):
        load_backbone(str(tmp_path / "broken"))


def test_identical_labels_warn_that_there_is_nothing_to_learn(tiny_model, tmp_path, capsys):
    from qstar_cli.value.fit import fit_qvm

    same = [Example(f"q{i}", "What?", [], f"step {i}", 0.0) for i in range(8)]
    fit_qvm(same, cfg(backbone=tiny_model, max_steps=1, heldout_fraction=0.0), tmp_path, QVMMeta())
    assert "nothing to learn" in " ".join(capsys.readouterr().err.split())
    assert (tmp_path / "qvm" / "qstar_qvm.json").exists()


def test_an_empty_label_set_is_refused(tmp_path):
    from qstar_cli.value.fit import fit_qvm

    with pytest.raises(QstarError, match="no labelled examples"):
        fit_qvm([], cfg(), tmp_path, QVMMeta())


def test_training_twice_with_one_seed_gives_the_same_qvm(tiny_model, tmp_path):
    """The value head is initialised when the backbone loads, before the Trainer seeds: the seed
    must already hold then, whatever the global RNG did before."""
    from qstar_cli.value.fit import fit_qvm

    items = [(e.question, e.steps, e.action) for e in examples(8)]
    scores = []
    for run in range(2):
        torch.manual_seed(1234 + run)  # unrelated RNG use before training
        qvm, _ = fit_qvm(
            examples(),
            cfg(backbone=tiny_model, max_steps=2, heldout_fraction=0.0),
            tmp_path / f"run{run}",
            QVMMeta(step_format="line"),
        )
        scores.append(qvm.score(items))
    assert scores[0] == scores[1]
