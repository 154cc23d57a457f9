"""A dataset is one module plus one registry entry: a toy one registered here loads, prompts,
grades and runs through a stage's question selection, and no other file names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qstar_cli.config import EvalConfig, resolve
from qstar_cli.datasets import registry
from qstar_cli.datasets.base import Dataset, Problem
from qstar_cli.errors import QstarError
from qstar_cli.stages.common import select_problems


class Doubling(Dataset):
    """'What is twice N?' for N = 1..10; split test only; option `start` shifts N."""

    name = "doubling"
    splits = ("test",)
    options = ("subset",)  # a DataConfig key the loader takes: here the first N, as text

    def load(self, split: str, data_dir: Path | None = None, subset: str | None = None) -> list[Problem]:
        start = int(subset or 1)
        return [
            Problem(id=f"doubling/{split}/{n}", question=f"What is twice {n}?", reference=str(2 * n))
            for n in range(start, start + 10)
        ]


@pytest.fixture
def doubling(monkeypatch):
    monkeypatch.setitem(registry.DATASETS, "doubling", Doubling())


def test_a_registered_dataset_runs_through_question_selection(doubling):
    config = resolve(
        EvalConfig,
        None,
        ["data.name=doubling", "data.subset=5", "data.offset=2", "data.limit=3", "eval.search=greedy"],
        {},
    )
    dataset, problems, total = select_problems(config.data)
    assert total == 3 and [p.question for p in problems] == ["What is twice 7?", "What is twice 8?", "What is twice 9?"]
    assert dataset.messages(problems[0], num_shots=1)[-1]["content"].endswith("Problem: What is twice 7?")
    assert dataset.is_correct("7 + 7 = 14.\nThe answer is 14.", problems[0])
    assert not dataset.is_correct("The answer is 15.", problems[0])


def test_a_registered_dataset_checks_its_split_and_options(doubling):
    with pytest.raises(QstarError, match="dataset 'doubling' has no split 'train'"):
        select_problems(
            resolve(EvalConfig, None, ["data.name=doubling", "data.split=train", "eval.search=greedy"], {}).data
        )
    with pytest.raises(QstarError, match="dataset 'doubling' does not take data.path"):
        select_problems(
            resolve(EvalConfig, None, ["data.name=doubling", "data.path=x.jsonl", "eval.search=greedy"], {}).data
        )
