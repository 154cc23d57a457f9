"""Golden tests for answer extraction and equivalence (qstar_cli.grading).

Every expected value is written by hand. The cases are the ones that break naive graders:
thousands separators, currency and units, negatives (and minus signs that are subtractions),
trailing zeros, fractions, nested `\\boxed{}`, a strict "The answer is" followed by stray numbers,
several `####` lines, and LaTeX equivalences that need a real parser.
"""

from __future__ import annotations

import threading
import time

import pytest

from qstar_cli.grading import (
    extract_math_answer,
    extract_numeric,
    last_boxed,
    math_equal,
    normalize_latex,
    normalize_number,
    numbers_equal,
)
from qstar_cli.grading.worker import DeadlineWorker

# --- numeric ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Step one.\nThe answer is 18.", "18"),
        ("The answer is 18. Then I checked 5 + 13 = 18 and 99 more.", "18"),  # strict beats later numbers
        ("The answer is 18.\nAs a check, 3 * 6 = 19", "18"),
        ("#### 1,234", "1234"),
        ("#### 5\nsome more\n#### 6", "6"),  # the last ####
        ("#### 7\nThe answer is 8.", "8"),  # the last strict match of either kind
        ("The answer is $1,200.50 dollars.", "1200.5"),
        ("The answer is **$1,200.50** dollars.", "1200.5"),
        ("The final answer is: 42", "42"),
        ("THE ANSWER IS 42", "42"),
        ("The answer is:\n1. add 2 and 3\n2. get 5", "5"),  # strict stays on the marker's line
        ("The answer is $\\boxed{18}$.", "18"),
        ("so we get \\boxed{\\frac{3}{4}}", "0.75"),
        ("The answer is -5.", "-5"),
        ("The answer is −5.", "-5"),  # unicode minus
        ("The answer is 18.00", "18"),
        ("The answer is 3/4.", "0.75"),
        ("The answer is \\frac{3}{4}", "0.75"),
        ("The answer is 2.5e-3", "0.0025"),
        ("The answer is .5", "0.5"),
        ("The answer is 50%.", "50"),
        ("It costs -$5 in the end", "-5"),
        # flexible: the last number in the text
        ("She has 12 - 4 = 8 apples, then 8 + 7 = 15 apples.", "15"),
        ("5-3=2", "2"),  # a minus after a digit is subtraction, not a sign
        ("The answer is the sum of 3 and 4, which is 7", "7"),  # strict needs the number first
        ("Total: $2,125 in all", "2125"),
        ("1,2,3", "3"),  # not a thousands separator: a list
        ("No idea.", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_numeric(text, expected):
    assert extract_numeric(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # a spaced minus with a left operand is a subtraction, so the last number is positive
        ("x = 10 - 3", "3"),
        ("10 - 3 = 7", "7"),
        ("x - 3", "3"),
        ("x = 10 − 3", "3"),  # unicode minus
        ("(2) - 3", "3"),
        ("Items:\n- 5 apples", "5"),  # a list bullet, not a sign
        ("It costs - $5", "5"),
        # a minus touching its number, or with no left operand, is a sign
        ("The answer is -3", "-3"),
        ("The answer is: -3.", "-3"),
        ("The answer is −4", "-4"),
        ("The answer is - 3", "-3"),  # the strict tier reads what follows the marker on its own
        ("#### -3", "-3"),
        ("= -3", "-3"),
        ("= - 3", "-3"),
        ("-3", "-3"),
        ("- 3", "-3"),
        ("(-3)", "-3"),
        ("( - 3)", "-3"),
        ("-$5", "-5"),
        ("x = 10 -3", "-3"),  # as written: the minus touches the 3 and not the 10
        ("x = -\\frac{1}{2}", "-0.5"),
    ],
)
def test_extract_numeric_minus_is_a_sign_or_a_subtraction(text, expected):
    assert extract_numeric(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is 7.", "7"),
        ("#### 1,234", "1234"),
        ("so we get \\boxed{7}", "7"),
        ("The answer is 8. Then 3 + 4 = 7", "8"),  # the strict tier is the same in both modes
        ("so 3 + 4 = 7", None),  # a number in no final-answer format: no strict answer
        ("The answer is the sum of 3 and 4, which is 7", None),
        ("x = 10 - 3", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_numeric_strict(text, expected):
    assert extract_numeric(text, strict=True) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1,234", "1234"),
        ("$1,200.50 dollars", "1200.5"),
        ("18.00", "18"),
        ("18.", "18"),
        ("-0.0", "0"),
        ("3/4", "0.75"),
        ("\\frac{3}{4}", "0.75"),
        ("\\dfrac{-1}{2}", "-0.5"),
        ("1e3", "1000"),
        ("12%", "12"),
        (145.0, "145"),
        (7, "7"),
        ("abc", None),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_normalize_number(raw, expected):
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    "a, b, equal",
    [
        ("18.0", "18", True),
        ("18", 18, True),
        (0.75, "3/4", True),
        ("\\frac{1}{3}", "0.3333333333", True),
        ("1,000", "1000", True),
        ("-5", "5", False),
        ("1000000", "1000001", False),  # integers are compared exactly, not within rel_tol
        ("1.84", "1.8400000001", True),
        ("18", "18.5", False),
        ("0", "0.0000001", False),
        (None, "18", False),
        ("18", None, False),
        ("abc", "abc", False),  # not numbers: never equal
    ],
)
def test_numbers_equal(a, b, equal):
    assert numbers_equal(a, b) is equal


# --- MATH ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("first \\boxed{1}, finally \\boxed{2}", "2"),
        ("\\fbox{7}", "7"),
        ("the answer is $\\boxed 5$.", "5"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),  # escaped braces do not close the box
        ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
        ("\\boxed{a\\\\}", "a\\\\"),  # a LaTeX line break before the closing brace
        ("so \\boxed 5.", "5"),
        ("\\boxed{3} and a truncated \\boxed{\\frac{1}{", "3"),  # an unclosed box is skipped
        ("\\boxed{}", ""),
        ("no box here", None),
        ("", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Thus $x = 2$.\nThe answer is $\\boxed{2}$.", "2"),
        ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The final answer is 7", "7"),
        ("The answer is \\(x^2\\).", "x^2"),
        ("The answer is **$-3$**.", "-3"),
        ("I give up", None),
    ],
)
def test_extract_math_answer(text, expected):
    assert extract_math_answer(text) == expected


@pytest.mark.parametrize(
    "pred, ref",
    [
        ("\\frac{1}{2}", "0.5"),
        ("0.5", "\\frac12"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("\\dfrac{3}{4}", "\\frac{3}{4}"),
        ("\\tfrac34", "\\frac{3}{4}"),
        ("10\\sqrt{2}", "10\\sqrt 2"),
        ("\\sqrt{50}", "5\\sqrt{2}"),
        ("x+11", "11+x"),
        ("\\frac{639}{40}", "15\\frac{39}{40}"),
        ("1, -2", "-2, 1"),  # MATH "all solutions" answers are unordered
        ("90", "90^\\circ"),
        ("575", "575\\text{ students}"),
        ("\\text{(C)}", "C"),
        ("1,000", "1000"),
    ],
)
def test_math_equal_equivalent(pred, ref):
    assert math_equal(pred, ref)


@pytest.mark.parametrize(
    "pred, ref",
    [
        ("2", "3"),
        ("\\frac{1}{2}", "\\frac{1}{3}"),
        ("(3, \\pi)", "(3,\\frac{\\pi}{2})"),
        ("[1,2)", "[1,2]"),
        ("1", "-2, 1"),  # one of two solutions is not the answer
        (None, "2"),
        ("2", None),
        ("", "2"),
    ],
)
def test_math_equal_different(pred, ref):
    assert not math_equal(pred, ref)


def test_math_equal_survives_garbage():
    for pred in ["\\frac{", "}}}{{{", "\\boxed{", "$$$", "\\left(", "x^^2", "\\\\", "a" * 5000]:
        assert math_equal(pred, "\\frac{1}{2}") is False


def test_math_equal_is_bounded_in_time():
    started = time.monotonic()
    assert not math_equal("9^{9^{9^{9}}}", "9^{9^{9^{8}}}", timeout_seconds=2)
    assert time.monotonic() - started < 10
    assert math_equal("\\frac{2}{4}", "0.5")  # the grader still works afterwards


def test_math_equal_off_the_main_thread():
    results = []
    thread = threading.Thread(target=lambda: results.append(math_equal("\\frac{1}{2}", "0.5")))
    thread.start()
    thread.join(60)
    assert results == [True]


def test_deadline_worker_kills_an_overrunning_call_and_recovers():
    worker = DeadlineWorker(time.sleep)  # time.sleep blocks in C, where no signal can stop it
    try:
        started = time.monotonic()
        assert worker.call((30,), timeout=1) is None
        assert time.monotonic() - started < 10
        assert worker.call((0,), timeout=30) is None  # sleep returns None: a fresh child answers
        assert worker._process is not None and worker._process.poll() is None
    finally:
        worker.close()


def test_normalize_latex():
    assert normalize_latex("\\left( 3, \\dfrac{\\pi}{2} \\right).") == "(3,\\frac{\\pi}{2})"
    assert normalize_latex("$\\text{Monday}$") == "Monday"
