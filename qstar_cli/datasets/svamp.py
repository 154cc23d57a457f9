"""SVAMP (Patel et al. 2021): 1000 one- or two-step arithmetic word problems; split test.

Local: `<data_dir>/svamp/test.jsonl` with fields Body, Question, Answer (a float), Equation, Type,
ID. Hub: `HuggingFaceTB/math_tasks`, file `data/svamp/test.jsonl` — the same 1000-problem file
(`ChilleD/SVAMP` instead re-splits it 700/300). The question shown to the model is Body and
Question joined by one space, with a period added when the body does not end in one (about a third
of them don't: "... organized into 93 groups How big is each group?" would read as one sentence).
"""

from __future__ import annotations

from qstar_cli.datasets.base import WordProblems, require


class SVAMP(WordProblems):
    name = "svamp"
    answer_field = "Answer"

    def question(self, row: dict, where: str) -> str:
        return join_question(str(require(row, "Body", where)), str(require(row, "Question", where)))

    def meta(self, row: dict) -> dict:
        return {"equation": row.get("Equation"), "type": row.get("Type"), "source_id": row.get("ID")}


def join_question(body: str, question: str) -> str:
    body, question = body.strip(), question.strip()
    if body and body[-1] not in ".?!":
        body += "."
    return f"{body} {question}".strip()
