"""MGSM in its own languages: the prompt, the `--num-shots` exemplars and the grading all follow
the question's language, offline, and a language without exemplars is one clear error."""

from __future__ import annotations

import pytest

from qstar_cli.datasets import Problem, get_dataset, load_problems
from qstar_cli.datasets.exemplars import NUMERIC_EXEMPLARS
from qstar_cli.datasets.mgsm import LANGUAGES as MGSM_LANGUAGES
from qstar_cli.datasets.mgsm import all_exemplars
from qstar_cli.datasets.prompts import NUMERIC_INSTRUCTIONS, PROBLEM_LABELS, numeric_instruction
from qstar_cli.errors import QstarError
from qstar_cli.grading import extract_numeric
from qstar_cli.grading.numeric import LANGUAGES, answer_line
from tests.conftest import DATA_DIR, needs_local_data

ANSWERS = ["11", "29", "39", "9", "33", "8", "8", "5"]  # MGSM's eight exemplars, in every language

MGSM_EXEMPLARS = all_exemplars()


def mgsm_problem(language: str, question: str = "Q?", reference: str = "18") -> Problem:
    return Problem(id=f"mgsm_{language}/test/0", question=question, reference=reference, meta={"language": language})


def test_every_language_has_a_prompt():
    assert set(NUMERIC_INSTRUCTIONS) == set(LANGUAGES) == set(PROBLEM_LABELS)
    for code in LANGUAGES:
        assert answer_line(code, "N") in numeric_instruction(code), code
    # English is the prompt every numeric dataset had before
    assert (
        numeric_instruction()
        == numeric_instruction("en")
        == (
            "Solve the following math problem step by step. Write one step per line. "
            'Finish with a line of the form "The answer is N." where N is a number.'
        )
    )


def test_mgsm_exemplars_in_every_mgsm_language():
    assert set(MGSM_EXEMPLARS) == set(MGSM_LANGUAGES)
    for code, shots in MGSM_EXEMPLARS.items():
        assert len(shots) == 8, code
        for (question, solution), answer in zip(shots, ANSWERS):
            lines = solution.split("\n")
            assert question.strip() and len(lines) >= 2, (code, question)
            assert lines[-1] == answer_line(code, answer), (code, lines[-1])
            assert answer in lines[-2], (code, lines[-2])  # the last step computes the answer
            for language in (code, None):
                assert extract_numeric(solution, strict=True, language=language) == answer, (code, language)
        if code != "en":
            assert not {q for q, _ in shots} & {q for q, _ in MGSM_EXEMPLARS["en"]}, code


@pytest.mark.parametrize("code", MGSM_LANGUAGES)
def test_mgsm_prompt_and_shots_are_in_the_question_language(code):
    dataset = get_dataset("mgsm", subset=code)
    messages = dataset.messages(mgsm_problem(code, "Question in the language?"), num_shots=8)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 8 + ["user"]
    instruction = numeric_instruction(code)
    assert all(m["content"].startswith(instruction) for m in messages if m["role"] == "user")
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [s for _, s in MGSM_EXEMPLARS[code]]
    assert MGSM_EXEMPLARS[code][0][0] in messages[0]["content"]
    assert messages[-1]["content"].endswith("Question in the language?")
    if code != "en":
        assert not any("The answer is" in m["content"] for m in messages)


def test_mgsm_zh_four_shots():
    messages = get_dataset("mgsm", subset="zh").messages(
        mgsm_problem("zh", "小明有 3 个苹果，又买了 2 个。他有几个？"), num_shots=4
    )
    assert len(messages) == 9
    assert "“答案是 N。”" in messages[-1]["content"] and messages[-1]["content"].endswith(
        "问题：小明有 3 个苹果，又买了 2 个。他有几个？"
    )
    assert messages[1]["content"].endswith("答案是 11。")


def test_mgsm_english_prompt_is_the_shared_one():
    problem = mgsm_problem("en", "What is 2 + 3?")
    assert get_dataset("mgsm").messages(problem) == get_dataset("gsm8k").messages(problem)
    # its shots are MGSM's own English exemplars, the ones every other language translates
    shots = get_dataset("mgsm").messages(problem, num_shots=2)
    assert shots[1]["content"] == MGSM_EXEMPLARS["en"][0][1] and shots[1]["content"] != NUMERIC_EXEMPLARS[0][1]


def test_a_language_without_exemplars_is_one_clear_error(tmp_path):
    (tmp_path / "mgsm").mkdir()
    (tmp_path / "mgsm" / "mgsm_it.tsv").write_text(
        "Luca ha 3 mele e ne compra 2. Quante mele ha?\t5\n", encoding="utf-8"
    )
    [problem] = load_problems("mgsm", "test", tmp_path, subset="it")
    dataset = get_dataset("mgsm", subset="it")
    with pytest.raises(QstarError, match=r"no MGSM worked exemplars in language 'it'.*--num-shots 0") as error:
        dataset.messages(problem, num_shots=2)
    assert "\n" not in str(error.value)
    [message] = dataset.messages(problem)  # zero shots: the Italian prompt
    assert '"La risposta è N."' in message["content"] and message["content"].endswith("Quante mele ha?")
    assert dataset.is_correct("La risposta è 5.", problem)


def test_unknown_subset_is_an_error():
    with pytest.raises(QstarError, match="unknown mgsm subset 'xx'"):
        get_dataset("mgsm", subset="xx")
    with pytest.raises(QstarError, match="'it' is not on the hub"):
        load_problems("mgsm", "test", None, subset="it")


def test_local_zh_file_with_shots_offline(tmp_path):
    (tmp_path / "mgsm").mkdir()
    (tmp_path / "mgsm" / "mgsm_zh.tsv").write_text(
        "小明有 3 个苹果，又买了 2 个。他有几个苹果？\t5\n", encoding="utf-8"
    )
    [problem] = load_problems("mgsm", "test", tmp_path, subset="zh")
    messages = get_dataset("mgsm", subset="zh").messages(problem, num_shots=4)
    assert len(messages) == 9 and messages[-1]["content"].endswith("他有几个苹果？")


@pytest.mark.parametrize(
    "code, completion, reference, correct, strict",
    [
        ("zh", "5 + 13 = 18。\n答案是 18。总共 2 天。", "18", True, True),
        ("ja", "答えは１８です。全部で2日です。", "18", True, True),
        ("ru", "Итого 1 234 рубля.\nОтвет: 1 234. Всего 2 дня.", "1234", True, True),
        ("ru", "Ответ: 18,5", "18.5", True, True),
        ("es", "La respuesta es 18,00 €.", "18", True, True),
        ("de", "Er zahlt insgesamt 70.000 Euro.", "70000", True, False),  # no answer phrase: not strict
        ("en", "He pays 70.000 euros in total.", "70000", False, False),  # an English run reads 70
        ("de", "Die Antwort lautet 1,5.", "1.5", True, True),
        ("fr", "Elle arrive à 15:30.", "15", False, False),  # a time is no number
        ("bn", "উত্তর হল ১১।", "11", True, True),
        ("th", "คำตอบคือ 11", "11", True, True),
        ("sw", "Jibu ni 2,500.", "2500", True, True),
        ("te", "సమాధానం 8.", "8", True, True),
    ],
)
def test_mgsm_grades_in_the_question_language(code, completion, reference, correct, strict):
    dataset = get_dataset("mgsm", subset=code)
    problem = mgsm_problem(code, reference=reference)
    [grade] = dataset.grade_batch([completion], [problem])
    assert (grade.correct, grade.strict) == (correct, strict)
    assert dataset.is_correct(completion, problem) is correct


def test_extract_answer_follows_the_configured_subset():
    text = "Insgesamt 70.000 Euro."
    assert get_dataset("mgsm", subset="de").extract_answer(text) == "70000"
    assert get_dataset("mgsm", subset="en").extract_answer(text) == "70"
    assert get_dataset("mgsm").extract_answer("Ответ: 18 долларов. Итого 2 дня.") == "18"
    # a problem's own language wins over the dataset's
    assert get_dataset("mgsm", subset="en").is_correct(text, mgsm_problem("de", reference="70000"))


@needs_local_data
def test_real_mgsm_zh_prompt():
    problems = load_problems("mgsm", "test", DATA_DIR, subset="zh")
    messages = get_dataset("mgsm", subset="zh").messages(problems[0], num_shots=4)
    assert len(messages) == 9 and problems[0].question in messages[-1]["content"]
    assert messages[-1]["content"].startswith(numeric_instruction("zh"))
