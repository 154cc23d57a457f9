"""MBPP: Mostly Basic Python Problems (Austin et al. 2021), graded by running the tests.

Splits by task_id, as the paper and the hub's `full` config define them: test 11-510 (500),
train 601-974 (374), validation 511-600 (90), prompt 1-10 (the few-shot pool). Local:
`<data_dir>/mbpp/mbpp.jsonl` (all 974 rows); hub: `google-research-datasets/mbpp`, config `full`.
Ids are `mbpp/<split>/<task_id>`.

Prompt: the MBPP paper's ("You are an expert Python programmer, and here is your task: {text}
Your code should pass these tests:\n\n{tests}"), the one bigcode-evaluation-harness and
lm-evaluation-harness also use, as a chat turn; few-shot exemplars are tasks 2, 3 and 4 (the
paper's), answered with their reference code in a ```python block.

Reward: 1 when the extracted program followed by the tests runs to the end in the sandbox. The
test code (the problem's `reference`) is `test_setup_code` then the asserts of `test_list`; it
runs AFTER the program because the two rows that have setup code (367, 927) build trees from a
`Node` class the solution itself defines. `challenge_test_list` is not part of the reward (the
paper's metric uses `test_list` only); it is kept in `meta`. Grading executes model-written
code, so it needs an executor, which stages attach only with `--allow-code-execution`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qstar_cli.datasets.base import CODE, Dataset, Grade, Problem, hub_rows, jsonl_rows, local_file, require
from qstar_cli.errors import QstarError
from qstar_cli.grading.code import extract_code, prefix_syntax_error

SPLITS = {"test": (11, 510), "train": (601, 974), "validation": (511, 600), "prompt": (1, 10)}
FEW_SHOT_IDS = (2, 3, 4)
PROMPT = "You are an expert Python programmer, and here is your task: {question}"
SYNTAX_PENALTY = -1.0
REPEAT_PENALTY = -1.0
FLAG = "--allow-code-execution"


@dataclass(frozen=True)
class _Shot:
    question: str
    code: str


def _clean(text: str) -> str:
    return str(text).replace("\r\n", "\n").strip("\n")


def question_text(text: str, tests: list[str]) -> str:
    """The task as the model reads it: the description, then the asserts it must pass."""
    return f"{text.strip()} Your code should pass these tests:\n\n" + "\n".join(t.strip() for t in tests)


def test_code(setup: str, tests: list[str]) -> str:
    return "\n".join(part for part in [_clean(setup), *(_clean(t) for t in tests)] if part)


def program(code: str, reference: str) -> str:
    """What the sandbox runs: the candidate program, then the test code."""
    return f"{code}\n\n{reference}\n"


class MBPP(Dataset):
    name = "mbpp"
    splits = tuple(SPLITS)
    hub = "google-research-datasets/mbpp"
    answer_type = CODE
    default_step_format = "tokens:24"  # the paper's code setting
    default_temperature = 0.2  # the paper's code setting
    executes_code = True
    executor = None  # set by `with_executor`; None = grading is refused

    def load(self, split: str, data_dir: Path | None = None, **options: Any) -> list[Problem]:
        rows = self._rows(split, data_dir)
        lo, hi = SPLITS[split]
        problems = [
            self._problem(split, row, where) for where, row in rows if lo <= int(require(row, "task_id", where)) <= hi
        ]
        return sorted(problems, key=lambda p: p.meta["task_id"])

    def _rows(self, split: str, data_dir: Path | None) -> list[tuple[str, dict]]:
        if data_dir is None:
            return hub_rows(self.hub, split, name="full")
        return jsonl_rows(local_file(data_dir, "mbpp", "mbpp.jsonl"))

    def _problem(self, split: str, row: dict, where: str) -> Problem:
        task_id = int(require(row, "task_id", where))
        tests = [str(t) for t in require(row, "test_list", where)]
        if not tests:
            raise QstarError(f"{where}: MBPP task {task_id} has an empty test_list; nothing to grade it by")
        setup = str(row.get("test_setup_code") or "")
        return Problem(
            id=f"mbpp/{split}/{task_id}",
            question=question_text(str(require(row, "text", where)), tests),
            reference=test_code(setup, tests),
            solution=_clean(require(row, "code", where)),
            meta={
                "task_id": task_id,
                "test_list": tests,
                "test_setup_code": setup,
                "challenge_test_list": list(row.get("challenge_test_list") or []),
            },
        )

    # --- prompting ---------------------------------------------------------------------------

    def messages(self, problem: Problem, num_shots: int = 0) -> list[dict]:
        if not 0 <= num_shots <= len(FEW_SHOT_IDS):
            raise QstarError(
                f"num_shots must be between 0 and {len(FEW_SHOT_IDS)} for MBPP (got {num_shots}); "
                "the exemplars are tasks 2, 3 and 4, as in the MBPP paper"
            )
        messages: list[dict] = []
        for shot in EXEMPLARS[:num_shots]:
            messages.append({"role": "user", "content": PROMPT.format(question=shot.question)})
            messages.append({"role": "assistant", "content": f"```python\n{shot.code}\n```"})
        messages.append({"role": "user", "content": PROMPT.format(question=problem.question)})
        return messages

    # --- grading -----------------------------------------------------------------------------

    def with_executor(self, executor) -> MBPP:
        graded = copy.copy(self)
        graded.executor = executor
        return graded

    def extract_answer(self, completion: str) -> str | None:
        return extract_code(completion)

    def is_correct(self, completion: str, problem: Problem) -> bool:
        return self.grade_batch([completion], [problem])[0].correct

    def grade_batch(self, completions: list[str], problems: list) -> list[Grade]:
        """Run every completion's program with its problem's tests, in parallel in the sandbox."""
        if self.executor is None:
            raise QstarError(
                f"grading MBPP runs model-written code; pass {FLAG} (or set execution.allow_code=true) to allow it"
            )
        codes = [extract_code(text) for text in completions]
        todo = [i for i, code in enumerate(codes) if code is not None]
        results = self.executor.run_many([program(codes[i], problems[i].reference) for i in todo])
        grades = [Grade(False, "no_code", "no code in the completion") for _ in completions]
        for i, result in zip(todo, results):
            grades[i] = Grade(result.passed, result.status, result.detail, strict=result.passed)
        return grades

    def rule_utility(self, question, steps: list[str], step: str) -> float:
        """R_P for A* (`--utility rule`): -1 when the program so far has a syntax error that no
        continuation can fix (the paper's rule for code), plus -1 when the step repeats an
        earlier step verbatim (a loop the small models fall into)."""
        penalty = SYNTAX_PENALTY if prefix_syntax_error("".join(steps) + step) else 0.0
        if step.strip() and step.strip() in {s.strip() for s in steps}:
            penalty += REPEAT_PENALTY
        return penalty


# The MBPP paper's few-shot tasks (2, 3, 4), with their reference code.
EXEMPLARS = (
    _Shot(
        question_text(
            "Write a function to find the similar elements from the given two tuple lists.",
            [
                "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
                "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
                "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
            ],
        ),
        "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res) ",
    ),
    _Shot(
        question_text(
            "Write a python function to identify non-prime numbers.",
            ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True", "assert is_not_prime(35) == True"],
        ),
        "import math\ndef is_not_prime(n):\n    result = False\n    for i in range(2,int(math.sqrt(n)) + 1):\n"
        "        if n % i == 0:\n            result = True\n    return result",
    ),
    _Shot(
        question_text(
            "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
            [
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
            ],
        ),
        "import heapq as hq\ndef heap_queue_largest(nums,n):\n  largest_nums = hq.nlargest(n, nums)\n"
        "  return largest_nums",
    ),
)
