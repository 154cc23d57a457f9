"""The synthetic arithmetic generator: stable, self-consistent, disjoint splits, graded like any numeric set."""

import re

import pytest

from qstar_cli.datasets.registry import get_dataset, load_problems
from qstar_cli.datasets.synthetic import generate
from qstar_cli.errors import QstarError


def test_problems_are_a_pure_function_of_split_subset_and_index():
    assert generate("test", "2", 7) == generate("test", "2", 7)
    assert generate("test", "2", 7).question != generate("train", "2", 7).question


def test_hand_checked_first_test_problem():
    p = load_problems("synthetic-arith", "test")[0]
    # pinned so that a change of generator (which would silently change every result) fails here
    assert p.id == "synthetic-arith/test/0"
    assert p.question == (
        "Nora has 10 apples. A friend gives Nora 6 apples. Nora buys 15 more apples. "
        "How many apples does Nora have now?"
    )
    assert p.reference == "31"


@pytest.mark.parametrize("subset", ["easy", "1", "2", "3", "4"])
def test_reference_solutions_compute_the_reference(subset):
    dataset = get_dataset("synthetic-arith")
    for p in load_problems("synthetic-arith", "train", subset=subset)[:300]:
        steps = p.solution.splitlines()
        assert len(steps) == p.meta["operations"] + 2  # start, one line per operation, the answer
        for line in steps[1:-1]:
            a, op, b, c = re.search(r"(\d+) ([-+*]) (\d+) = (\d+)", line).groups()
            assert eval(f"{a} {op} {b}") == int(c)
        assert int(p.reference) >= 0
        assert dataset.is_correct(p.solution, p)
        assert not dataset.is_correct(p.solution.replace(f"is {p.reference}.", f"is {int(p.reference) + 1}."), p)


def test_splits_are_disjoint_and_sized():
    train = {p.question for p in load_problems("synthetic-arith", "train")}
    test = load_problems("synthetic-arith", "test")
    assert len(test) == 500 and len(train) > 1500
    overlap = sum(p.question in train for p in test)
    assert overlap < 25  # a few short problems can coincide by chance; ids never do


def test_unknown_subset_is_a_clear_error():
    with pytest.raises(QstarError, match="difficulty"):
        load_problems("synthetic-arith", "test", subset="9")


def test_exemplars_are_of_the_problems_level_and_never_train_or_test_problems():
    dataset = get_dataset("synthetic-arith")
    p = load_problems("synthetic-arith", "test", subset="easy")[3]
    messages = dataset.messages(p, num_shots=4)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4 + ["user"]
    assert p.question in messages[-1]["content"]
    shots = [m["content"] for m in messages[1:-1:2]]
    assert all(s.endswith(".") and "The answer is" in s.splitlines()[-1] for s in shots)
    assert all(len(s.splitlines()) == 4 for s in shots)  # easy: start, two gains, the answer
    seen = {q.question for split in ("train", "test") for q in load_problems("synthetic-arith", split, subset="easy")}
    assert not any(m["content"].split("Problem: ")[-1] in seen for m in messages[0:-1:2])
    with pytest.raises(QstarError, match="num_shots"):
        dataset.messages(p, num_shots=99)
