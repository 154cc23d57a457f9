"""Numeric final answers, graded the way lm-evaluation-harness grades GSM8K, in any language.

Extraction is two-tier. The strict tier looks for the answer formats a prompt asks for — the last
`#### N`, `\\boxed{N}`, or an answer phrase followed by N ("The answer is N", "Answer: N", and the
same in every language of `LANGUAGES`: "La respuesta es N", "Die Antwort lautet N", "Ответ: N",
"答案是 N", "答えはNです", …; with `$`, `**bold**`, `\\boxed{}`, a currency sign or a colon around N)
— and the flexible tier falls back to the last number anywhere in the text; `extract_numeric(text,
strict=True)` keeps the strict tier alone (lm-evaluation-harness's "strict-match" beside its
"flexible-extract"). The phrases of every language are recognised in every run, so a Russian
answer in an English run still has an answer. A completion without any number has no answer,
which is never correct.

How a number is read ("numerals"):
- Digits of any script (١٢, ১২, ๑๒, ౧౨, ...) and full-width forms (１８, －５, ３：３０) read as ASCII.
- A numeral is digit groups joined by single separators: `,` `.` `'` `’`, a no-break, narrow
  no-break or thin space, or a plain space before a group of exactly three digits (not before a
  hyphenated word: "12 200-kilobyte videos" is 12 and 200).
- Separators group thousands only in well-formed groups — a first group of 1-3 digits not
  starting with 0, then groups of three (Bengali and Telugu, and Hindi, also write 1,23,456) —
  all by one separator. When a `,` or `.` ends the numeral and is not one of its group separators,
  it is the decimal mark. So "1 234", "1.234.567", "1'234" are 1234 and 1234567 in every
  language; "1,234.5", "1.234,5" and "1 234,5" are 1234.5; "18,00" is 18 and "18,5" is 18.5 (a
  comma before anything but three digits is never a thousands separator).
- The one ambiguous form — a single `,` or `.` before exactly three digits, "1,234" or "70.000" —
  follows the language: where the decimal mark is a comma (de, es, fr, ru, ...) "1,234" is 1.234
  and "70.000" is 70000; elsewhere, and when the language is not known, "1,234" is 1234 and
  "70.000" is 70 (English, as before).
- Anything else is several numbers: "1,2,3" is a list whose last number is 3.
- The language is the run's (`language=`, e.g. MGSM's subset), except that a number stated after
  an answer phrase is read in that phrase's language: "Ответ: 1.234" is 1234 in any run.
- A time or a ratio — digits joined by colons ("3:30 p.m.", "15:30", "5:6") or "9.30 a.m." —
  is not a number: where it is the final answer (the stated one, or the last one in the text) the
  completion has no gradable answer (None), never the time's first number. A colon after a word
  ("Answer: 18", "Step 2: 18") is no ratio.
- Fractions are their value: "3/4", "\\frac{3}{4}", and mixed numbers "3 1/2", "3½" (3.5).
- A minus is a sign only where it cannot be a subtraction: "-3", "= -3", "(-3)" and "-(1/3)" are
  negative, but "x = 10 - 3" ends in 3 (details at `_SIGN`).
- Numbers are compared by value, not by string: separators, currency and percent signs, units,
  trailing zeros and fractions (`3/4`, `\\frac{3}{4}`) are normalized away, so "18.00", "$18",
  "18,00 €" and "18 dollars" are all 18.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction


@dataclass(frozen=True)
class Language:
    """How one language states a final answer and writes its numbers."""

    name: str
    decimal: str  # the decimal mark, "." or ","; the other one (or a space, an apostrophe) groups thousands
    answer: str  # the answer line prompts ask for; "{}" is the number
    keyword: str  # lower case, in every phrase: a text without it needs no phrase search
    phrases: tuple[str, ...]  # regexes (case-insensitive) of the answer phrases that precede the number
    indian_grouping: bool = False  # 1,23,456 (lakh, crore) is a well-formed grouping too


# The one table of languages. MGSM's eleven come first; their answer lines are the ones MGSM's own
# exemplars end with (Shi et al. 2022; lm-evaluation-harness's mgsm native_cot tasks read the same).
LANGUAGES: dict[str, Language] = {
    "en": Language(
        "English", ".", "The answer is {}.", "answer", (r"\b(?:final\s+)?answer\s+is", r"\b(?:final\s+)?answer\**\s*:")
    ),
    "es": Language(
        "Spanish",
        ",",
        "La respuesta es {}.",
        "respuesta",
        (r"\brespuesta(?:\s+final)?\s+es", r"\brespuesta(?:\s+final)?\**\s*:"),
    ),
    "fr": Language(
        "French",
        ",",
        "La réponse est {}.",
        "réponse",
        (r"\bréponse(?:\s+finale)?\s+est", r"\bréponse(?:\s+finale)?\**\s*:"),
    ),
    "de": Language(
        "German", ",", "Die Antwort lautet {}.", "antwort", (r"\bantwort\s+(?:lautet|ist)", r"\bantwort\**\s*:")
    ),
    "ru": Language("Russian", ",", "Ответ — {}.", "ответ", (r"\bответ\**\s*(?:[:—–]|-(?=\s))",)),
    "zh": Language("Chinese", ".", "答案是 {}。", "答案", (r"答案\s*(?:是|为|為|:)",)),
    "ja": Language("Japanese", ".", "答えは{}です。", "答え", (r"答え\s*(?:は|:)",)),
    "th": Language("Thai", ".", "คำตอบคือ {}", "คำตอบ", (r"คำตอบ\s*(?:คือ|:)",)),
    "sw": Language("Swahili", ".", "Jibu ni {}.", "jibu", (r"\bjibu\s+ni", r"\bjibu\**\s*:")),
    "bn": Language("Bengali", ".", "উত্তর হল {}।", "উত্তর", (r"উত্তর\s*(?:হল|হলো|:)",), indian_grouping=True),
    "te": Language("Telugu", ".", "సమాధానం {}.", "సమాధానం", (r"సమాధానం",), indian_grouping=True),
    # beyond MGSM
    "it": Language(
        "Italian",
        ",",
        "La risposta è {}.",
        "risposta",
        (r"\brisposta(?:\s+finale)?\s+è", r"\brisposta(?:\s+finale)?\**\s*:"),
    ),
    "pt": Language(
        "Portuguese",
        ",",
        "A resposta é {}.",
        "resposta",
        (r"\bresposta(?:\s+final)?\s+é", r"\bresposta(?:\s+final)?\**\s*:"),
    ),
    "nl": Language("Dutch", ",", "Het antwoord is {}.", "antwoord", (r"\bantwoord\s+is", r"\bantwoord\**\s*:")),
    "pl": Language(
        "Polish", ",", "Odpowiedź: {}.", "odpowiedź", (r"\bodpowiedź\s+(?:to|wynosi)", r"\bodpowiedź\**\s*:")
    ),
    "uk": Language("Ukrainian", ",", "Відповідь: {}.", "відповідь", (r"\bвідповідь\**\s*(?:[:—–]|-(?=\s))",)),
    "id": Language(
        "Indonesian",
        ",",
        "Jawabannya adalah {}.",
        "jawaban",
        (r"\bjawaban(?:nya)?\s+(?:adalah|ialah)", r"\bjawaban(?:nya)?\**\s*:"),
    ),
    "vi": Language("Vietnamese", ",", "Đáp án là {}.", "đáp", (r"\bđáp\s+án\s+(?:là|:)",)),
    "ko": Language("Korean", ".", "답은 {}입니다.", "답", (r"답\s*(?:은|:)",)),
    "hi": Language("Hindi", ".", "उत्तर है {}।", "उत्तर", (r"उत्तर\s*(?:है|:)",), indian_grouping=True),
}
ENGLISH = LANGUAGES["en"]


def language_code(code: str | None) -> str:
    """The key of a language code in `LANGUAGES` ("de", "pt-BR" -> "pt"); None is English. Unknown
    codes raise ValueError, so that no run reads numbers by guessed conventions."""
    if code is None:
        return "en"
    key = str(code).strip().lower().replace("_", "-").split("-")[0]
    if key not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}; qstar knows {', '.join(sorted(LANGUAGES))}")
    return key


def language_of(code: str | None) -> Language:
    """The entry of a language code (see `language_code`)."""
    return LANGUAGES[language_code(code)]


def answer_line(language: str | None, number: str = "N") -> str:
    """The final-answer line of a language: answer_line("de", "18") == "Die Antwort lautet 18."."""
    return language_of(language).answer.format(number)


# --- text folding: digits of any script and full-width forms read as ASCII --------------------------

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if code != 0xFF0C}  # not "，"
_FULL_WIDTH[0x2212] = ord("-")  # the minus sign
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
# A full-width comma is a clause separator in CJK text, a group separator only before three digits.
_FULL_WIDTH_GROUP = re.compile(r"(?<=[0-9])，(?=[0-9]{3}(?![0-9]))")


def _fold(text: str) -> str:
    """`text` with every decimal digit ASCII and full-width forms half-width; one character for
    one, so positions stay."""
    if text.isascii():
        return text
    text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group(), 0)), text.translate(_FULL_WIDTH))
    return _FULL_WIDTH_GROUP.sub(",", text)


# --- numerals ---------------------------------------------------------------------------------

# Whether a minus is a sign or a subtraction decides the last number of "x = 10 - 3", so:
# - a minus touching its number ("-3", "-$5", "−4", "-(1/3)") is a sign unless it touches a word or
#   a closing bracket on its left, so that "5-3" reads as 5 and 3, not 5 and -3;
# - a minus with a space before the number is a sign only where no left operand can stand: at the
#   start of the text, or after "=", ":" or an opening bracket ("= - 3", "( - 3)"). Anywhere else it
#   is a subtraction ("10 - 3", "x - 3") or a list bullet ("\n- 3 apples"), and the number is 3.
#   The strict tier matches the text after its marker on its own, so "The answer is - 3" is -3 (a
#   marker is no operand), while a bare "x is - 3" in the flexible tier reads as 3.
# Python lookbehinds are fixed-width, hence one per context; `(?<![\s\S])` is the start of the text.
_CURRENCY = r"(?:(?:\\?\$|[€£¥₹₽])[ \t]*)?"
_SIGN = (
    rf"(?:(?<![\w)\]}}])[-−]{_CURRENCY}"
    rf"|(?:(?<![\s\S])|(?<=[=:(\[{{])|(?<=[=:(\[{{][ \t]))[-−][ \t]+{_CURRENCY})?"
)
_FRAC = r"\\[dt]?frac\s*\{\s*(?P<fnum>-?[0-9]+(?:\.[0-9]+)?)\s*\}\s*\{\s*(?P<fden>-?[0-9]+(?:\.[0-9]+)?)\s*\}"
_SLASH = r"(?P<snum>[0-9]+(?:\.[0-9]+)?)\s*/\s*(?P<sden>[0-9]+(?:\.[0-9]+)?)(?!\.?[0-9])"
# Mixed numbers: "3 1/2" is 3.5 (an improper "3 5/2" reads as 3 and 5/2), "3½" and "3 ½" too.
_MIXED = r"(?P<mwhole>[0-9]+)[ \t]+(?P<mnum>[0-9]+)[ \t]*/[ \t]*(?P<mden>[0-9]+)(?![0-9]|\.[0-9]|[ \t]*/)"
_VULGAR_VALUES = {char: Fraction(unicodedata.numeric(char)).limit_denominator(10) for char in "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"}
_VULGAR = rf"(?:(?P<vwhole>[0-9]+)[ \t]?)?(?P<vulgar>[{''.join(_VULGAR_VALUES)}])"
# Times and ratios: digits joined by colons, or h.mm with a dotted a.m./p.m.
_CLOCK = r"[0-9]+(?::[0-9]+)+|[0-9]{1,2}\.[0-5][0-9][ \t]?[ap]\.m\."
# Digit groups joined by single separators; a plain space only before exactly three digits that
# do not start a hyphenated word ("12 200-kilobyte").
_GROUP_SEPARATORS = ",.'’\u00a0\u202f\u2009"
_NUMERAL = (
    rf"(?:[0-9]+(?:[{_GROUP_SEPARATORS}][0-9]+| (?=[0-9]{{3}}(?![0-9]|-[^\W\d_]))[0-9]{{3}})*|\.[0-9]+)"
    r"(?:[eE][-+]?[0-9]+)?"
)
_NUMBER = re.compile(
    # the lookahead only makes the scan fast: it names every character a match can start with
    rf"(?=[-−(\\.0-9{''.join(_VULGAR_VALUES)}])(?P<sign>{_SIGN})(?P<open>\([ \t]*)?"
    rf"(?:{_FRAC}|(?P<clock>{_CLOCK})|{_MIXED}|{_VULGAR}|{_SLASH}|(?P<numeral>{_NUMERAL}))(?(open)[ \t]*\))"
)
_SEPARATOR = re.compile(rf"[{_GROUP_SEPARATORS} ]")
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+$")

# What may stand between an answer marker and its number on the same line: spaces, a colon,
# markdown bold, math delimiters, `\boxed{`, `\text{`, a currency sign.
_LEAD = r"(?:\\\(|\\\[|\\boxed\s*\{|\\text\s*\{|\\\$|[ \t:*$€£¥₹₽、])*"
# (pattern, the language its number is read in: None for the run's, a string the text must hold)
_STRICT: list[tuple[re.Pattern, str | None, str]] = [
    (re.compile(rf"####{_LEAD}(?P<num>[^\n]*)"), None, "####"),
    (re.compile(r"\\boxed\s*\{(?P<num>[^\n]*)"), None, "\\boxed"),
] + [
    (re.compile(rf"(?:{phrase}){_LEAD}(?P<num>[^\n]*)", re.IGNORECASE), code, entry.keyword)
    for code, entry in LANGUAGES.items()
    for phrase in entry.phrases
]

_TIME_OR_RATIO = object()  # the value of a time or a ratio: not a number


@dataclass(frozen=True)
class _Read:
    start: int
    value: object  # Decimal | Fraction | _TIME_OR_RATIO


def extract_numeric(text: str | None, strict: bool = False, language: str | None = None) -> str | None:
    """Return the normalized final number of a completion, or None if it states no number (or its
    final answer is a time or a ratio).

    With `strict`, only the strict tier counts (lm-evaluation-harness's "strict-match" beside its
    "flexible-extract"): a completion that states its number in no final-answer format has none.
    `language` (a code of `LANGUAGES`; None: not known, read as English) decides the ambiguous
    "1,234" / "1.234"; a number after an answer phrase is read in the phrase's language.
    """
    run_language = language_of(language)
    if not text:
        return None
    text = _fold(text)
    lowered = text.lower()
    stated: list[tuple[int, _Read]] = []
    for pattern, phrase_language, keyword in _STRICT:
        if keyword not in lowered:
            continue
        reading = LANGUAGES[phrase_language] if phrase_language else run_language
        for match in pattern.finditer(text):
            # The number must open the text after the marker, else "the answer is the sum of 3
            # and 4" would read as 3.
            first = next(_numbers(match.group("num"), reading), None)
            if first is not None and first.start == 0:
                stated.append((match.start(), first))
    if stated:
        return _canonical(max(stated, key=lambda item: item[0])[1].value)
    if strict:
        return None
    for match in reversed(list(_NUMBER.finditer(text))):  # only the last number counts: read no other
        reads = _reads(match, run_language)
        if reads:
            return _canonical(reads[-1].value)
    return None


def normalize_number(s: str | float | int | None, language: str | None = None) -> str | None:
    """Canonical string of the first number in `s` ("$1,200.50 dollars" -> "1200.5"), or None
    (also for a time or a ratio: "3:30" is no number).

    Integers and decimals print without trailing zeros ("18.00" -> "18"); fractions print as their
    float value ("3/4" -> "0.75"). `language` reads the ambiguous "1,234" as `extract_numeric` does.
    """
    return _canonical(_parse_number(s, language_of(language)))


def numbers_equal(a: str | float | int | None, b: str | float | int | None, rel_tol: float = 1e-6) -> bool:
    """True when both parse as numbers of equal value: "18.0" == "18", 0.75 == "3/4".

    Non-integers may differ by `rel_tol` (a rounded 1/3 is 1/3); two integers must be equal.
    Strings are read as English ("1,000" is 1000), as the canonical strings of `normalize_number`
    and `extract_numeric` always are.
    """
    x, y = _parse_number(a, ENGLISH), _parse_number(b, ENGLISH)
    if not isinstance(x, (Decimal, Fraction)) or not isinstance(y, (Decimal, Fraction)):
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


def _canonical(value) -> str | None:
    if not isinstance(value, (Decimal, Fraction)):
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


def _parse_number(s: str | float | int | None, language: Language):
    """The value of the first number in `s`: a Decimal, a Fraction for fractions, None for none."""
    if s is None or isinstance(s, bool):
        return None
    if isinstance(s, int):
        return Decimal(s)
    if isinstance(s, float):
        if not math.isfinite(s):
            return None
        return Decimal(repr(s))
    first = next(_numbers(_fold(str(s)), language), None)
    return first.value if first is not None else None


def _numbers(text: str, language: Language):
    """Every number of (folded) `text` in order, as _Read(start, value); a numeral that is not one
    number ("1,2,3") gives each of its numbers."""
    for match in _NUMBER.finditer(text):
        yield from _reads(match, language)


def _reads(match: re.Match, language: Language) -> list[_Read]:
    """The number(s) of one match of `_NUMBER` (none where a fraction divides by zero)."""
    if match.group("clock") is not None:
        return [_Read(match.start(), _TIME_OR_RATIO)]
    try:
        if match.group("fnum") is not None:
            values = [(match.start(), _fraction(match.group("fnum"), match.group("fden")))]
        elif match.group("mwhole") is not None:
            whole, part = Fraction(match.group("mwhole")), _fraction(match.group("mnum"), match.group("mden"))
            if part is not None and part < 1:
                values = [(match.start(), whole + part)]
            else:
                values = [(match.start(), whole), (match.start("mnum"), part)]
        elif match.group("vulgar") is not None:
            values = [(match.start(), Fraction(match.group("vwhole") or 0) + _VULGAR_VALUES[match.group("vulgar")])]
        elif match.group("snum") is not None:
            values = [(match.start(), _fraction(match.group("snum"), match.group("sden")))]
        else:
            at = match.start("numeral")
            values = [
                (match.start() if offset == 0 else at + offset, value)
                for offset, value in _read_numeral(match.group("numeral"), language)
            ]
    except (InvalidOperation, ZeroDivisionError, ValueError):
        return []
    negative = bool(match.group("sign").strip())
    return [
        _Read(start, -value if negative and index == 0 else value)
        for index, (start, value) in enumerate(values)
        if value is not None
    ]


def _read_numeral(numeral: str, language: Language) -> list[tuple[int, Decimal]]:
    """(offset, value) of the number(s) a numeral writes: one, or where its separators form no
    well-formed number, each piece (first the plain-space pieces, then the digit runs)."""
    exponent = _EXPONENT.search(numeral)
    body = numeral[: exponent.start()] if exponent else numeral
    value = _one_number(body, language)
    if value is not None:
        return [(0, value.scaleb(int(exponent.group()[1:])) if exponent else value)]
    pieces = []
    for chunk in re.finditer(r"[^ ]+", body):
        value = _one_number(chunk.group(), language)
        if value is not None:
            pieces.append((chunk.start(), value))
        else:
            pieces.extend(
                (chunk.start() + run.start(), Decimal(run.group())) for run in re.finditer(r"[0-9]+", chunk.group())
            )
    return pieces


def _one_number(body: str, language: Language) -> Decimal | None:
    """The value of `body` read as one number, or None where its separators cannot make one."""
    if body.startswith("."):
        return Decimal("0" + body) if body.count(".") == 1 and not _SEPARATOR.search(body[1:]) else None
    groups = _SEPARATOR.split(body)
    separators = _SEPARATOR.findall(body)
    if not separators:
        return Decimal(body)
    last = separators[-1]
    as_decimal = as_grouped = None
    # The last separator as the decimal mark, any before it grouping the integer part by another.
    if last in ",.":
        leading = separators[:-1]
        if not leading or (len(set(leading)) == 1 and leading[0] != last and _grouped(groups[:-1], language)):
            as_decimal = Decimal("".join(groups[:-1]) + "." + groups[-1])
    # Every separator grouping thousands.
    if len(set(separators)) == 1 and _grouped(groups, language):
        as_grouped = Decimal("".join(groups))
    if as_decimal is not None and as_grouped is not None:
        # One "," or "." before three digits, "1,234": the language's decimal mark decides.
        return as_decimal if last == language.decimal else as_grouped
    return as_decimal if as_decimal is not None else as_grouped


def _grouped(groups: list[str], language: Language) -> bool:
    """Whether digit groups are a well-formed thousands grouping: 1,234,567 (or 12,34,567 in
    languages that group lakhs and crores)."""
    first, rest = groups[0], groups[1:]
    if not rest or not 1 <= len(first) <= 3 or first.startswith("0"):
        return False
    if all(len(group) == 3 for group in rest):
        return True
    return (
        language.indian_grouping
        and len(first) <= 2
        and len(rest[-1]) == 3
        and all(len(group) == 2 for group in rest[:-1])
    )


def _fraction(numerator: str, denominator: str) -> Fraction | None:
    den = Fraction(denominator)
    if den == 0:
        return None
    return Fraction(numerator) / den
