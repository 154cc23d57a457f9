"""MAWPS (Koncel-Kedziorski et al. 2016): 2065 easy arithmetic word problems; split test.

The four classic MAWPS subsets (AddSub, SingleOp, SingleEq, MultiArith) in one file; meta "type"
says which. Local: `<data_dir>/mawps/test.jsonl` with fields input (the question), target (a
float) and type. Hub: `HuggingFaceTB/math_tasks`, file `data/mawps/test.jsonl` (the same file).
"""

from __future__ import annotations

from qstar_cli.datasets.base import WordProblems, require


class MAWPS(WordProblems):
    name = "mawps"
    answer_field = "target"

    def question(self, row: dict, where: str) -> str:
        return str(require(row, "input", where)).strip()

    def meta(self, row: dict) -> dict:
        return {"type": row.get("type")}
