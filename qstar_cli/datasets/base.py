"""The dataset interface: problems, prompts, answer extraction and the 0/1 reward.

A `Dataset` turns one benchmark into a list of `Problem`s (from a local data directory laid out as
in shared/data/README.md, or from the Hugging Face hub), builds the chat messages a policy sees,
and grades a completion. Grading and prompting depend only on the answer type: every numeric
dataset gets the same instruction ("one step per line … The answer is N.") and the same
lm-evaluation-harness-style extraction, so methods compare fairly across datasets; MATH-style
datasets ask for `\\boxed{}` and are graded with math-verify. A `Grade` carries both the reward
(`correct`, flexible extraction for numbers) and `strict` (the answer was also stated in a
final-answer format), the harness's flexible-extract and strict-match. Subclasses only load rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qstar_cli.artifacts.jsonl import iter_jsonl
from qstar_cli.datasets import prompts
from qstar_cli.errors import QstarError
from qstar_cli.grading.math import extract_math_answer, math_equal
from qstar_cli.grading.numeric import extract_numeric, normalize_number, numbers_equal

NUMERIC = "numeric"
MATH = "math"
CODE = "code"  # graded by running tests (mbpp); needs an executor, see qstar_cli/execution
ANSWER_TYPES = (NUMERIC, MATH, CODE)


@dataclass(frozen=True)
class Problem:
    id: str  # stable and unique within dataset+split, e.g. "gsm8k/test/17"
    question: str  # the text shown to the model
    reference: str  # gold final answer: a normalized number (numeric), LaTeX (math), or test code (code)
    solution: str | None = None  # reference worked solution, if the dataset has one
    meta: dict = field(default_factory=dict, hash=False)  # e.g. level, type


@dataclass(frozen=True)
class Grade:
    """The reward of one completion, with why it failed where the grader can tell (code).

    `strict` is "correct, and the answer was stated in a final-answer format": for numeric answers,
    correct under the strict tier of extraction alone (`#### N`, "The answer is N", `\\boxed{N}`;
    lm-evaluation-harness's strict-match beside the flexible-extract that `correct` uses). MATH
    answers are only ever read from such a format and code from a program, so there it equals
    `correct`.
    """

    correct: bool
    status: str | None = None  # code: passed | assertion | timeout | ... (see execution.STATUSES)
    detail: str | None = None
    strict: bool = False


class Dataset:
    """One benchmark. Subclasses set the class attributes and implement `load`."""

    name: str = ""
    splits: tuple[str, ...] = ()
    hub: str = ""  # Hugging Face hub id the rows come from when no data dir is given
    answer_type: str = NUMERIC
    default_step_format: str = "line"
    options: tuple[str, ...] = ()  # keyword options `load` accepts
    default_temperature: float = 0.9  # sampling temperature when the user sets none (paper: 0.9 math)
    executes_code: bool = False  # grading runs model-written code: stages need --allow-code-execution
    # the language of the questions: the prompt's instruction, the worked exemplars and how numbers
    # are read ("1.234" is 1234 in German); None is English (a problem's meta["language"] wins)
    language: str | None = None

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        """Problems of `split`, read from `data_dir`, or from the hub when it is None."""
        raise NotImplementedError

    def configured(self, **options: Any) -> Dataset:
        """This dataset as set up by load options that change grading (only `jsonl` has any)."""
        return self

    def messages(self, problem: Problem, num_shots: int = 0) -> list[dict]:
        """Chat messages for a chat-template policy, with `num_shots` worked exemplars first."""
        language = self._language(problem)
        return prompts.build_messages(
            problem.question,
            self._answer_type(problem),
            num_shots,
            exemplars=self.exemplars_in(language) if num_shots else None,
            language=language,
        )

    def exemplars_in(self, language: str | None) -> tuple[tuple[str, str], ...] | None:
        """The dataset's own (question, solution) exemplars in `language`; None: qstar's shipped ones."""
        return None

    def extract_answer(self, completion: str) -> str | None:
        """The final answer stated in a completion (a normalized number or LaTeX), or None."""
        return extract_answer(completion, self.answer_type, language=self.language)

    def same_answer(self, a: str, b: str) -> bool:
        """Whether two extracted answers are one answer by this dataset's grader (votes group by it)."""
        if self.answer_type == MATH:
            return math_equal(a, b)
        if self.answer_type == NUMERIC:
            return numbers_equal(a, b)
        return a == b

    def is_correct(self, completion: str, problem: Problem) -> bool:
        """The 0/1 reward: does the completion's final answer equal the reference?"""
        answer_type = self._answer_type(problem)
        return answer_equal(
            extract_answer(completion, answer_type, language=self._language(problem)), problem.reference, answer_type
        )

    def grade_batch(self, completions: list[str], problems: list) -> list[Grade]:
        """`is_correct` for many (completion, problem) pairs at once, with `Grade.strict` filled;
        code datasets run them in parallel."""
        grades = []
        for text, problem in zip(completions, problems):
            correct = bool(self.is_correct(text, problem))
            grades.append(Grade(correct, strict=correct and self._strictly_correct(text, problem)))
        return grades

    def _strictly_correct(self, completion: str, problem: Problem) -> bool:
        answer_type = self._answer_type(problem)
        if answer_type == MATH:
            return True  # MATH extraction is strict already; math_equal again would only cost time
        return answer_equal(
            extract_answer(completion, answer_type, strict=True, language=self._language(problem)),
            problem.reference,
            answer_type,
        )

    def _answer_type(self, problem: Problem) -> str:
        # getattr: callers may grade a record-like stand-in that has only reference and question.
        return (getattr(problem, "meta", None) or {}).get("answer_type", self.answer_type)

    def _language(self, problem: Problem) -> str | None:
        return (getattr(problem, "meta", None) or {}).get("language") or self.language


def extract_answer(completion: str, answer_type: str, strict: bool = False, language: str | None = None) -> str | None:
    """The final answer of a completion; `strict` reads numbers only from a final-answer format
    (MATH answers always are: a `\\boxed{}` or "The answer is"); `language` says how numbers are
    written (None: English)."""
    if answer_type == MATH:
        return extract_math_answer(completion)
    return extract_numeric(completion, strict=strict, language=language)


def answer_equal(answer: str | None, reference: str, answer_type: str) -> bool:
    if answer is None:
        return False
    if answer_type == MATH:
        return math_equal(answer, reference)
    return numbers_equal(answer, reference)


# --- helpers for subclasses --------------------------------------------------------------------


def local_file(data_dir: Path, *parts: str) -> Path:
    """`data_dir/parts…`, which must exist as a file."""
    path = Path(data_dir).joinpath(*parts)
    if not path.is_file():
        raise QstarError(
            f"data file {path} not found; point --data-dir (or QSTAR_DATA_DIR) at a directory "
            f"that holds {'/'.join(parts)}, or leave it unset to download from the Hugging Face hub"
        )
    return path


def jsonl_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) for each row of a local JSONL file; `where` is "file:line" for error messages."""
    return [(f"{path}:{lineno}", row) for lineno, row in iter_jsonl(path)]


def hub_rows(
    hub_id: str, split: str, name: str | None = None, data_files: dict | None = None
) -> list[tuple[str, dict]]:
    """(where, row) for each row of a hub dataset split; any download failure is a QstarError."""
    try:
        import datasets
    except ImportError:
        raise QstarError(
            "loading from the Hugging Face hub needs the `datasets` package; install it, or pass "
            "--data-dir (or set QSTAR_DATA_DIR) to read local files"
        ) from None
    try:
        table = datasets.load_dataset(hub_id, name, split=split, data_files=data_files)
    except Exception as exc:  # network, auth and missing-repo errors all land here
        raise _hub_error(hub_id, exc) from None
    return [(f"{hub_id} {split} row {index}", dict(row)) for index, row in enumerate(table)]


MATH_TASKS = "HuggingFaceTB/math_tasks"


def math_tasks_rows(name: str, data_dir: Path | None) -> list[tuple[str, dict]]:
    """(where, row) of `<data_dir>/<name>/test.jsonl`, or without a data dir of the same file in the
    hub's HuggingFaceTB/math_tasks (data/<name>/test.jsonl): MATH, MAWPS and SVAMP are stored so."""
    if data_dir is None:
        return hub_rows(MATH_TASKS, "test", data_files={"test": f"data/{name}/test.jsonl"})
    return jsonl_rows(local_file(data_dir, name, "test.jsonl"))


class WordProblems(Dataset):
    """A test-only set of numeric word problems in HuggingFaceTB/math_tasks (MAWPS, SVAMP): a
    subclass says how one of its rows reads (the question, the answer's field, what else to keep)."""

    splits = ("test",)
    hub = MATH_TASKS
    answer_field = ""

    def question(self, row: dict, where: str) -> str:
        raise NotImplementedError

    def meta(self, row: dict) -> dict:
        return {}

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        return [
            Problem(
                id=f"{self.name}/{split}/{index}",
                question=self.question(row, where),
                reference=numeric_reference(require(row, self.answer_field, where), where),
                meta=self.meta(row),
            )
            for index, (where, row) in enumerate(math_tasks_rows(self.name, data_dir))
        ]


def hub_file(hub_id: str, filename: str) -> Path:
    """A raw file of a hub dataset repository, downloaded to the local cache."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=hub_id, filename=filename, repo_type="dataset"))
    except ImportError:
        raise QstarError(
            "loading from the Hugging Face hub needs the `huggingface_hub` package; install it, "
            "or pass --data-dir (or set QSTAR_DATA_DIR) to read local files"
        ) from None
    except Exception as exc:  # network, auth and missing-file errors all land here
        raise _hub_error(f"{hub_id}/{filename}", exc) from None


def _hub_error(what: str, exc: Exception) -> QstarError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return QstarError(
        f"could not load {what} from the Hugging Face hub ({reason}); pass --data-dir (or set "
        "QSTAR_DATA_DIR) to a local copy laid out as in the data README"
    )


def numeric_reference(value: Any, where: str, language: str | None = None) -> str:
    """A gold numeric answer as a normalized string (145.0 -> "145"), written as `language` writes
    numbers (None: English); `where` names its source."""
    reference = normalize_number(value if isinstance(value, (int, float)) else str(value), language=language)
    if reference is None:
        raise QstarError(f"{where}: the answer {value!r} is not a number; fix the row")
    return reference


# --- rows whose reference cannot be graded -------------------------------------------------------
# A user's file may hold a few rows no grader can read (a word answer in a numeric set, an empty
# one). Its loader keeps them as problems marked `meta[UNGRADABLE]` = {"where": "file:line",
# "answer": the value, "why": ...}; `select_problems` refuses them where they fall inside the
# selection, or skips them with data.skip_ungradable (and records which), so a slice without them
# runs, and no marked problem is ever graded.

UNGRADABLE = "ungradable"
SKIP_OPTION = "--set data.skip_ungradable=true"
SHOWN = 3  # rows a message names before "and N more"


def graded_reference(value: Any, where: str, answer_type: str, language: str | None = None) -> tuple[str, dict]:
    """(the reference, meta to add): a number normalized (as `language` writes numbers), a math
    answer stripped, or for a value no grader can read an empty reference and the UNGRADABLE mark."""
    if answer_type == NUMERIC:
        reference = normalize_number(value if isinstance(value, (int, float)) else str(value), language=language)
        why = "is not a number"
    else:
        reference = str(value).strip() or None
        why = "is empty"
    if reference is None:
        answer = value if isinstance(value, str) else repr(value)
        return "", {UNGRADABLE: {"where": where, "answer": answer, "why": why}}
    return reference, {}


def ungradable(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if UNGRADABLE in p.meta]


def name_rows(bad: list[Problem]) -> str:
    """ "file:4 'Yes', file:8 'Alice' and 5 more": the first few rows of `bad`."""
    shown = ", ".join(f"{p.meta[UNGRADABLE]['where']} {p.meta[UNGRADABLE]['answer']!r}" for p in bad[:SHOWN])
    return shown + (f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else "")


def ungradable_error(bad: list[Problem], selected: int, what: str) -> QstarError:
    """The refusal of `bad`, the ungradable rows among `selected` questions of `what`."""
    why = bad[0].meta[UNGRADABLE]["why"]
    return QstarError(
        f"{len(bad)} of the {selected} questions {what} have an answer that {why}: {name_rows(bad)}; "
        f"skip such rows with {SKIP_OPTION} (the run records how many), or fix them"
    )


def require(row: dict, field_name: str, where: str) -> Any:
    """row[field_name], or a QstarError naming the file:line and the missing field."""
    if field_name not in row or row[field_name] is None:
        raise QstarError(f"{where}: missing field {field_name!r} (fields present: {', '.join(sorted(row)) or 'none'})")
    return row[field_name]


def level_number(level: Any) -> Any:
    """MATH levels as ints ("Level 3" -> 3); anything unparseable ("Level ?") is kept as is."""
    text = str(level).removeprefix("Level").strip()
    return int(text) if text.isdigit() else level
