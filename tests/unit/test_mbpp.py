"""MBPP: splits, prompt, code extraction, the reward (with test_setup_code) and the rule utility.

Reward tests run real programs through the sandbox (a few, with short limits); values of the rule
utility are worked out by hand in the comments.
"""

from __future__ import annotations

import json

import pytest

from qstar_cli.config import CollectConfig, EvalConfig, resolve
from qstar_cli.datasets import get_dataset, load_problems
from qstar_cli.datasets.mbpp import EXEMPLARS, FEW_SHOT_IDS, MBPP, program
from qstar_cli.errors import QstarError
from qstar_cli.execution import Executor, Limits
from qstar_cli.grading.code import extract_code, prefix_syntax_error
from tests.conftest import DATA_DIR, needs_data, needs_local_data

FAST = Limits(wall_seconds=5.0, cpu_seconds=5, memory_mb=512)


@pytest.fixture(scope="module")
def graded():
    return get_dataset("mbpp").with_executor(Executor(FAST, workers=2))


@pytest.fixture(scope="module")
def rows():
    return {r["task_id"]: r for r in map(json.loads, (DATA_DIR / "mbpp" / "mbpp.jsonl").read_text().splitlines())}


@needs_data
def test_standard_splits_by_task_id():
    sizes = {}
    for split, (lo, hi) in {
        "test": (11, 510),
        "train": (601, 974),
        "validation": (511, 600),
        "prompt": (1, 10),
    }.items():
        problems = load_problems("mbpp", split, DATA_DIR)
        ids = [p.meta["task_id"] for p in problems]
        assert ids == list(range(lo, hi + 1))
        assert problems[0].id == f"mbpp/{split}/{lo}"
        sizes[split] = len(problems)
    assert sizes == {"test": 500, "train": 374, "validation": 90, "prompt": 10}


@needs_local_data
def test_prompt_is_the_mbpp_paper_prompt_with_its_few_shot_tasks(rows):
    problem = load_problems("mbpp", "test", DATA_DIR)[0]  # task 11
    messages = get_dataset("mbpp").messages(problem, num_shots=3)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3 + ["user"]
    assert messages[-1]["content"] == (
        "You are an expert Python programmer, and here is your task: Write a python function to remove first and "
        "last occurrence of a given character from the string. Your code should pass these tests:\n\n"
        + "\n".join(rows[11]["test_list"])
    )
    for shot, task_id in zip(EXEMPLARS, FEW_SHOT_IDS):  # the shipped exemplars are the file's tasks 2, 3, 4
        assert shot.code == rows[task_id]["code"].replace("\r\n", "\n")
        assert shot.question.startswith(rows[task_id]["text"])
    assert messages[1]["content"].startswith("```python\ndef similar_elements(")
    with pytest.raises(QstarError, match="between 0 and 3"):
        get_dataset("mbpp").messages(problem, num_shots=4)


def test_defaults_for_code_are_the_papers():
    assert MBPP.default_step_format == "tokens:24"
    assert resolve(CollectConfig, None, ["data.name=mbpp"], {}).sampling.temperature == 0.2
    assert resolve(CollectConfig, None, ["data.name=gsm8k"], {}).sampling.temperature == 0.9  # math unchanged
    assert resolve(CollectConfig, None, ["data.name=mbpp", "sampling.temperature=0.7"], {}).sampling.temperature == 0.7
    assert resolve(EvalConfig, None, ["data.name=mbpp", "eval.search=mcts"], {}).eval.temperature == 0.2
    greedy = resolve(EvalConfig, None, ["data.name=mbpp", "eval.search=greedy"], {})  # greedy reads no temperature
    assert greedy.eval.temperature == 0.9


@pytest.mark.parametrize(
    "completion, code",
    [
        ("Sure:\n```python\ndef f(x):\n    return x\n```\nIt returns x.", "def f(x):\n    return x"),
        ("```py\nimport re\n```\n```python\nprint(2)\n```", "import re"),  # the first python block
        ("```\ndef g():\n    pass\n```", "def g():\n    pass"),  # an untagged block
        ("```python\ndef f(x):\n    return x + 1\n", "def f(x):\n    return x + 1"),  # unclosed: runs to the end
        ("def f(x):\n    return x\nThis returns its argument.", "def f(x):\n    return x"),  # bare, prose dropped
        (
            "Here it is.\n[BEGIN]\nimport math\ndef f():\n    return math.pi\n[DONE]",
            "import math\ndef f():\n    return math.pi",
        ),
        ("I cannot help with that.", None),
        ("```python\n\n```", None),
    ],
)
def test_code_extraction(completion, code):
    assert extract_code(completion) == code


@needs_data
def test_reward_runs_the_tests_with_the_setup_code(graded):
    problems = {p.meta["task_id"]: p for p in load_problems("mbpp", "train", DATA_DIR)}
    tree = problems[927]  # setup code builds trees of the solution's own Node class
    assert tree.meta["test_setup_code"] and tree.reference.startswith("root = Node(1)")
    grades = graded.grade_batch(
        [
            f"```python\n{tree.solution}\n```",
            "```python\nclass Node:\n    def __init__(self, data):\n        self.data = data\n"
            "        self.left = self.right = None\ndef max_height(node):\n    return 3\n```",
            "```python\ndef max_height(node):\n    return 0\n```",  # no Node class: the setup code fails
            "no code at all",
        ],
        [tree] * 4,
    )
    assert [(g.correct, g.status) for g in grades] == [
        (True, "passed"),
        (False, "assertion"),
        (False, "exception"),
        (False, "no_code"),
    ]
    assert grades[2].detail == "NameError"


def test_grading_without_an_executor_is_refused():
    with pytest.raises(QstarError, match="--allow-code-execution"):
        get_dataset("mbpp").is_correct("def f(): pass", None)


def test_program_puts_the_tests_after_the_code():
    assert program("def f():\n    return 1", "assert f() == 1") == "def f():\n    return 1\n\nassert f() == 1\n"


@pytest.mark.parametrize(
    "text, broken",
    [
        ("```python\ndef f(a, b):\n    return a +", False),  # the last line is unfinished: could continue
        ("```python\ndef f(a, b):\n", False),  # an open block
        ("```python\nx = [1,\n", False),  # an open bracket
        ("```python\ndef f(a b):\n", True),  # no continuation fixes this line
        ("```python\ndef f(a):\n    return a\n  y = 1\n", True),  # inconsistent dedent
        ("```python\ndef f(a):\n```", True),  # a closed block must compile as it is
        ("```python\ndef f(a):\n    return a\n```\nDone.", False),
        ("```pyth", False),  # the fence itself is unfinished
        ("Let me think about it.\n", False),  # prose, no code yet
    ],
)
def test_prefix_syntax_error(text, broken):
    assert prefix_syntax_error(text) is broken


def test_rule_utility_values():
    rule = MBPP().rule_utility
    fence = "```python\n"
    assert rule(None, [fence], "def f(a, b):\n    return a +") == 0.0  # fine so far: 0
    assert rule(None, [fence], "def f(a b):\n    return a\n") == -1.0  # syntax error: -1
    assert rule(None, [fence, "x = 1\n"], "x = 1\n") == -1.0  # repeats an earlier step: -1
    assert rule(None, [fence + "def f(a b):\n", "x = 1\n"], "x = 1\n") == -2.0  # both: -1 + -1


def test_label_needs_the_flag_itself(tmp_path):
    from qstar_cli.config import LabelConfig
    from qstar_cli.stages.label import grader, input_base

    (tmp_path / "config.yaml").write_text("data: {name: mbpp}\nexecution: {allow_code: true, timeout: 3.0}\n")
    base = input_base(str(tmp_path))
    assert base["execution"] == {"timeout": 3.0}  # limits are inherited, the permission is not
    config = resolve(LabelConfig, None, [], {}, base=base)
    with pytest.raises(QstarError, match="--allow-code-execution"):
        grader(config)
    config.execution.allow_code = True
    _dataset, grade = grader(config)
    record = {"id": "mbpp/train/601", "question": "q", "reference": "assert f() == 1"}
    assert grade.many([(record, "```python\ndef f():\n    return 1\n```"), (record, "def f(): return 2")]) == [1.0, 0.0]
