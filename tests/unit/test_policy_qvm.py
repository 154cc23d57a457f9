"""The policy backbone: a head on a frozen causal LM's hidden state at the QVM input's last token."""

import pytest

torch = pytest.importorskip("torch")

from qstar_cli.config import TrainSection  # noqa: E402
from qstar_cli.errors import QstarError  # noqa: E402
from qstar_cli.value import policy as pol  # noqa: E402
from qstar_cli.value.fit import fit_qvm  # noqa: E402
from qstar_cli.value.format import encode  # noqa: E402
from qstar_cli.value.model import QVM, QVMMeta, read_meta  # noqa: E402
from qstar_cli.value.train import Example, split_by_question  # noqa: E402
from tests.conftest import tiny_llama  # noqa: E402

LAYERS = 3


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory, embedded_model) -> str:
    """A random 3-layer Llama with the embedded model's tokenizer."""
    return tiny_llama(
        tmp_path_factory.mktemp("tiny-policy"), embedded_model, layers=LAYERS, hidden=16, positions=256, seed=1
    )


def cfg(**kw):
    base = dict(
        backbone="policy",
        max_length=64,
        policy_layers="auto",
        policy_head_epochs=20,
        policy_head_lr=1e-2,
        weight_decay=0.0,
        seed=0,
        heldout_fraction=0.25,
        score_batch_size=4,
    )
    base.update(kw)
    return TrainSection(**base)


def examples(questions=24):
    out = []
    for q in range(questions):
        for j in range(4):
            good = j % 2 == 0
            out.append(
                Example(
                    f"q{q}",
                    f"What is {q} + {j}?",
                    [f"{q} + {j}\n"] * (j % 3),
                    f"= {q + j}" if good else "I give up",
                    1.0 if good else 0.0,
                    state=str(j // 2),
                )
            )
    return out


def test_features_are_the_last_token_hidden_state_of_each_layer(tiny_policy):
    from transformers import LlamaForCausalLM

    items = [
        ("What is 2 + 2?", [], "= 4"),
        ("Ann has 3 apples and eats one.", ["3 - 1\n", "= 2\n"], "The answer is 2."),
        ("Hi?", ["a\n"], "b"),
    ]
    policy = pol.Policy(tiny_policy, max_length=64, batch_size=2)
    feats = policy.features(items, [1, 2, 3])
    model = LlamaForCausalLM.from_pretrained(tiny_policy).eval()
    for i, (q, steps, a) in enumerate(items):
        ids = torch.tensor([encode(policy.tokenizer, q, steps, a, 64)])
        with torch.no_grad():
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
        for k in (1, 2, 3):
            assert torch.allclose(feats[k][i], hidden[k][0, -1], atol=1e-5), (i, k)
    assert policy.calls == 2  # one pass per batch serves every layer


def test_auto_layers_are_evenly_spaced_and_end_at_the_last():
    assert pol.layers_for("auto", 30) == [6, 12, 18, 24, 30]
    assert pol.layers_for("auto", 3) == [1, 2, 3]
    assert pol.layers_for([-1, 2], 30) == [2, 30]


def test_the_layer_is_chosen_by_within_question_auc_not_pooled(monkeypatch):
    # Heads that score by the feature itself; validation: 4 questions, one right and one wrong step each.
    # Layer 1 ranks every question's steps right (within 1.0) but the questions sit at different
    # heights (pooled 10/16); layer 2 pools better (12/16) but ranks one question wrong (within 3/4).
    monkeypatch.setattr(pol, "fit_head", lambda x, exs, cfg: ("head", [0.0]))
    monkeypatch.setattr(pol, "head_scores", lambda head, x: x.tolist())
    validation = [Example(f"q{q}", "", [], "", y) for q in range(4) for y in (1.0, 0.0)]
    val_x = {
        1: torch.tensor([0.2, 0.1, 0.4, 0.3, 0.6, 0.5, 0.8, 0.7]),
        2: torch.tensor([0.9, 0.95, 0.8, 0.1, 0.7, 0.2, 0.6, 0.3]),
    }
    layer, aucs, _ = pol.choose_layer({1: None, 2: None}, [], val_x, validation, cfg())
    assert aucs == {1: 1.0, 2: 0.75}
    assert layer == 1
    # and with the scorer replaced, whatever it prefers is kept
    monkeypatch.setattr(pol, "layer_auc", lambda scores, exs: 0.9 if scores[0] > 0.85 else 0.1)
    assert pol.choose_layer({1: None, 2: None}, [], val_x, validation, cfg())[0] == 2


def test_heldout_questions_never_choose_the_layer_and_metrics_have_the_heldout_block(
    tiny_policy, tmp_path, monkeypatch
):
    seen = []
    real = pol.choose_layer

    def spy(train_x, train, val_x, validation, c):
        seen.extend(e.qid for e in train + validation)
        return real(train_x, train, val_x, validation, c)

    monkeypatch.setattr(pol, "choose_layer", spy)
    exs = examples()
    c = cfg(policy_model=tiny_policy)
    _, held = split_by_question(exs, c.heldout_fraction, c.seed)
    _qvm, metrics = fit_qvm(exs, c, tmp_path, QVMMeta(step_format="line"))
    held_q = {e.qid for e in held}
    assert held_q and seen and not held_q & set(seen)
    assert metrics["heldout"]["questions"] == len(held_q)
    for key in (
        "roc_auc",
        "roc_auc_ci95",
        "within_question_auc",
        "sibling_auc",
        "final_step_auc",
        "baseline_position_auc",
        "baseline_position_within_question_auc",
    ):
        assert key in metrics["heldout"]
    info = metrics["policy_backbone"]
    assert info["chosen_layer"] in (1, 2, 3) and set(info["validation_within_question_auc"]) == {"1", "2", "3"}
    assert metrics["validation_questions"] > 0


def test_save_load_scores_equal(tiny_policy, tmp_path):
    exs = examples(12)
    qvm, _ = fit_qvm(
        exs,
        cfg(policy_model=tiny_policy, policy_head="mlp", policy_layers=[-1, 2]),
        tmp_path,
        QVMMeta(step_format="line"),
    )
    items = [(e.question, e.steps, e.action) for e in exs]
    meta = read_meta(tmp_path / "qvm")  # a complete QVM folder, as eval checks it
    assert meta.backbone == "policy" and meta.head["layer"] in (2, 3) and meta.head["kind"] == "mlp"
    loaded = QVM.load(tmp_path / "qvm", batch_size=5)
    assert type(loaded).__name__ == "PolicyQVM"
    assert loaded.score(items) == pytest.approx(qvm.score(items), abs=1e-6)
    loaded.check_compatible("line")
    with pytest.raises(QstarError):
        loaded.check_compatible("paragraph")


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"policy_layers": "middle"}, "policy_layers"),
        ({"policy_layers": [0]}, "policy_layers"),
        ({"policy_layers": []}, "policy_layers"),
        ({"policy_head": "deep"}, "policy_head"),
        ({"pairwise": 1.0}, "pairwise"),
    ],
)
def test_config_errors_are_one_clear_message(kw, words):
    with pytest.raises(QstarError, match=words):
        cfg(**kw).validate()


def test_a_layer_the_policy_lacks_is_refused_before_weights_load(tiny_policy, monkeypatch):
    from transformers import AutoModel

    def no(*a, **k):
        raise AssertionError("weights loaded")

    monkeypatch.setattr(AutoModel, "from_pretrained", no)
    with pytest.raises(QstarError, match="has 3 layers"):
        pol.check_policy(cfg(policy_model=tiny_policy, policy_layers=[4]), None)
    assert pol.check_policy(cfg(policy_layers=[-1]), tiny_policy)[1] == [3]
