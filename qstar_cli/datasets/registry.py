"""The dataset registry: a plain dict from name to `Dataset`, plus the checked way to load one.

`load_problems` is what stages call: it validates the split and the options before any file is
read, and checks that the loaded ids are unique (records are keyed by id, so a duplicate would
silently merge two questions' results). `resolve_data_dir` decides where data comes from: the
`--data-dir` flag, else the `QSTAR_DATA_DIR` environment variable, else the Hugging Face hub.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import UNGRADABLE, Dataset, Problem, ungradable, ungradable_error
from qstar_cli.datasets.competition_math import CompetitionMath, Math500
from qstar_cli.datasets.gsm8k import GSM8K
from qstar_cli.datasets.mawps import MAWPS
from qstar_cli.datasets.mbpp import MBPP
from qstar_cli.datasets.mgsm import MGSM
from qstar_cli.datasets.svamp import SVAMP
from qstar_cli.datasets.synthetic import SyntheticArithmetic
from qstar_cli.datasets.user_jsonl import JsonlFile
from qstar_cli.errors import QstarError

DATA_DIR_ENV = "QSTAR_DATA_DIR"

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        GSM8K(),
        CompetitionMath(),
        Math500(),
        MGSM(),
        SVAMP(),
        MAWPS(),
        SyntheticArithmetic(),
        MBPP(),
        JsonlFile(),
    )
}


def get_dataset(name: str, **options: Any) -> Dataset:
    """The registered dataset, set up by any grading-relevant load options (jsonl's answer_type)."""
    try:
        dataset = DATASETS[name]
    except KeyError:
        raise QstarError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
    _check_options(dataset, options)
    return dataset.configured(**options)


def load_problems(
    name: str, split: str, data_dir: Path | None = None, *, keep_ungradable: bool = False, **options: Any
) -> list[Problem]:
    """Problems of `name`/`split`, from `data_dir` (None: the hub), checked for unique ids.

    Rows whose reference no grader can read (base.UNGRADABLE) are an error, or left out with the
    option skip_ungradable; `keep_ungradable` returns them marked, for `select_problems` to decide
    on the questions it selects."""
    dataset = get_dataset(name, **options)
    if dataset.splits and split not in dataset.splits:
        raise QstarError(f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(dataset.splits)}")
    if not split or "/" in split:
        raise QstarError(f"invalid split name {split!r}; use a plain name such as 'test'")
    problems = dataset.load(split, Path(data_dir) if data_dir is not None else None, **options)
    duplicates = [pid for pid, count in Counter(p.id for p in problems).items() if count > 1]
    if duplicates:
        raise QstarError(
            f"{name}/{split} has {len(duplicates)} duplicate problem ids (e.g. {duplicates[0]!r}); "
            "ids must be unique — check the id field of your data"
        )
    bad = ungradable(problems)
    if bad and not keep_ungradable:
        if not options.get("skip_ungradable"):
            raise ungradable_error(bad, len(problems), f"of {name}/{split}")
        problems = [p for p in problems if UNGRADABLE not in p.meta]
    return problems


def resolve_data_dir(flag_value: str | Path | None) -> Path | None:
    """The data directory: the flag, else $QSTAR_DATA_DIR, else None (load from the hub)."""
    if flag_value not in (None, ""):
        value, source = flag_value, "--data-dir"
    elif os.environ.get(DATA_DIR_ENV):
        value, source = os.environ[DATA_DIR_ENV], DATA_DIR_ENV
    else:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise QstarError(f"data directory {path} (from {source}) does not exist or is not a directory; fix the path")
    return path


def _check_options(dataset: Dataset, options: dict) -> None:
    unknown = sorted(set(options) - set(dataset.options))
    if unknown:
        accepted = ", ".join(dataset.options) or "none"
        raise QstarError(f"dataset {dataset.name!r} has no option {unknown[0]!r}; its options: {accepted}")
