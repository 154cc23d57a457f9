"""experiments/label_methods.py: two label methods compared on the (state, action) pairs both labelled."""

import importlib.util
from pathlib import Path

from qstar_cli.value.train import Example

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("label_methods", REPO / "experiments" / "label_methods.py")
label_methods = importlib.util.module_from_spec(spec)
spec.loader.exec_module(label_methods)


def pair(qid, steps, action, y):
    return Example(qid, "question", list(steps), action, y)


def test_agreement_counts_missed_and_extra_positives_on_shared_pairs_only():
    reference = [
        pair("q1", [], "a", 1.0),
        pair("q1", ["a"], "b", 0.75),
        pair("q1", [], "c", 0.0),
        pair("q2", [], "d", 0.5),
        pair("q2", [], "e", 0.25),
    ]
    method = [
        pair("q1", [], "a", 1.0),  # both positive
        pair("q1", ["a"], "b", 0.25),  # reference positive (0.75), this one not: missed
        pair("q1", [], "c", 0.5),  # this one positive (0.5 counts), the reference not: extra
        pair("q2", [], "d", 0.0),  # missed (the reference's 0.5 is positive)
        pair("q2", ["x"], "e", 1.0),
    ]  # another state (other steps before e): not shared
    # shared: 4 pairs, agreeing on 1 (a); the reference has 3 positives among them (a, b, d)
    assert label_methods.agreement(method, reference) == {
        "shared": 4,
        "agree": 0.25,
        "reference_positives": 3,
        "missed": 2,
        "extra": 1,
    }
    assert label_methods.agreement(method[4:], reference)["agree"] is None


def test_yardsticks_are_rows_or_named_label_runs_and_bad_ones_are_refused():
    import pytest

    from qstar_cli.errors import QstarError

    rows = ["m4", "own", "fqi"]
    # the reference first and once, a row by name (its own labels), label runs by NAME=DIR[,DIR]
    assert label_methods.yardstick_specs("m4", ["own", "m4", "full=runs/a,runs/b"], rows) == {
        "m4": None,
        "own": None,
        "full": ["runs/a", "runs/b"],
    }
    for specs, words in [
        (["nope"], "none of m4, own, fqi"),
        (["full="], "give NAME or NAME=LABEL_RUN"),
        (["own=runs/a"], "already a row's name"),
    ]:
        with pytest.raises(QstarError, match=words):
            label_methods.yardstick_specs("m4", specs, rows)
    for reference in ("full", "full=runs/a"):  # the reference is a row: its QVM is the one paired with
        with pytest.raises(QstarError, match="--reference .* is none of"):
            label_methods.yardstick_specs(reference, [], rows)
