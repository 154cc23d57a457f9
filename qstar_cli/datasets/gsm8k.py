"""GSM8K: grade-school math word problems (Cobbe et al. 2021), splits train (7473) and test (1319).

Local: `<data_dir>/gsm8k/{train,test}.jsonl` with fields question and answer. Hub: `openai/gsm8k`,
config `main`, same fields. An answer is the worked solution, with `<<48/2=24>>` calculator
annotations, then a line `#### 72`; the reference is that number without thousands separators,
and the solution is the text before it with the annotations removed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import Dataset, Problem, hub_rows, jsonl_rows, local_file, numeric_reference, require
from qstar_cli.errors import QstarError

_CALCULATOR = re.compile(r"<<[^<>]*>>")


class GSM8K(Dataset):
    name = "gsm8k"
    splits = ("train", "test")
    hub = "openai/gsm8k"

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        if data_dir is None:
            rows = hub_rows(self.hub, split, name="main")
        else:
            rows = jsonl_rows(local_file(data_dir, "gsm8k", f"{split}.jsonl"))
        return [self._problem(split, index, row, where) for index, (where, row) in enumerate(rows)]

    def _problem(self, split: str, index: int, row: dict, where: str) -> Problem:
        question = require(row, "question", where)
        answer = str(require(row, "answer", where))
        solution, marker, final = answer.rpartition("####")
        if not marker:
            raise QstarError(f"{where}: the answer has no '#### <number>' line; is this a GSM8K file?")
        return Problem(
            id=f"gsm8k/{split}/{index}",
            question=str(question),
            reference=numeric_reference(final.strip(), where),
            solution=_CALCULATOR.sub("", solution).strip(),
        )
