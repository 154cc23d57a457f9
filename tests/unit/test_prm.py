"""The PRM adapter on tiny random Llamas (with the embedded model's real tokenizer), checked against
hand-made forward passes."""

import pytest

torch = pytest.importorskip("torch")

from qstar_cli.errors import QstarError  # noqa: E402
from qstar_cli.value.prm import PRM, PRMConfig  # noqa: E402

ITEMS = [
    ("What is 2 + 3?", ["2 + 3 = 5\n", "The answer is 5\n"]),
    ("Tom has 4 apples and eats one. How many are left?", ["4 - 1 = 3\n", "So 3 are left\n", "The answer is 3\n"]),
    ("x", ["only one step\n"]),
    (
        "A train goes 60 km in 1.5 hours. What is its speed?",
        ["60 / 1.5 = 40\n", "40 km/h\n", "Check: 40 * 1.5 = 60\n", "The answer is 40\n"],
    ),
    ("Is 7 prime?", ["7 has no divisors but 1 and 7\n", "Yes\n"]),
]


def save_tiny(path, tokenizer, head: str, num_labels: int = 2) -> str:
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForTokenClassification

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=num_labels,
    )
    model = (LlamaForCausalLM if head == "causal" else LlamaForTokenClassification)(config)
    if head != "causal":  # a random head this small gives scores near 0.5; spread them out
        with torch.no_grad():
            model.score.weight.mul_(30)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory, embedded_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_model)
    root = tmp_path_factory.mktemp("prm")
    return {
        "causal": save_tiny(root / "causal", tokenizer, "causal"),
        "cls2": save_tiny(root / "cls2", tokenizer, "token", 2),
        "cls1": save_tiny(root / "cls1", tokenizer, "token", 1),
    }


def manual_scores(prm: PRM, template_head: str, question: str, steps: list[str], tag: str, read: str, reduce):
    """Scores from one unpadded forward pass, the tag positions found by tokenizing each prefix."""
    text = template_head.replace("{question}", question.strip())
    positions = []
    for step in steps:
        text += step.rstrip()
        positions.append(len(prm.tokenizer.encode(text + read, add_special_tokens=True)) - 1)
        text += tag
    ids = prm.tokenizer.encode(text, add_special_tokens=True)
    assert ids == prm.encode(question, steps)[0]
    with torch.inference_mode():
        logits = prm.model(input_ids=torch.tensor([ids])).logits[0].float()
    return [reduce(logits[p]) for p in positions]


def check_against_manual(prm, head, tag, read, reduce):
    got = prm.step_scores(ITEMS)
    for (question, steps), row in zip(ITEMS, got):
        assert len(row) == len(steps)
        assert row == pytest.approx(manual_scores(prm, head, question, steps, tag, read, reduce), abs=1e-5)
    assert max(max(row) for row in got) - min(min(row) for row in got) > 1e-3  # not a constant
    return got


def test_token_logits_match_manual_softmax_with_a_multi_token_tag(models):
    # Math-Shepherd style: " ки" is two tokens here, and the score is read at the last one, not at "\n"
    cfg = PRMConfig(models["causal"], template="{question} {steps}", step_tag=" ки\n", batch_size=2)
    prm = PRM.load(cfg, device="cpu")
    good, bad = prm.tokenizer.encode("+")[0], prm.tokenizer.encode("-")[0]
    assert len(prm.tokenizer.encode(" ки")) == 2
    check_against_manual(
        prm, "{question} ", " ки\n", " ки", lambda lg: torch.softmax(lg[[good, bad]], dim=-1)[0].item()
    )


def test_classification_matches_manual_softmax(models):
    prm = PRM.load(PRMConfig(models["cls2"], mode="classification", positive_label=1), device="cpu")
    check_against_manual(prm, "{question}\n", "\n", "\n", lambda lg: torch.softmax(lg, dim=-1)[1].item())


def test_value_head_matches_manual_sigmoid(models):
    prm = PRM.load(PRMConfig(models["cls1"], mode="value_head", step_tag="<extra_0>"), device="cpu")
    check_against_manual(prm, "{question}\n", "<extra_0>", "<extra_0>", lambda lg: torch.sigmoid(lg[0]).item())


@pytest.mark.parametrize("mode,key", [("token_logits", "causal"), ("classification", "cls2"), ("value_head", "cls1")])
def test_batched_equals_one_by_one_and_counts_calls(models, mode, key):
    prm = PRM.load(PRMConfig(models[key], mode=mode, batch_size=3), device="cpu")
    batched = prm.step_scores(ITEMS)
    assert (prm.calls, prm.scored) == (2, 5)
    for item, row in zip(ITEMS, batched):
        assert prm.step_scores([item])[0] == pytest.approx(row, abs=1e-5)
    assert prm.step_scores([("q", [])]) == [[]]
    assert all(0.0 <= s <= 1.0 for row in batched for s in row)


def test_positions_are_the_same_without_offsets(models):
    prm = PRM.load(PRMConfig(models["causal"], step_tag=" ки\n"), device="cpu")

    class NoOffsets:  # a tokenizer that cannot report character offsets
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, *args, **kwargs):
            raise NotImplementedError

        def encode(self, *args, **kwargs):
            return self.inner.encode(*args, **kwargs)

    expected = [prm.encode(q, steps) for q, steps in ITEMS]
    prm.tokenizer = NoOffsets(prm.tokenizer)
    assert [prm.encode(q, steps) for q, steps in ITEMS] == expected


def test_truncation_keeps_the_end_and_one_score_per_step(models):
    steps = [f"step {k}: add {k} to the total\n" for k in range(60)]
    prm = PRM.load(PRMConfig(models["cls2"], mode="classification", max_length=48), device="cpu")
    ids, positions = prm.encode("What is the sum?", steps)
    assert len(ids) == 48 and len(positions) == 60
    full = prm.tokenizer.encode("What is the sum?\n" + "".join(s.rstrip() + "\n" for s in steps))
    assert ids == full[-48:]
    row = prm.step_scores([("What is the sum?", steps)])[0]
    assert len(row) == 60
    with torch.inference_mode():
        logits = prm.model(input_ids=torch.tensor([ids])).logits[0]
    manual = torch.softmax(logits[positions[-1]], dim=-1)[1].item()
    assert row[-1] == pytest.approx(manual, abs=1e-5)
    # cut-off steps take the score of the earliest visible tag
    first_visible = min(positions)
    assert positions[0] == positions[1] == first_visible and row[0] == row[1]
    assert positions.count(first_visible) > 1 and len(set(positions)) < 60


def test_truncation_refuses_when_no_tag_is_visible(models):
    cfg = PRMConfig(models["cls2"], mode="classification", max_length=8, template="{question}\n{steps}" + " tail" * 20)
    with pytest.raises(QstarError, match="max_length"):
        PRM.load(cfg, device="cpu").step_scores([("q", ["a\n"])])


def test_load_errors_are_one_sentence(models, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (PRMConfig(str(tmp_path / "missing")), "not found"),
        (PRMConfig(str(tmp_path / "empty")), "config.json"),
        (PRMConfig(models["causal"], good_token="ки"), "good_token"),
        (PRMConfig(models["causal"], bad_token="not one token"), "bad_token"),
        (PRMConfig(models["causal"], mode="pairwise"), "unknown prm mode"),
        (PRMConfig(models["cls1"], mode="classification"), "at least 2"),
        (PRMConfig(models["cls2"], mode="classification", positive_label=2), "positive_label"),
        (PRMConfig(models["causal"], mode="classification"), "random"),  # no trained head: refuse
        (PRMConfig(models["causal"], dtype="float13"), "dtype"),
        (PRMConfig(models["causal"], template="{question}"), "{steps}"),
    ]
    for cfg, needle in cases:
        with pytest.raises(QstarError, match=None) as info:
            PRM.load(cfg, device="cpu")
        message = str(info.value)
        assert needle in message and "\n" not in message, (cfg, message)


def test_unloadable_weights_are_a_qstar_error(models, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(models["causal"], broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(QstarError, match="cannot load PRM"):
        PRM.load(PRMConfig(str(broken)), device="cpu")
