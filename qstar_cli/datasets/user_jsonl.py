"""`jsonl`: a user's own problems, one JSON object a line, in whatever shape the file has.

Options:
- `path` (required): the file.
- the question: `question_field` (default "question"), or `question_template`, a Python format
  string over the row's fields for sets that keep the question in parts, e.g. SVAMP's
  "{Body} {Question}".
- the gold answer: `answer_field` (default "answer") or `answer_template` (e.g. "{Answer}").
- `answer_type`: "numeric" (the default, graded like GSM8K) or "math" (graded like MATH, with a
  `\\boxed{}` prompt).
- `id_field` (default: the row's position in the file).
- few-shot exemplars from the same file: `exemplar_rows` (ids as `id_field` gives them, or row
  positions) with their worked solutions in `solution_field`. Those rows leave the problems, and
  `num_shots` of them, in the order given, come before every question. A solution that does not
  state its answer in the format the prompt asks for gets that final line appended, so the
  exemplars teach the format the grader reads.

- `language` (default English): the language of the questions, e.g. "es": the prompt's
  instruction and answer line are in it, and numbers are read by its conventions ("70.000" is
  70000 in Spanish, 70 in English); `num_shots` then needs exemplars from the file.
- `skip_ungradable` (default false): leave out the rows whose answer no grader can read (not a
  number for "numeric", empty for "math"); the stage names the first few, and the run's manifest
  records their count and ids (`inputs.skipped_ungradable`). Without it such a row is an error
  only where it falls inside the selected questions (`--limit 10` runs when row 2000 is bad).

Any split name is accepted and only labels the ids, e.g. "mydata/dev/3" for split dev of
mydata.jsonl. A row without a field a template or option names is an error naming file, line and
field. The problems carry their answer type in meta, so grading a problem follows the file's type
even through an unconfigured `jsonl` dataset object.
"""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

from qstar_cli.artifacts.jsonl import iter_jsonl
from qstar_cli.datasets import prompts
from qstar_cli.datasets.base import (
    ANSWER_TYPES,
    MATH,
    NUMERIC,
    Dataset,
    Problem,
    answer_equal,
    extract_answer,
    graded_reference,
    numeric_reference,
    require,
)
from qstar_cli.errors import QstarError
from qstar_cli.grading.numeric import answer_line, language_code


class JsonlFile(Dataset):
    name = "jsonl"
    splits = ()  # any split name
    hub = ""  # local files only
    options = (
        "path",
        "question_field",
        "answer_field",
        "answer_type",
        "id_field",
        "question_template",
        "answer_template",
        "solution_field",
        "exemplar_rows",
        "skip_ungradable",
        "language",
    )
    exemplars: tuple[tuple[str, str], ...] | None = None  # (question, solution) pairs from the file

    def configured(self, answer_type: str = NUMERIC, language: str | None = None, **options: Any) -> Dataset:
        dataset = copy.copy(self)
        dataset.answer_type = _check_answer_type(answer_type)
        dataset.language = _check_language(language)
        if options.get("exemplar_rows"):
            _, dataset.exemplars = _read(answer_type=answer_type, language=language, **options)
        return dataset

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        problems, _ = _read(split=split, **options)
        return problems

    def messages(self, problem: Problem, num_shots: int = 0) -> list[dict]:
        if num_shots and not self.exemplars:
            raise QstarError(
                "num_shots > 0 with your own file needs exemplars from it: set data.exemplar_rows "
                "(ids or row positions) and data.solution_field (their worked solutions)"
            )
        if self.exemplars and num_shots > len(self.exemplars):
            raise QstarError(f"num_shots is {num_shots} but data.exemplar_rows names {len(self.exemplars)} rows")
        return prompts.build_messages(
            problem.question,
            self._answer_type(problem),
            num_shots,
            exemplars=self.exemplars,
            language=self._language(problem),
        )


def _read(
    path: str | Path | None = None,
    split: str = "train",
    question_field: str = "question",
    answer_field: str = "answer",
    answer_type: str = NUMERIC,
    id_field: str | None = None,
    question_template: str | None = None,
    answer_template: str | None = None,
    solution_field: str | None = None,
    exemplar_rows: list | None = None,
    language: str | None = None,
    **_: Any,
) -> tuple[list[Problem], tuple[tuple[str, str], ...]]:
    """(the problems, the exemplars) of a user's file."""
    if not path:
        raise QstarError("the jsonl dataset needs the path of your file: pass the option path=FILE.jsonl")
    _check_answer_type(answer_type)
    wanted = [str(key) for key in exemplar_rows or []]
    if wanted and not solution_field:
        raise QstarError("data.exemplar_rows needs their worked solutions: set data.solution_field")
    path = Path(path).expanduser()
    problems, exemplars = [], {}
    for index, (lineno, row) in enumerate(iter_jsonl(path)):
        where = f"{path}:{lineno}"
        key = str(require(row, id_field, where) if id_field else index)
        question = (
            _render(question_template, row, where) if question_template else str(require(row, question_field, where))
        )
        answer = _render(answer_template, row, where) if answer_template else require(row, answer_field, where)
        if key in wanted:
            reference = numeric_reference(answer, where, language) if answer_type == NUMERIC else str(answer).strip()
            exemplars[key] = (
                question,
                _stated(str(require(row, solution_field, where)), reference, answer_type, language),
            )
            continue
        reference, mark = graded_reference(answer, where, answer_type, language)
        problems.append(
            Problem(
                id=f"{path.stem}/{split}/{key}",
                question=question,
                reference=reference,
                meta={"answer_type": answer_type, **({"language": language} if language else {}), **mark},
            )
        )
    missing = [key for key in wanted if key not in exemplars]
    if missing:
        raise QstarError(
            f"data.exemplar_rows names rows {path} does not have: {', '.join(missing[:5])} "
            f"({'ids of ' + id_field if id_field else 'row positions from 0'})"
        )
    if not problems:
        raise QstarError(f"{path} holds no problems; expected one JSON object a line")
    return problems, tuple(exemplars[key] for key in wanted)


def _check_language(language: str | None) -> str | None:
    if language is None:
        return None
    try:
        language_code(language)
    except ValueError as exc:
        raise QstarError(f"data.language: {exc}") from None
    return language


def _render(template: str, row: dict, where: str) -> str:
    """A format string over a row's fields; only plain field names (no attribute or index access)."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise QstarError(f"bad template {template!r}: {exc}") from None
    for name in names:
        if not name or any(c in name for c in ".[]"):
            raise QstarError(f"template {template!r}: use named fields such as {{Body}}, not {{{name}}}")
        require(row, name, where)
    return template.format_map({name: row[name] for name in names})


def _stated(solution: str, reference: str, answer_type: str, language: str | None = None) -> str:
    """The solution, ending in the final-answer line the prompt asks for when it lacks one."""
    if answer_equal(extract_answer(solution, answer_type, strict=True, language=language), reference, answer_type):
        return solution.rstrip()
    final = answer_line(language, reference) if answer_type == NUMERIC else f"The answer is $\\boxed{{{reference}}}$."
    return f"{solution.rstrip()}\n{final}"


def _check_answer_type(answer_type: str) -> str:
    if answer_type not in ANSWER_TYPES:
        raise QstarError(f"unknown answer_type {answer_type!r}; use {NUMERIC!r} or {MATH!r}")
    return answer_type
