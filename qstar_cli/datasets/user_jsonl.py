"""`jsonl`: a user's own problems, one JSON object a line.

Options: `path` (required; the file), `question_field` and `answer_field` (default "question" and
"answer"), `answer_type` ("numeric", the default, graded like GSM8K; or "math", graded like MATH
with a `\\boxed{}` prompt), and `id_field` (default: the row's position in the file). Any split
name is accepted and only labels the ids, e.g. "mydata/dev/3" for split dev of mydata.jsonl. A row
without a required field is an error naming file, line and field. The problems carry their
answer type in meta, so grading a problem follows the file's type even through an unconfigured
`jsonl` dataset object.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from qstar_cli.artifacts.jsonl import iter_jsonl
from qstar_cli.datasets.base import (
    ANSWER_TYPES,
    MATH,
    NUMERIC,
    Dataset,
    Problem,
    numeric_reference,
    require,
)
from qstar_cli.errors import QstarError


class JsonlFile(Dataset):
    name = "jsonl"
    splits = ()  # any split name
    hub = ""  # local files only
    options = ("path", "question_field", "answer_field", "answer_type", "id_field")

    def configured(self, answer_type: str = NUMERIC, **options: Any) -> Dataset:
        dataset = copy.copy(self)
        dataset.answer_type = _check_answer_type(answer_type)
        return dataset

    def load(
        self,
        split: str,
        data_dir: Path | None = None,
        path: str | Path | None = None,
        question_field: str = "question",
        answer_field: str = "answer",
        answer_type: str = NUMERIC,
        id_field: str | None = None,
        **options: Any,
    ) -> list[Problem]:
        if not path:
            raise QstarError("the jsonl dataset needs the path of your file: pass the option path=FILE.jsonl")
        _check_answer_type(answer_type)
        path = Path(path).expanduser()
        problems = []
        for index, (lineno, row) in enumerate(iter_jsonl(path)):
            where = f"{path}:{lineno}"
            answer = require(row, answer_field, where)
            key = require(row, id_field, where) if id_field else index
            problems.append(
                Problem(
                    id=f"{path.stem}/{split}/{key}",
                    question=str(require(row, question_field, where)),
                    reference=numeric_reference(answer, where) if answer_type == NUMERIC else str(answer).strip(),
                    meta={"answer_type": answer_type},
                )
            )
        if not problems:
            raise QstarError(f"{path} holds no problems; expected one JSON object a line")
        return problems


def _check_answer_type(answer_type: str) -> str:
    if answer_type not in ANSWER_TYPES:
        raise QstarError(f"unknown answer_type {answer_type!r}; use {NUMERIC!r} or {MATH!r}")
    return answer_type
