"""What every stage does the same way: pick its questions, name its run dir, time its work."""

from __future__ import annotations

from pathlib import Path

from qstar_cli.config import DataConfig
from qstar_cli.errors import QstarError


def dataset_options(data: DataConfig) -> dict:
    """The dataset-specific options of a DataConfig, passed to the dataset's loader."""
    if data.name == "jsonl":
        if not data.path:
            raise QstarError("--dataset jsonl needs a file: --set data.path=FILE.jsonl "
                             "(plus data.question_field / data.answer_field if they differ)")
        return {"path": data.path, "question_field": data.question_field, "answer_field": data.answer_field,
                "answer_type": data.answer_type, "id_field": data.id_field}
    return {"subset": data.subset} if data.subset else {}


def check_names(data: DataConfig):
    """Validate the dataset, its options and the split without reading any data (for --dry-run)."""
    from qstar_cli.datasets.registry import get_dataset

    dataset = get_dataset(data.name, **dataset_options(data))
    if dataset.splits and data.split not in dataset.splits:
        raise QstarError(f"dataset {data.name!r} has no split {data.split!r}; valid splits: {', '.join(dataset.splits)}")
    return dataset


def select_problems(data: DataConfig):
    """(dataset, the questions of this run, size of the unsharded set).

    The limit applies first and the shard second, so `--limit 100 --shard i/4` splits the same
    100 questions across four machines; shard i takes every n-th question starting at i.
    """
    from qstar_cli.datasets.registry import load_problems, resolve_data_dir

    dataset = check_names(data)
    problems = load_problems(data.name, data.split, resolve_data_dir(data.data_dir), **dataset_options(data))
    if data.limit is not None:
        problems = problems[: data.limit]
    total = len(problems)
    if data.shard:
        i, n = (int(x) for x in data.shard.split("/"))
        problems = problems[i::n]
    if not problems:
        raise QstarError(f"no questions selected from {data.name}/{data.split} (limit={data.limit}, shard={data.shard})")
    return dataset, problems, total


def default_out(stage: str, data: DataConfig) -> Path:
    name = f"{stage}-{data.name}-{data.split}"
    if data.shard:
        name += "-shard" + data.shard.replace("/", "of")
    return Path("runs") / name


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
