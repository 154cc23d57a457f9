"""MAWPS (Koncel-Kedziorski et al. 2016): 2065 easy arithmetic word problems; split test.

The four classic MAWPS subsets (AddSub, SingleOp, SingleEq, MultiArith) in one file; meta "type"
says which. Local: `<data_dir>/mawps/test.jsonl` with fields input (the question), target (a
float) and type. Hub: `HuggingFaceTB/math_tasks`, file `data/mawps/test.jsonl` (the same file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import MATH_TASKS, Dataset, Problem, math_tasks_rows, numeric_reference, require


class MAWPS(Dataset):
    name = "mawps"
    splits = ("test",)
    hub = MATH_TASKS

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        return [
            Problem(
                id=f"mawps/{split}/{index}",
                question=str(require(row, "input", where)).strip(),
                reference=numeric_reference(require(row, "target", where), where),
                meta={"type": row.get("type")},
            )
            for index, (where, row) in enumerate(math_tasks_rows("mawps", data_dir))
        ]
