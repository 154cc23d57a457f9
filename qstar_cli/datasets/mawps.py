"""MAWPS (Koncel-Kedziorski et al. 2016): 2065 easy arithmetic word problems; split test.

The four classic MAWPS subsets (AddSub, SingleOp, SingleEq, MultiArith) in one file; meta "type"
says which. Local: `<data_dir>/mawps/test.jsonl` with fields input (the question), target (a
float) and type. Hub: `HuggingFaceTB/math_tasks`, file `data/mawps/test.jsonl` (the same file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import Dataset, Problem, hub_rows, jsonl_rows, local_file, numeric_reference, require

HUB = "HuggingFaceTB/math_tasks"


class MAWPS(Dataset):
    name = "mawps"
    splits = ("test",)
    hub = HUB

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        if data_dir is None:
            rows = hub_rows(HUB, "test", data_files={"test": "data/mawps/test.jsonl"})
        else:
            rows = jsonl_rows(local_file(data_dir, "mawps", "test.jsonl"))
        return [
            Problem(
                id=f"mawps/{split}/{index}",
                question=str(require(row, "input", where)).strip(),
                reference=numeric_reference(require(row, "target", where), where),
                meta={"type": row.get("type")},
            )
            for index, (where, row) in enumerate(rows)
        ]
