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

    The offset and limit apply first and the shard second, so `--limit 100 --shard i/4` splits the same
    100 questions across four machines; shard i takes every n-th question starting at i.
    """
    from qstar_cli.datasets.registry import load_problems, resolve_data_dir

    dataset = check_names(data)
    problems = load_problems(data.name, data.split, resolve_data_dir(data.data_dir), **dataset_options(data))
    problems = problems[data.offset:]
    if data.limit is not None:
        problems = problems[: data.limit]
    total = len(problems)
    if data.shard:
        i, n = (int(x) for x in data.shard.split("/"))
        problems = problems[i::n]
    if not problems:
        raise QstarError(f"no questions selected from {data.name}/{data.split} "
                         f"(offset={data.offset}, limit={data.limit}, shard={data.shard})")
    return dataset, problems, total


def default_out(stage: str, data: DataConfig) -> Path:
    name = f"{stage}-{data.name}-{data.split}"
    if data.shard:
        name += "-shard" + data.shard.replace("/", "of")
    return Path("runs") / name


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def execute(rundir, items: list, id_of, work, metrics, summary, what: str = "questions"):
    """The resumable body shared by the per-question stages.

    Skips items whose records are already written, runs `work(todo, session, done, total)` on the
    rest (it appends records and fills `session`), records the session in the manifest even when
    interrupted, then computes metrics over the finished records and completes the run.
    """
    import time

    from qstar_cli import ui

    if rundir.repaired_bytes:
        ui.warn(f"cut a torn last line ({rundir.repaired_bytes} bytes) left by an interrupted run in {rundir.records_path}")
    todo = [x for x in items if id_of(x) not in rundir.finished_ids]
    if len(todo) < len(items):
        ui.info(f"resuming: {len(items) - len(todo)} of {len(items)} {what} already done")
    session: dict = {"generated_questions": 0}
    start = time.perf_counter()
    try:
        if todo:
            work(todo, session, len(items) - len(todo), len(items))
    finally:
        rundir.close()
        rundir.update_session(seconds=round(time.perf_counter() - start, 3), **session)
    expected = set(rundir.manifest["expected_ids"])
    records = [r for r in rundir.iter_records() if r["id"] in expected]
    result = metrics(records, rundir.manifest["sessions"])
    rundir.finish(result)
    summary(result, rundir.path)
    return rundir.path
