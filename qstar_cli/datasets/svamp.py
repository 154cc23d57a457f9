"""SVAMP (Patel et al. 2021): 1000 one- or two-step arithmetic word problems; split test.

Local: `<data_dir>/svamp/test.jsonl` with fields Body, Question, Answer (a float), Equation, Type,
ID. Hub: `HuggingFaceTB/math_tasks`, file `data/svamp/test.jsonl` — the same 1000-problem file
(`ChilleD/SVAMP` instead re-splits it 700/300). The question shown to the model is Body and
Question joined by one space, with a period added when the body does not end in one (about a third
of them don't: "... organized into 93 groups How big is each group?" would read as one sentence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import MATH_TASKS, Dataset, Problem, math_tasks_rows, numeric_reference, require


class SVAMP(Dataset):
    name = "svamp"
    splits = ("test",)
    hub = MATH_TASKS

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        return [
            Problem(
                id=f"svamp/{split}/{index}",
                question=join_question(str(require(row, "Body", where)), str(require(row, "Question", where))),
                reference=numeric_reference(require(row, "Answer", where), where),
                meta={"equation": row.get("Equation"), "type": row.get("Type"), "source_id": row.get("ID")},
            )
            for index, (where, row) in enumerate(math_tasks_rows("svamp", data_dir))
        ]


def join_question(body: str, question: str) -> str:
    body, question = body.strip(), question.strip()
    if body and body[-1] not in ".?!":
        body += "."
    return f"{body} {question}".strip()
