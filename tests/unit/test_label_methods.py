"""scripts/label_methods.py: which of the reference's held-out states a QVM may be scored on."""

import importlib.util
from pathlib import Path

from qstar_cli.value.train import Example

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("label_methods", REPO / "scripts" / "label_methods.py")
label_methods = importlib.util.module_from_spec(spec)
spec.loader.exec_module(label_methods)


def states(*qids):
    return [Example(q, "question", [], f"step of {q}", 0.0) for q in qids]


def test_a_qvm_is_never_scored_on_states_of_its_own_training_questions():
    # the reference (M = 4) labelled questions a-d and held out c and d
    reference = states("c", "c", "d")
    # a method over the same questions with the same split: all three states are unseen by it
    assert label_methods.unseen(reference, states("a", "b", "c", "d"), held={"c", "d"}) == reference
    # the recipe's QVM labelled many more (a-z) and trained on c (it held out d and x): only d's
    # state is unseen; scoring it on c's would measure fit, not ranking
    many = states(*"abcdefghijklmnopqrstuvwxyz")
    assert [e.qid for e in label_methods.unseen(reference, many, held={"d", "x"})] == ["d"]
    # a QVM trained on other questions entirely (none of a-d) is scored on every reference state
    assert label_methods.unseen(reference, states("p", "q"), held={"q"}) == reference
