"""MATH (Hendrycks et al. 2021) and MATH-500: competition mathematics with LaTeX answers.

`math` has split test (the 5000 MATH test problems) and split train = MATH test minus MATH-500
(4500 problems, matched on problem text): PRM800K trained on exactly those, so they are the
natural pool for collecting rollouts while MATH-500 stays held out. The reference is the last
`\\boxed{}` of the solution; meta holds level (an int) and type (the subject). Local:
`<data_dir>/math/test.jsonl` (problem, level, type, solution), and for train also
`<data_dir>/math500/test.jsonl`. Hub: `HuggingFaceTB/math_tasks`, file `data/math/test.jsonl` —
the same file as the local one, so ids agree (the original `hendrycks/competition_math` repository
is no longer public).

`math500` has split test: `<data_dir>/math500/test.jsonl` or hub `HuggingFaceH4/MATH-500`, fields
problem, solution, answer (the reference), subject, level, unique_id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import (
    MATH,
    MATH_TASKS,
    Dataset,
    Problem,
    hub_rows,
    jsonl_rows,
    level_number,
    local_file,
    math_tasks_rows,
    require,
)
from qstar_cli.errors import QstarError
from qstar_cli.grading.math import last_boxed

MATH500_HUB = "HuggingFaceH4/MATH-500"


def _math500_rows(data_dir: Path | None) -> list[tuple[str, dict]]:
    if data_dir is None:
        return hub_rows(MATH500_HUB, "test")
    return jsonl_rows(local_file(data_dir, "math500", "test.jsonl"))


class CompetitionMath(Dataset):
    name = "math"
    splits = ("train", "test")
    hub = MATH_TASKS
    answer_type = MATH

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        rows = math_tasks_rows("math", data_dir)
        problems = [self._problem(split, index, row, where) for index, (where, row) in enumerate(rows)]
        if split == "test":
            return problems
        held_out = {_key(require(row, "problem", where)) for where, row in _math500_rows(data_dir)}
        train = [problem for problem in problems if _key(problem.question) not in held_out]
        if len(problems) - len(train) != len(held_out):
            raise QstarError(
                f"only {len(problems) - len(train)} of the {len(held_out)} MATH-500 problems were found in MATH "
                "test, so the math train split would include held-out problems; use matching MATH and MATH-500 files"
            )
        # Ids keep the position in MATH test, so a train id names its problem in either split.
        return [
            Problem(p.id.replace("/test/", "/train/", 1), p.question, p.reference, p.solution, p.meta) for p in train
        ]

    def _problem(self, split: str, index: int, row: dict, where: str) -> Problem:
        solution = str(require(row, "solution", where))
        reference = last_boxed(solution)
        if reference is None:
            raise QstarError(f"{where}: the solution has no \\boxed{{}} answer; is this a MATH file?")
        return Problem(
            id=f"math/test/{index}",
            question=str(require(row, "problem", where)),
            reference=reference,
            solution=solution,
            meta={"level": level_number(row.get("level")), "type": row.get("type")},
        )


class Math500(Dataset):
    name = "math500"
    splits = ("test",)
    hub = MATH500_HUB
    answer_type = MATH

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        return [
            Problem(
                id=f"math500/{split}/{index}",
                question=str(require(row, "problem", where)),
                reference=str(require(row, "answer", where)),
                solution=row.get("solution"),
                meta={
                    "level": level_number(row.get("level")),
                    "type": row.get("subject"),
                    "unique_id": row.get("unique_id"),
                },
            )
            for index, (where, row) in enumerate(_math500_rows(data_dir))
        ]


def _key(problem_text: str) -> str:
    # Whitespace differences between copies of the same problem must not hide a match.
    return " ".join(str(problem_text).split())
