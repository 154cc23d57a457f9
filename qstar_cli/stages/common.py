"""What every stage does the same way: pick its questions, name its run dir, batch its work.

(Resuming, timing a session and completing a run are `RunDir`'s: todo, session, complete.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qstar_cli.artifacts.rundir import open_stage_run
from qstar_cli.config import DataConfig, to_dict
from qstar_cli.config.sections import DATASET_KEYS
from qstar_cli.errors import QstarError


@dataclass
class Plan:
    """What a stage's run will be, known before any model loads (every check a user's input can fail
    has run): its own run, the launchers, `repro` and `--dry-run` read it instead of re-deriving it."""

    out: Path  # its run folder
    items: list  # what it works on: questions (collect, eval) or rollouts records (label), after data.shard
    total: int  # how many the unsharded run has
    inputs: dict  # what the run is made from besides its config (RunDir.open's inputs)
    unused: tuple[str, ...] = ()  # config sections it does not read (they may change when it resumes)
    unshardable: str | None = None  # why it cannot be split into shards, when it cannot
    fmt: Any = None  # the step format of its records (steps.StepFormat)
    dataset: Any = None  # the dataset (collect, eval)
    model: str | None = None  # the policy's model reference (collect, eval)
    manifest: dict | None = None  # its input run's manifest (label)


def dataset_options(data: DataConfig) -> dict:
    """The options of the chosen dataset (the data keys its loader takes, e.g. jsonl's path and
    fields, mgsm's subset), from the DataConfig; a set key the dataset does not take is an error."""
    from qstar_cli.datasets.registry import DATASETS

    dataset = DATASETS.get(data.name)
    if dataset is None:
        return {}  # get_dataset names the unknown dataset with the list of known ones
    if data.name == "jsonl" and not data.path:
        raise QstarError(
            "--dataset jsonl needs a file: --set data.path=FILE.jsonl "
            "(plus data.question_field / data.answer_field if they differ)"
        )
    defaults = DataConfig()
    for key in DATASET_KEYS:
        if key not in dataset.options and getattr(data, key) != getattr(defaults, key):
            raise QstarError(
                f"dataset {data.name!r} does not take data.{key}; its options: {', '.join(dataset.options) or 'none'}"
            )
    return {key: getattr(data, key) for key in dataset.options if getattr(data, key) is not None}


def question_inputs(data: DataConfig, problems) -> dict:
    """The inputs of a run over dataset questions, kept in its manifest and compared whenever the
    folder is reused: the dataset, and a checksum of the questions (ids, texts, references), so an
    edited file or another slice is another run; and, when data.skip_ungradable left rows of the
    file out, which (`Questions.skipped`: count, the file's rows before, ids), so a reader sees the
    denominator changed. Runs without skipped rows record what they did before the option."""
    from qstar_cli.artifacts.rundir import sha256_json

    inputs = {
        "dataset": f"{data.name}/{data.split}",
        "questions_sha256": sha256_json([[p.id, p.question, p.reference] for p in problems]),
    }
    if getattr(problems, "skipped", None):
        inputs["skipped_ungradable"] = problems.skipped
    return inputs


def open_run(stage, plan: Plan, config):
    """The run dir of a stage over dataset questions (collect, eval) as `plan` says: `stage` is its
    row in `config.sections.STAGES`, the policy's seed its one seed."""
    return open_stage_run(
        stage,
        plan.out,
        config=to_dict(config),
        inputs=plan.inputs,
        expected_ids=[q.id for q in plan.items],
        total_questions=plan.total,
        seeds={"policy": config.policy.seed},
        unused=plan.unused,
    )


def describe_questions(config) -> dict:
    """What a report shows of a run's questions and policy (collect, eval: each stage's `describe`
    adds its own settings), recorded in its metrics."""
    from qstar_cli.backends import choose_backend

    data = config.data
    return {
        "dataset": f"{data.name}/{data.split}",
        "dataset_name": data.name,
        "split": data.split,
        "subset": data.subset,
        "offset": data.offset,
        "limit": data.limit,
        "num_shots": data.num_shots,
        "model": config.policy.model or "embedded",
        "backend": choose_backend(config.policy.backend),
    }


def check_names(data: DataConfig):
    """Validate the dataset, its options and the split without reading any data (label's --dry-run:
    it reads a rollouts run, not the dataset)."""
    from qstar_cli.datasets.registry import get_dataset

    dataset = get_dataset(data.name, **dataset_options(data))
    if dataset.splits and data.split not in dataset.splits:
        raise QstarError(
            f"dataset {data.name!r} has no split {data.split!r}; valid splits: {', '.join(dataset.splits)}"
        )
    return dataset


class Questions(list):
    """The questions of a run; `skipped` says which rows of the file data.skip_ungradable left out
    ({"count", "rows": the file's questions before, "ids"}), None when it left out none."""

    skipped: dict | None = None


def select_problems(data: DataConfig, execution=None):
    """(dataset, the questions of this run, size of the unsharded set).

    With `execution` (an ExecutionConfig), a dataset graded by running code comes back with its
    sandbox attached, or the permission error comes before any data is read.

    The offset and limit apply first and the shard second, so `--limit 100 --shard i/4` splits the same
    100 questions across four machines; shard i takes every n-th question starting at i.

    Rows whose answer no grader can read (a word in a numeric file): with data.skip_ungradable they
    leave the file first (offset and limit count the questions that remain), named in one line and
    recorded in `Questions.skipped`; without it they are an error only inside the selection (before
    sharding, so every shard agrees), and a warning outside it.
    """
    from qstar_cli import ui
    from qstar_cli.datasets.base import SKIP_OPTION, UNGRADABLE, name_rows, ungradable, ungradable_error
    from qstar_cli.datasets.registry import load_problems, resolve_data_dir

    dataset = check_names(data)
    if execution is not None:
        dataset = grading_dataset(dataset, execution)
    problems = load_problems(
        data.name, data.split, resolve_data_dir(data.data_dir), keep_ungradable=True, **dataset_options(data)
    )
    what = f"{data.name}/{data.split}"
    bad, skipped = ungradable(problems), None
    if bad and data.skip_ungradable:
        skipped = {"count": len(bad), "rows": len(problems), "ids": [p.id for p in bad]}
        ui.warn(
            f"skipped {len(bad)} of the {len(problems)} rows of {data.path or what} that cannot be graded: "
            f"{name_rows(bad)} (data.skip_ungradable; recorded in the run's manifest)"
        )
        problems = [p for p in problems if UNGRADABLE not in p.meta]
    problems = problems[data.offset :]
    if data.limit is not None:
        problems = problems[: data.limit]
    if bad and not data.skip_ungradable:
        inside = ungradable(problems)
        if inside:
            raise ungradable_error(inside, len(problems), f"selected from {what}")
        ui.warn(
            f"{len(bad)} rows of {data.path or what} outside the selected questions cannot be graded "
            f"({name_rows(bad)}); a run over them needs {SKIP_OPTION}"
        )
    total = len(problems)
    if data.shard:
        i, n = (int(x) for x in data.shard.split("/"))
        problems = problems[i::n]
    if not problems:
        raise QstarError(
            f"no questions selected from {what} (offset={data.offset}, limit={data.limit}, shard={data.shard})"
        )
    # the first prompt, built now: one that cannot be (no worked exemplars in the question's
    # language) fails here, before any model loads, and so does the dry run
    dataset.messages(problems[0], num_shots=data.num_shots)
    questions = Questions(problems)
    questions.skipped = skipped
    return dataset, questions, total


def default_out(stage: str, data: DataConfig) -> Path:
    name = f"{stage}-{data.name}-{data.split}"
    if data.shard:
        name += "-shard" + data.shard.replace("/", "of")
    return Path("runs") / name


def run_settings(config, *keys: str, questions: int | None = None) -> dict:
    """The handful of settings that define a run, for its header (`ui.header`): the questions and
    the policy, when the stage has them, then `keys` (dotted config keys, named by their last part;
    unset ones are left out). A stage that reads its questions from an input run passes how many
    (`questions`): the config's data.offset and data.limit did not pick them."""
    settings = {}
    data = getattr(config, "data", None)
    if data is not None:
        settings["data"] = f"{data.name}/{data.split}" + (f"/{data.subset}" if data.subset else "")
        picked = ("shard",) if questions is not None else ("offset", "limit", "shard")
        settings.update((key, getattr(data, key)) for key in picked if getattr(data, key))
        if questions is not None:
            settings["questions"] = questions
    if getattr(config, "policy", None) is not None:
        from qstar_cli.backends import choose_backend

        settings["model"] = config.policy.model or "embedded"
        settings["backend"] = choose_backend(config.policy.backend)
    for key in keys:
        section, _, name = key.partition(".")
        value = getattr(getattr(config, section), name)
        if value not in (None, [], {}):
            settings[name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return settings


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reward(dataset, problem_of):
    """reward(item, solution text): the dataset's 0/1 grade of the text against the reference
    answer of `problem_of(item)`'s problem; `reward.many(pairs)` grades many (item, text) pairs in
    one call (code datasets run them in parallel). The labels' reward, and the oracle heuristic's."""

    def many(pairs: list) -> list[float]:
        grades = dataset.grade_batch([text for _, text in pairs], [problem_of(item) for item, _ in pairs])
        return [1.0 if g.correct else 0.0 for g in grades]

    def grade(item, text: str) -> float:
        return many([(item, text)])[0]

    grade.many = many
    return grade


def grading_dataset(dataset, execution):
    """The dataset ready to grade: a code dataset gets a sandbox executor, and only when the user
    opted in to running model-written code (checked before any model is loaded)."""
    if not getattr(dataset, "executes_code", False):
        return dataset
    if not execution.allow_code:
        raise QstarError(
            f"grading {dataset.name} runs model-written code; pass --allow-code-execution (or set "
            "execution.allow_code=true) to run it in qstar's sandbox (see the README: what it isolates)"
        )
    import math

    from qstar_cli import ui
    from qstar_cli.execution import Executor, Limits

    limits = Limits(
        wall_seconds=execution.timeout,
        cpu_seconds=math.ceil(execution.timeout),
        memory_mb=execution.memory_mb,
        max_processes=execution.max_processes,
        max_output_kb=execution.max_output_kb,
    )
    executor = Executor(limits, workers=execution.workers, isolation=execution.isolation, python=execution.python)
    executor.check()
    ui.info(f"model-written code runs in the sandbox: {executor.isolation} isolation, {executor.workers} workers")
    if executor.isolation == "process":
        ui.warn(
            "process isolation only: programs can read and write what your user can, and use the network "
            "(run as root with util-linux `unshare` for namespace isolation)"
        )
    return dataset.with_executor(executor)
