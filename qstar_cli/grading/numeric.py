"""Numeric final answers, graded the way lm-evaluation-harness grades GSM8K.

Extraction is two-tier. The strict tier looks for the answer formats a prompt asks for — the last
`#### N`, "The answer is N" / "The final answer is N" (with `$`, `**bold**`, `\\boxed{}` or a colon
around N), or `\\boxed{N}` — and the flexible tier falls back to the last number anywhere in the
text; `extract_numeric(text, strict=True)` keeps the strict tier alone (lm-evaluation-harness's
"strict-match" beside its "flexible-extract"). A minus is a sign only where it cannot be a
subtraction: "-3", "= -3" and "(-3)" are -3, but "x = 10 - 3" ends in 3. Numbers are compared by
value, not by string: thousands separators, currency signs, percent signs, units, trailing zeros
and fractions (`3/4`, `\\frac{3}{4}`) are normalized away, so "18.00", "$18" and "18 dollars" are
all 18. A completion without any number has no answer, which is never correct.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

# Whether a minus is a sign or a subtraction decides the last number of "x = 10 - 3", so:
# - a minus touching its number ("-3", "-$5", "−4") is a sign unless it touches a word or a closing
#   bracket on its left, so that "5-3" reads as 5 and 3, not 5 and -3;
# - a minus with a space before the number is a sign only where no left operand can stand: at the
#   start of the text, or after "=", ":" or an opening bracket ("= - 3", "( - 3)"). Anywhere else it
#   is a subtraction ("10 - 3", "x - 3") or a list bullet ("\n- 3 apples"), and the number is 3.
#   The strict tier matches the text after its marker on its own, so "The answer is - 3" is -3 (a
#   marker is no operand), while a bare "x is - 3" in the flexible tier reads as 3.
# Python lookbehinds are fixed-width, hence one per context; `(?<![\s\S])` is the start of the text.
_CURRENCY = r"(?:\\?\$[ \t]*)?"
_SIGN = (
    rf"(?:(?<![\w)\]}}])[-−]{_CURRENCY}"
    rf"|(?:(?<![\s\S])|(?<=[=:(\[{{])|(?<=[=:(\[{{][ \t]))[-−][ \t]+{_CURRENCY})?"
)
_FRAC = r"\\[dt]?frac\s*\{\s*(?P<fnum>-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(?P<fden>-?\d+(?:\.\d+)?)\s*\}"
_SLASH = r"(?P<snum>\d+(?:\.\d+)?)\s*/\s*(?P<sden>\d+(?:\.\d+)?)(?!\.?\d)"
# Commas count as thousands separators only in well-formed groups of three, so "1,2,3" stays a list.
_DEC = r"(?P<dec>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)"
_NUMBER = re.compile(rf"(?P<sign>{_SIGN})(?:{_FRAC}|{_SLASH}|{_DEC})")

# What may stand between an answer marker and its number on the same line: spaces, a colon,
# markdown bold, math delimiters, `\boxed{`, `\text{`, a currency sign.
_LEAD = r"(?:\\\(|\\\[|\\boxed\s*\{|\\text\s*\{|\\\$|[ \t:*$])*"
_STRICT = [
    re.compile(rf"####{_LEAD}(?P<num>[^\n]*)"),
    re.compile(rf"(?:final\s+)?answer\s+is{_LEAD}(?P<num>[^\n]*)", re.IGNORECASE),
    re.compile(r"\\boxed\s*\{(?P<num>[^\n]*)"),
]


def extract_numeric(text: str | None, strict: bool = False) -> str | None:
    """Return the normalized final number of a completion, or None if it states no number.

    With `strict`, only the strict tier counts (lm-evaluation-harness's "strict-match" beside its
    "flexible-extract"): a completion that states its number in no final-answer format has none.
    """
    if not text:
        return None
    stated: list[tuple[int, str]] = []
    for pattern in _STRICT:
        for match in pattern.finditer(text):
            # The number must open the text after the marker, else "the answer is the sum of 3
            # and 4" would read as 3.
            number = _NUMBER.match(match.group("num"))
            if number:
                stated.append((match.start(), number.group(0)))
    if stated:
        return normalize_number(max(stated)[1])
    if strict:
        return None
    numbers = list(_NUMBER.finditer(text))
    return normalize_number(numbers[-1].group(0)) if numbers else None


def normalize_number(s: str | float | int | None) -> str | None:
    """Canonical string of the first number in `s` ("$1,200.50 dollars" -> "1200.5"), or None.

    Integers and decimals print without trailing zeros ("18.00" -> "18"); fractions print as their
    float value ("3/4" -> "0.75").
    """
    value = _parse_number(s)
    if value is None:
        return None
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        return repr(float(value))
    if value == 0:
        return "0"  # also folds "-0" and "0.00"
    value = value.normalize()
    # Very large or tiny exponents would print thousands of digits in fixed notation.
    if abs(value.adjusted()) > 30:
        return repr(float(value))
    return format(value, "f")


def numbers_equal(a: str | float | int | None, b: str | float | int | None, rel_tol: float = 1e-6) -> bool:
    """True when both parse as numbers of equal value: "18.0" == "18", 0.75 == "3/4".

    Non-integers may differ by `rel_tol` (a rounded 1/3 is 1/3); two integers must be equal.
    """
    x, y = _parse_number(a), _parse_number(b)
    if x is None or y is None:
        return False
    x, y = Fraction(x), Fraction(y)
    if x == y:
        return True
    if x.denominator == 1 and y.denominator == 1:
        return False  # distinct integers differ, however large: 1000000 is not 1000001
    try:
        return math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=1e-9)
    except OverflowError:
        return False


def _parse_number(s: str | float | int | None) -> Decimal | Fraction | None:
    """The value of the first number in `s`: a Decimal, or a Fraction for fractions."""
    if s is None or isinstance(s, bool):
        return None
    if isinstance(s, int):
        return Decimal(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            return None
        return Decimal(repr(s))
    match = _NUMBER.search(s)
    if match is None:
        return None
    negative = bool(match.group("sign").strip())
    try:
        if match.group("fnum") is not None:
            value = _fraction(match.group("fnum"), match.group("fden"))
        elif match.group("snum") is not None:
            value = _fraction(match.group("snum"), match.group("sden"))
        else:
            value = Decimal(match.group("dec").replace(",", ""))
    except (InvalidOperation, ZeroDivisionError):
        return None
    if value is None:
        return None
    return -value if negative else value


def _fraction(numerator: str, denominator: str) -> Fraction | None:
    den = Fraction(denominator)
    if den == 0:
        return None
    return Fraction(numerator) / den
