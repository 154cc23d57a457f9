"""Tests for qstar_cli.datasets against the real benchmark files in shared/data.

The data dir is $QSTAR_DATA_DIR or ../shared/data beside the repository; without it, tests that
need data read the Hugging Face hub, and are skipped when that cannot be reached either. Besides
row counts and unique ids, each reference is checked against the dataset's own reference solution
where one exists, which is how the known label quirks below were found. Hub loading is tested with
stand-ins for `datasets` and `huggingface_hub` (no network).
"""

from __future__ import annotations

import ast
import json
import operator
import random
import sys
import types
from pathlib import Path

import pytest

from qstar_cli.datasets import DATASETS, Problem, get_dataset, load_problems, resolve_data_dir
from qstar_cli.datasets.exemplars import MATH_EXEMPLARS, NUMERIC_EXEMPLARS
from qstar_cli.errors import QstarError
from qstar_cli.grading import extract_numeric, last_boxed, numbers_equal
from tests.conftest import DATA_DIR, needs_data, needs_local_data

COUNTS = [
    ("gsm8k", "train", {}, 7473),
    ("gsm8k", "test", {}, 1319),
    ("math", "test", {}, 5000),
    ("math", "train", {}, 4500),
    ("math500", "test", {}, 500),
    ("mgsm", "test", {"subset": "en"}, 250),
    ("mgsm", "test", {"subset": "zh"}, 250),
    ("svamp", "test", {}, 1000),
    ("mawps", "test", {}, 2065),
]

_cache: dict = {}


def problems(name: str, split: str, **options) -> list[Problem]:
    key = (name, split, tuple(sorted(options.items())))
    if key not in _cache:
        _cache[key] = load_problems(name, split, DATA_DIR, **options)
    return _cache[key]


# --- the real files ----------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("name, split, options, count", COUNTS)
def test_counts_unique_ids_and_references(name, split, options, count):
    loaded = problems(name, split, **options)
    assert len(loaded) == count
    assert len({p.id for p in loaded}) == count
    assert all(p.question.strip() and p.reference for p in loaded)
    assert all(p.id.split("/")[1] == split for p in loaded)


@needs_data
@pytest.mark.parametrize("split", ["train", "test"])
def test_gsm8k_reference_matches_its_solution(split):
    dataset = get_dataset("gsm8k")
    loaded = problems("gsm8k", split)
    wrong = [p.id for p in loaded if not dataset.is_correct(f"{p.solution}\nThe answer is {p.reference}.", p)]
    assert wrong == []
    assert all("<<" not in p.solution and "####" not in p.solution for p in loaded)
    # Flexible extraction (last number) on the bare solution: most solutions end on the answer.
    misses = sum(not dataset.is_correct(p.solution, p) for p in loaded)
    assert misses < 0.04 * len(loaded)
    if split == "test":
        assert loaded[0].reference == "18"
        assert loaded[0].solution.endswith("She makes 9 * 2 = $18 every day at the farmer’s market.")
        assert any(p.reference == "2125" for p in loaded)  # "#### 2,125"


@needs_data
@pytest.mark.parametrize("split", ["train", "test"])
def test_math_solutions_grade_as_correct(split):
    dataset = get_dataset("math")
    sample = random.Random(0).sample(problems("math", split), 100)
    failures = [(p.id, p.reference) for p in sample if not dataset.is_correct(p.solution, p)]
    assert failures == [], f"MATH solutions not graded correct against their own reference: {failures}"


@needs_data
def test_math_train_is_math_test_minus_math500():
    held_out = {" ".join(p.question.split()) for p in problems("math500", "test")}
    train = problems("math", "train")
    assert not any(" ".join(p.question.split()) in held_out for p in train)
    test_ids = {p.id.replace("/test/", "/train/") for p in problems("math", "test")}
    assert {p.id for p in train} < test_ids
    assert {p.meta["level"] for p in train} == {1, 2, 3, 4, 5}
    assert "Precalculus" in {p.meta["type"] for p in train}


@needs_data
def test_math500_answers_agree_with_math_and_own_solutions():
    dataset = get_dataset("math500")
    by_text = {" ".join(p.question.split()): p for p in problems("math", "test")}
    for p in problems("math500", "test"):
        assert dataset.is_correct(p.solution, p), p.id
        assert dataset.is_correct(f"\\boxed{{{by_text[' '.join(p.question.split())].reference}}}", p), p.id
    first = problems("math500", "test")[0]
    assert first.reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert dataset.is_correct("So the answer is $\\boxed{(3,\\frac{\\pi}{2})}$.", first)


@needs_data
def test_math_last_boxed_quirks():
    # Known MATH label quirks of the last-\boxed convention (all outside MATH-500, so in train):
    # "all solutions" problems that box each solution keep only the last one.
    by_id = {p.id: p for p in problems("math", "test")}
    assert by_id["math/test/414"].reference == "1"  # true answer: -2, 1
    assert by_id["math/test/2656"].reference == "10879"  # true answer: -10879, 10879
    assert by_id["math/test/4060"].reference == "12"  # the solution says it deliberately boxed no answer; it is 6


@needs_data
def test_mgsm_en_matches_gsm8k_test():
    english, chinese = problems("mgsm", "test", subset="en"), problems("mgsm", "test", subset="zh")
    gsm8k = problems("gsm8k", "test")[:250]
    assert [p.reference for p in english] == [p.reference for p in gsm8k]
    assert [p.reference for p in chinese] == [p.reference for p in gsm8k]
    assert english[0].id == "mgsm_en/test/0" and chinese[0].meta == {"language": "zh"}


@needs_data
def test_svamp_question_and_equations():
    loaded = problems("svamp", "test")
    first = loaded[0]
    assert first.question == (
        "There are 87 oranges and 290 bananas in Philip's collection. If the bananas are organized into 2 groups "
        "and oranges are organized into 93 groups. How big is each group of bananas?"
    )
    assert first.reference == "145"
    # Only the joining adds periods; the one ".." comes from the source ("154 cards left..").
    assert [p.meta["source_id"] for p in loaded if ".." in p.question] == ["chal-410"]
    wrong = [p.meta["source_id"] for p in loaded if not numbers_equal(_evaluate(p.meta["equation"]), p.reference)]
    assert wrong == ["chal-680"]  # label error in SVAMP: (4 - 2) + 3 apples, labelled 1


@needs_data
def test_mawps_fields():
    loaded = problems("mawps", "test")
    assert loaded[0].reference == "43"
    assert {p.meta["type"] for p in loaded} == {"addsub", "singleop", "singleeq", "multiarith"}
    assert any(p.reference == "11.5" for p in loaded)  # float targets keep their decimals


def _evaluate(expression: str) -> float:
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def walk(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return ops[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(expression)

    return walk(ast.parse(expression, mode="eval").body)


# --- errors ----------------------------------------------------------------------------------


def test_unknown_dataset_lists_known_names():
    with pytest.raises(QstarError, match="unknown dataset 'gsm9k'.*gsm8k.*math500"):
        get_dataset("gsm9k")


GOOD_GSM8K_ROW = json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"})


@pytest.mark.parametrize(
    "name, split, options, files, message",
    [
        ("gsm8k", "validation", {}, {}, "no split 'validation'; valid splits: train, test"),
        ("gsm8k", "test", {"subset": "en"}, {}, "dataset 'gsm8k' has no option 'subset'; its options: none"),
        ("gsm8k", "test", {}, {}, r"gsm8k/test\.jsonl not found; point --data-dir"),
        ("math", "train", {}, {"math/test.jsonl": ""}, r"math500/test\.jsonl not found"),
        ("mgsm", "test", {"subset": "fr"}, {"mgsm/mgsm_en.tsv": "q\t1\n"}, r"'fr' not found.*languages present: en"),
        # a malformed file names the file and the line
        (
            "gsm8k",
            "test",
            {},
            {"gsm8k/test.jsonl": f"{GOOD_GSM8K_ROW}\n\n{{not json\n"},
            r"test\.jsonl:3: malformed JSON",
        ),
        (
            "gsm8k",
            "test",
            {},
            {"gsm8k/test.jsonl": '{"question": "q", "answer": "42"}\n'},
            r"test\.jsonl:1: .*no '#### ",
        ),
        (
            "svamp",
            "test",
            {},
            {"svamp/test.jsonl": '{"Body": "b", "Answer": 1}\n'},
            r"test\.jsonl:1: missing field 'Question'",
        ),
        (
            "mgsm",
            "test",
            {},
            {"mgsm/mgsm_en.tsv": 'He said "hi".\t3\nno tab\n'},
            r"mgsm_en\.tsv:2: expected 'question<TAB>",
        ),
    ],
)
def test_user_errors(tmp_path, name, split, options, files, message):
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    with pytest.raises(QstarError, match=message):
        load_problems(name, split, tmp_path, **options)


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("QSTAR_DATA_DIR", raising=False)
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("QSTAR_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_data_dir(str(other)) == other  # the flag wins over the environment
    with pytest.raises(QstarError, match=r"missing \(from --data-dir\) does not exist"):
        resolve_data_dir(tmp_path / "missing")
    monkeypatch.setenv("QSTAR_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(QstarError, match="QSTAR_DATA_DIR"):
        resolve_data_dir(None)


# --- the user's own jsonl ------------------------------------------------------------------------


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_jsonl_custom_fields(tmp_path):
    path = _write(
        tmp_path / "mine.jsonl", [{"q": "2+2?", "a": "4", "key": "x1"}, {"q": "1,000+1?", "a": 1001.0, "key": "x2"}]
    )
    loaded = load_problems("jsonl", "dev", None, path=str(path), question_field="q", answer_field="a", id_field="key")
    assert [(p.id, p.question, p.reference) for p in loaded] == [
        ("mine/dev/x1", "2+2?", "4"),
        ("mine/dev/x2", "1,000+1?", "1001"),
    ]
    dataset = get_dataset("jsonl")
    assert dataset.is_correct("2 + 2 = 4.\nThe answer is 4.", loaded[0])
    assert not dataset.is_correct("The answer is 5.", loaded[0])


def test_jsonl_default_ids_and_math_answers(tmp_path):
    path = _write(tmp_path / "alg.jsonl", [{"question": "Half of 1?", "answer": "\\frac{1}{2}"}])
    [problem] = load_problems("jsonl", "test", None, path=path, answer_type="math")
    assert problem.id == "alg/test/0" and problem.meta["answer_type"] == "math"
    dataset = get_dataset("jsonl", answer_type="math")
    assert dataset.extract_answer("so $\\boxed{0.5}$") == "0.5"
    assert dataset.is_correct("so $\\boxed{0.5}$", problem)
    assert "\\boxed{}" in dataset.messages(problem)[-1]["content"]
    # Grading follows the problem's own answer type even through the unconfigured dataset.
    assert get_dataset("jsonl").is_correct("so $\\boxed{0.5}$", problem)


def test_jsonl_missing_field_names_file_line_and_field(tmp_path):
    path = _write(tmp_path / "mine.jsonl", [{"question": "q1", "answer": 1}, {"question": "q2"}])
    with pytest.raises(QstarError, match=r"mine\.jsonl:2: missing field 'answer'"):
        load_problems("jsonl", "test", None, path=str(path))


def test_jsonl_errors(tmp_path):
    with pytest.raises(QstarError, match="path=FILE"):
        load_problems("jsonl", "test", None)
    with pytest.raises(QstarError, match="file not found"):
        load_problems("jsonl", "test", None, path=str(tmp_path / "nope.jsonl"))
    path = _write(tmp_path / "mine.jsonl", [{"question": "q", "answer": "seven"}])
    with pytest.raises(
        QstarError,
        match=r"1 of the 1 questions .* not a number: \S*mine\.jsonl:1 'seven'; "
        r"skip such rows with --set data\.skip_ungradable=true",
    ):
        load_problems("jsonl", "test", None, path=str(path))
    with pytest.raises(QstarError, match="unknown answer_type 'text'"):
        load_problems("jsonl", "test", None, path=str(path), answer_type="text")
    dupes = _write(
        tmp_path / "dupes.jsonl", [{"id": 1, "question": "q", "answer": 1}, {"id": 1, "question": "r", "answer": 2}]
    )
    with pytest.raises(QstarError, match="duplicate problem ids"):
        load_problems("jsonl", "test", None, path=str(dupes), id_field="id")


SVAMP_SHAPED = [  # the question in two fields, as SVAMP and many word-problem sets store it
    {
        "ID": "a",
        "Body": "Tom has 3 apples.",
        "Question": "How many after he buys 4?",
        "Answer": 7.0,
        "Rationale": "He buys 4 more.\n3 + 4 = 7.",
    },
    {
        "ID": "b",
        "Body": "A box holds 6 eggs.",
        "Question": "How many in 2 boxes?",
        "Answer": 12.0,
        "Rationale": "2 * 6 = 12.\nThe answer is 12.",
    },
    {"ID": "c", "Body": "Sam had 10 pens.", "Question": "He lost 4. How many are left?", "Answer": 6.0},
]


def test_jsonl_question_and_answer_templates_over_several_fields(tmp_path):
    path = _write(tmp_path / "wp.jsonl", SVAMP_SHAPED)
    problems = load_problems(
        "jsonl",
        "test",
        None,
        path=str(path),
        id_field="ID",
        question_template="{Body} {Question}",
        answer_template="{Answer}",
    )
    assert [(p.id, p.question, p.reference) for p in problems] == [
        ("wp/test/a", "Tom has 3 apples. How many after he buys 4?", "7"),
        ("wp/test/b", "A box holds 6 eggs. How many in 2 boxes?", "12"),
        ("wp/test/c", "Sam had 10 pens. He lost 4. How many are left?", "6"),
    ]
    with pytest.raises(QstarError, match=r"wp\.jsonl:1: missing field 'Context'"):
        load_problems("jsonl", "test", None, path=str(path), question_template="{Context} {Question}")
    with pytest.raises(QstarError, match="use named fields"):
        load_problems("jsonl", "test", None, path=str(path), question_template="{Body.__class__}")


def test_jsonl_exemplars_from_the_same_file(tmp_path):
    path = _write(tmp_path / "wp.jsonl", SVAMP_SHAPED)
    options = dict(
        path=str(path),
        id_field="ID",
        question_template="{Body} {Question}",
        answer_field="Answer",
        solution_field="Rationale",
        exemplar_rows=["b", "a"],
    )
    problems = load_problems("jsonl", "test", None, **options)
    assert [p.id for p in problems] == ["wp/test/c"]  # exemplar rows leave the problems
    messages = get_dataset("jsonl", **options).messages(problems[0], num_shots=2)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert "A box holds 6 eggs. How many in 2 boxes?" in messages[0]["content"]  # in the order given
    assert messages[1]["content"] == "2 * 6 = 12.\nThe answer is 12."  # states its answer: kept as is
    # a solution without the final-answer line gets it, so the shots teach the format graded
    assert messages[3]["content"] == "He buys 4 more.\n3 + 4 = 7.\nThe answer is 7."
    assert "Sam had 10 pens." in messages[4]["content"]
    with pytest.raises(QstarError, match="names 2 rows"):
        get_dataset("jsonl", **options).messages(problems[0], num_shots=3)
    with pytest.raises(QstarError, match="needs their worked solutions"):
        load_problems("jsonl", "test", None, **{**options, "solution_field": None})
    with pytest.raises(QstarError, match="rows .* does not have: z"):
        load_problems("jsonl", "test", None, **{**options, "exemplar_rows": ["a", "z"]})
    with pytest.raises(QstarError, match="exemplar_rows"):
        get_dataset("jsonl", path=str(path)).messages(problems[0], num_shots=1)


def test_jsonl_options_reach_the_dataset_from_the_config_and_others_refuse_them(tmp_path):
    from qstar_cli.config import EvalConfig, resolve
    from qstar_cli.stages.common import select_problems

    path = _write(tmp_path / "wp.jsonl", SVAMP_SHAPED)
    config = resolve(
        EvalConfig,
        None,
        [
            "data.name=jsonl",
            f"data.path={path}",
            "data.id_field=ID",
            "data.question_template={Body} {Question}",
            "data.answer_field=Answer",
            "data.solution_field=Rationale",
            "data.exemplar_rows=[a]",
            "eval.search=greedy",
        ],
        {},
    )
    dataset, problems, total = select_problems(config.data)
    assert total == 2 and problems[0].question == "A box holds 6 eggs. How many in 2 boxes?"
    assert len(dataset.messages(problems[0], num_shots=1)) == 3
    gsm = resolve(EvalConfig, None, ["data.name=gsm8k", "data.question_template={q}", "eval.search=greedy"], {})
    with pytest.raises(QstarError, match="dataset 'gsm8k' does not take data.question_template"):
        select_problems(gsm.data)


# Ten rows, two of them (lines 4 and 8) with word answers no grader can read; "9 (apples)" keeps its
# unit and is graded as the number 9.
WORDY = [
    {"question": f"q{i}", "answer": answer}
    for i, answer in enumerate(["1", "2", "3", "Yes", "5", "6", "7", "Alice", "9 (apples)", "10"])
]


def _select(tmp_path, *sets):
    from qstar_cli.config import EvalConfig, resolve
    from qstar_cli.stages.common import select_problems

    path = _write(tmp_path / "wordy.jsonl", WORDY)
    config = resolve(EvalConfig, None, ["data.name=jsonl", f"data.path={path}", "eval.search=greedy", *sets], {})
    return config, select_problems(config.data)


@pytest.fixture
def stderr_text(monkeypatch):
    """What qstar prints to stderr, unwrapped (rich would wrap long paths at the console width)."""
    import io

    from rich.console import Console

    from qstar_cli import ui

    buffer = io.StringIO()
    monkeypatch.setattr(ui, "err", Console(file=buffer, width=10_000))
    return lambda: " ".join(buffer.getvalue().split())


def test_jsonl_skip_ungradable_rows_counts_and_names_them(tmp_path, stderr_text):
    from qstar_cli.stages.common import question_inputs

    config, (dataset, problems, total) = _select(tmp_path, "data.skip_ungradable=true")
    assert total == 8
    assert [p.id for p in problems] == [f"wordy/test/{i}" for i in (0, 1, 2, 4, 5, 6, 8, 9)]
    assert problems[6].reference == "9" and dataset.is_correct("The answer is 9.", problems[6])
    printed = stderr_text()
    assert "skipped 2 of the 10 rows of" in printed, printed
    assert "wordy.jsonl:4 'Yes', " in printed and "wordy.jsonl:8 'Alice'" in printed, printed
    # the run records what left the denominator
    assert question_inputs(config.data, problems)["skipped_ungradable"] == {
        "count": 2,
        "rows": 10,
        "ids": ["wordy/test/3", "wordy/test/7"],
    }
    # offset and limit count the gradable questions: --limit 4 is four questions
    _, (_, problems, total) = _select(tmp_path, "data.skip_ungradable=true", "data.limit=4")
    assert total == 4 and [p.id for p in problems] == [f"wordy/test/{i}" for i in (0, 1, 2, 4)]
    # a file without such rows records nothing (the inputs of runs made before the option stay as they were)
    clean = _write(tmp_path / "clean.jsonl", WORDY[:3])
    from qstar_cli.config import EvalConfig, resolve
    from qstar_cli.stages.common import select_problems

    config = resolve(
        EvalConfig,
        None,
        ["data.name=jsonl", f"data.path={clean}", "eval.search=greedy", "data.skip_ungradable=true"],
        {},
    )
    assert "skipped_ungradable" not in question_inputs(config.data, select_problems(config.data)[1])


def test_jsonl_ungradable_rows_refuse_only_inside_the_selection(tmp_path, stderr_text):
    # a slice without them runs (a bad row further on must not block --limit 3), with a warning
    _, (_, problems, total) = _select(tmp_path, "data.limit=3")
    assert total == 3 and [p.reference for p in problems] == ["1", "2", "3"]
    assert "2 rows of" in stderr_text() and "data.skip_ungradable=true" in stderr_text()
    _, (_, problems, _) = _select(tmp_path, "data.offset=4", "data.limit=3")
    assert [p.id for p in problems] == ["wordy/test/4", "wordy/test/5", "wordy/test/6"]
    # a slice with one: refused, naming the count, the row and the option (and nothing that fails)
    with pytest.raises(QstarError) as refused:
        _select(tmp_path, "data.limit=5")
    message = str(refused.value)
    assert message.startswith("1 of the 5 questions selected from") and "wordy.jsonl:4 'Yes'" in message
    assert "--set data.skip_ungradable=true" in message and "answer_type" not in message
    with pytest.raises(QstarError, match=r"2 of the 10 questions .*wordy\.jsonl:4 'Yes', \S*wordy\.jsonl:8 'Alice'"):
        _select(tmp_path)


def test_jsonl_skip_ungradable_is_a_jsonl_option(tmp_path):
    from qstar_cli.config import EvalConfig, resolve
    from qstar_cli.stages.common import select_problems

    config = resolve(EvalConfig, None, ["data.name=gsm8k", "data.skip_ungradable=true", "eval.search=greedy"], {})
    with pytest.raises(QstarError, match="dataset 'gsm8k' does not take data.skip_ungradable"):
        select_problems(config.data)
    # load_problems alone skips them too when asked (scripts that read a file)
    path = _write(tmp_path / "wordy.jsonl", WORDY)
    assert len(load_problems("jsonl", "test", None, path=str(path), skip_ungradable=True)) == 8


def test_jsonl_empty_math_answers_are_ungradable(tmp_path):
    path = _write(
        tmp_path / "alg.jsonl",
        [{"question": "Half of 1?", "answer": "\\frac{1}{2}"}, {"question": "Nothing?", "answer": "  "}],
    )
    with pytest.raises(QstarError, match=r"1 of the 2 questions .*alg\.jsonl:2 '  '"):
        load_problems("jsonl", "test", None, path=str(path), answer_type="math")
    [problem] = load_problems("jsonl", "test", None, path=str(path), answer_type="math", skip_ungradable=True)
    assert problem.reference == "\\frac{1}{2}"


# --- grades ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gsm8k", "svamp", "synthetic-arith", "jsonl"])
@pytest.mark.parametrize(
    "completion, correct, strict",
    [
        ("3 + 4 = 7.\nThe answer is 7.", True, True),
        ("#### 7", True, True),
        ("so 3 + 4 = 7", True, False),  # right, but in no final-answer format: flexible only
        ("The answer is 8. Then 3 + 4 = 7", False, False),  # the stated 8 wins over the later 7
        ("so 3 + 4 = 8", False, False),
        ("no number", False, False),
    ],
)
def test_numeric_grades_say_whether_the_answer_was_stated_strictly(name, completion, correct, strict):
    problem = Problem(id="t/test/0", question="What is 3 + 4?", reference="7")
    [grade] = get_dataset(name).grade_batch([completion], [problem])
    assert (grade.correct, grade.strict) == (correct, strict)


def test_math_and_code_grades_are_strict_when_correct():
    problem = Problem(id="t/test/0", question="Half of 1?", reference="\\frac{1}{2}", meta={"answer_type": "math"})
    grades = get_dataset("jsonl").grade_batch(["so $\\boxed{0.5}$", "so $\\boxed{2}$"], [problem] * 2)
    assert [(g.correct, g.strict) for g in grades] == [(True, True), (False, False)]

    class Passes:  # an executor stand-in: only the program that returns 1 passes
        def run_many(self, programs):
            return [
                types.SimpleNamespace(
                    passed="return 1" in p, status="passed" if "return 1" in p else "assertion", detail=None
                )
                for p in programs
            ]

    code = Problem(id="t/test/1", question="f() is 1", reference="assert f() == 1")
    completions = ["```python\ndef f():\n    return 1\n```", "```python\ndef f():\n    return 2\n```", "no code"]
    grades = get_dataset("mbpp").with_executor(Passes()).grade_batch(completions, [code] * 3)
    assert [(g.correct, g.strict, g.status) for g in grades] == [
        (True, True, "passed"),
        (False, False, "assertion"),
        (False, False, "no_code"),
    ]


# --- prompts ---------------------------------------------------------------------------------


def test_messages_and_few_shot():
    problem = Problem(id="t/test/0", question="What is 2 + 3?", reference="5")
    dataset = get_dataset("svamp")
    [message] = dataset.messages(problem)
    assert message["role"] == "user"
    assert "one step per line" in message["content"] and '"The answer is N."' in message["content"]
    assert message["content"].endswith("What is 2 + 3?")
    shots = dataset.messages(problem, num_shots=8)
    assert [m["role"] for m in shots] == ["user", "assistant"] * 8 + ["user"]
    assert dataset.messages(problem) == get_dataset("gsm8k").messages(problem)  # one prompt for all numeric sets
    with pytest.raises(QstarError, match="num_shots must be between 0 and 8"):
        dataset.messages(problem, num_shots=9)
    math_messages = get_dataset("math").messages(problem, num_shots=2)
    assert "\\boxed{}" in math_messages[-1]["content"] and len(math_messages) == 5


def test_exemplars_are_consistent():
    for question, solution in NUMERIC_EXEMPLARS:
        lines = solution.split("\n")
        assert lines[-1].startswith("The answer is ") and lines[-1].endswith(".")
        # The stated answer is the result of the last computation.
        assert extract_numeric(lines[-1]) == extract_numeric(lines[-2].rstrip(" .abcdefghijklmnopqrstuvwxyz")), question
    for question, solution in MATH_EXEMPLARS:
        assert last_boxed(solution), question


def test_registry_is_complete():
    assert set(DATASETS) == {"gsm8k", "math", "math500", "mgsm", "svamp", "mawps", "mbpp", "synthetic-arith", "jsonl"}
    for dataset in DATASETS.values():
        if dataset.name == "mbpp":  # code: token-chunk actions (tests/unit/test_mbpp.py)
            assert dataset.answer_type == "code" and dataset.default_step_format.startswith("tokens:")
        else:
            assert dataset.answer_type in ("numeric", "math") and dataset.default_step_format == "line"
        # only a user's file and the generated synthetic set come from nowhere on the hub
        assert dataset.name in ("jsonl", "synthetic-arith") or dataset.hub


# --- the hub, with stand-ins ---------------------------------------------------------------------


def _fake_datasets(monkeypatch, load_dataset):
    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", module)


def test_hub_rows_are_mapped(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None, data_files=None):
        calls.append((path, name, split, data_files))
        if path == "openai/gsm8k":
            return [{"question": "2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}]
        return [
            {"problem": "p", "solution": "s", "answer": "\\frac12", "subject": "Algebra", "level": 2, "unique_id": "u"}
        ]

    _fake_datasets(monkeypatch, load_dataset)
    [problem] = load_problems("gsm8k", "train", None)
    assert (problem.id, problem.reference, problem.solution) == ("gsm8k/train/0", "4", "2+2=4")
    [problem] = load_problems("math500", "test", None)
    assert problem.reference == "\\frac12" and problem.meta["type"] == "Algebra"
    assert calls == [("openai/gsm8k", "main", "train", None), ("HuggingFaceH4/MATH-500", None, "test", None)]


def test_hub_failure_says_to_use_a_data_dir(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    _fake_datasets(monkeypatch, load_dataset)
    with pytest.raises(
        QstarError, match=r"could not load openai/gsm8k from the Hugging Face hub.*--data-dir.*QSTAR_DATA_DIR"
    ):
        load_problems("gsm8k", "test", None)


@needs_local_data
def test_mgsm_from_the_hub_reads_the_raw_tsv(monkeypatch):
    downloads = []

    def hf_hub_download(repo_id, filename, repo_type):
        downloads.append((repo_id, filename, repo_type))
        return str(DATA_DIR / "mgsm" / filename)

    module = types.ModuleType("huggingface_hub")
    module.hf_hub_download = hf_hub_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    assert len(load_problems("mgsm", "test", None, subset="zh")) == 250
    assert downloads == [("juletxara/mgsm", "mgsm_zh.tsv", "dataset")]
    with pytest.raises(QstarError, match="unknown mgsm subset 'xx'"):
        load_problems("mgsm", "test", None, subset="xx")


def test_jsonl_language_sets_the_prompt_the_exemplars_and_how_numbers_are_read(tmp_path):
    """A Spanish file: "70.000" is seventy thousand in its references and in the answers, the prompt
    asks for "La respuesta es N.", and an exemplar solution without it gets that line."""
    path = tmp_path / "es.jsonl"
    rows = [
        {"id": "a", "q": "¿Cuánto cuesta la casa?", "ans": "70.000", "sol": "70 mil son 70.000"},
        {"id": "b", "q": "¿Cuánto es 2,5 + 1?", "ans": "3,5"},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    options = {"path": str(path), "question_field": "q", "answer_field": "ans", "id_field": "id"}
    spanish = get_dataset("jsonl", **options, language="es", exemplar_rows=["a"], solution_field="sol")
    (problem,) = load_problems(
        "jsonl", "test", None, **options, language="es", exemplar_rows=["a"], solution_field="sol"
    )
    assert problem.reference == "3.5"
    (english,) = [p for p in load_problems("jsonl", "test", None, **options) if p.id.endswith("/a")]
    assert english.reference == "70"  # the same file read as English: 70.000 is seventy
    house = Problem(id="x", question="?", reference="70000", meta={"answer_type": "numeric", "language": "es"})
    assert spanish.is_correct("La casa cuesta 70.000 dólares.", house)
    assert not get_dataset("jsonl", **options).is_correct(
        "La casa cuesta 70.000 dólares.", Problem(id="x", question="?", reference="70000")
    )
    messages = spanish.messages(problem, num_shots=1)
    assert "La respuesta es N." in messages[0]["content"] and "Problema:" in messages[0]["content"]
    assert messages[1]["content"].endswith("La respuesta es 70000.")
    with pytest.raises(QstarError, match="data.language: unknown language 'xx'"):
        get_dataset("jsonl", **options, language="xx")
    with pytest.raises(QstarError, match="does not take data.language"):
        from qstar_cli.config import EvalConfig, resolve
        from qstar_cli.stages.common import dataset_options

        dataset_options(resolve(EvalConfig, None, ["data.name=gsm8k", "data.language=es"], {}).data)
