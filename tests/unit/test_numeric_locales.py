"""Numbers read the way the world writes them: one table of cases in many languages.

Every expected value is how a person reads the string: "18,00 €" is 18, "1 234" is 1234, a time
or a ratio is not a number, "-(1/3)" is negative. The language column is the run's language
(None: not known); a number stated after an answer phrase is read in that phrase's language.
Expected numbers are compared by value (`numbers_equal`), so "-1/3" stands for the float it is.
"""

from __future__ import annotations

import pytest

from qstar_cli.grading import extract_numeric, normalize_number, numbers_equal

NBSP, NNBSP, THIN = "\u00a0", "\u202f", "\u2009"


def _extract(text, language, strict=False):
    # Pass a language only where the case has one, so language-free cases also run on code
    # that takes none.
    if language is None:
        return extract_numeric(text, strict=strict)
    return extract_numeric(text, strict=strict, language=language)


def _same(got, expected):
    if expected is None:
        return got is None
    return got is not None and numbers_equal(got, expected)


# (text, language of the run, the number a person reads as the final answer)
CASES = [
    # --- decimal comma, and thousands separators in well-formed groups of three ---------------
    ("La respuesta es 18,00 €.", None, "18"),
    ("La respuesta es 18,00 €.", "es", "18"),
    ("El total es 18,00 €", "es", "18"),
    ("Ответ: 18,5", None, "18.5"),
    ("Ответ: 18,5", "ru", "18.5"),
    ("Ответ: 1 234", None, "1234"),
    ("Ответ: 1 234", "ru", "1234"),
    (f"Ответ: 1{NBSP}234", "ru", "1234"),
    (f"La réponse est 1{NNBSP}234 €.", "fr", "1234"),
    (f"Total : 12{THIN}500 €", "fr", "12500"),
    (f"It weighs 1{NBSP}234 kg", None, "1234"),
    ("About 450 000 people lived there.", None, "450000"),
    ("Il y a 5 000 pommes.", "fr", "5000"),
    ("La respuesta es 70.000 dólares.", None, "70000"),
    ("Pagó 70.000 dólares.", "es", "70000"),
    ("Die Antwort lautet 1.234.", "de", "1234"),
    ("Die Antwort lautet 1'234.", "de", "1234"),
    ("Es kostet 1’234 Franken", "de", "1234"),
    ("The answer is 1,234.5", None, "1234.5"),
    ("The answer is 1,234.5", "de", "1234.5"),  # both marks present: unambiguous in any language
    ("Die Antwort lautet 1.234,5.", None, "1234.5"),
    ("Die Antwort lautet 1.234,5.", "de", "1234.5"),
    (f"La réponse est 1{NNBSP}234,5.", "fr", "1234.5"),
    ("1.234.567,89 €", "de", "1234567.89"),
    ("$1,234,567.89", None, "1234567.89"),
    ("1.234.567", None, "1234567"),  # several dots: groups, whatever the language
    # "1,234" and "1.234" alone are ambiguous: the run's language decides
    ("Es kostet 1,234 Euro.", "de", "1.234"),
    ("Il pèse 1,234 kg.", "fr", "1.234"),
    ("It costs 1,234 dollars.", "en", "1234"),
    ("It costs 1,234 dollars.", None, "1234"),
    ("Итого 1.234", "ru", "1234"),
    ("Total 1.234", "en", "1.234"),
    ("Total 1.234", None, "1.234"),
    ("A pie costs 3,5 dollars", None, "3.5"),  # not a group of three: a decimal comma
    ("1,2,3", "de", "3"),  # a list, in every language
    ("1,2,3", None, "3"),
    ("12 200-kilobyte videos", None, "200"),  # 12 videos of 200 kB, not 12200
    ("In 2019 250 people came", None, "250"),  # 2019 cannot lead a group of three
    # Indian grouping (lakh, crore) where the language writes it
    ("১,২৩,৪৫৬ টাকা", "bn", "123456"),
    ("మొత్తం 1,23,456 రూపాయలు", "te", "123456"),
    ("Total 12,34,567", "en", "567"),  # not English grouping: a list
    # --- digits of other scripts and full-width forms -------------------------------------------
    ("答えは１８です。", None, "18"),
    ("答えは１８です。", "ja", "18"),
    ("答案是１８。", None, "18"),
    ("合計は１，０００円です", "ja", "1000"),
    ("答えは－５です", None, "-5"),
    ("উত্তর হল ১১।", None, "11"),
    ("উত্তর হল ১১।", "bn", "11"),
    ("คำตอบคือ ๑๒", "th", "12"),
    ("సమాధానం ౪౫.", "te", "45"),
    # --- answer phrases: the stated answer beats later numbers -------------------------------
    ("Ответ: 18 долларов. Итого 2 дня.", None, "18"),
    ("Ответ: 18 долларов. Итого 2 дня.", "ru", "18"),
    ("Ответ — 11. Проверка: 5 + 6 = 11, 2 шага.", "ru", "11"),
    ("答えは 18。合計 2 日。", None, "18"),
    ("答えは18です。全部で2日かかります。", "ja", "18"),
    ("答案是 18。总共 2 天。", None, "18"),
    ("答案是 18。总共 2 天。", "zh", "18"),
    ("La respuesta es 12. Quedan 3 días.", "es", "12"),
    ("La réponse est 12. Il reste 3 jours.", "fr", "12"),
    ("Die Antwort lautet 7. Probe: 3 + 4 = 7, also 2 Schritte.", "de", "7"),
    ("Die Antwort ist 7. Dann 2 Schritte.", None, "7"),
    ("Jibu ni 9. Hatua 3.", "sw", "9"),
    ("Jibu ni 9. Hatua 3.", None, "9"),
    ("คำตอบคือ 5 ชิ้น จาก 3 กล่อง", "th", "5"),
    ("উত্তর হল 8। মোট 2 দিন।", "bn", "8"),
    ("సమాధానం 8. మొత్తం 2 రోజులు.", "te", "8"),
    ("Answer: 18. It took 2 days.", None, "18"),
    ("The answer is 18. It took 2 days.", "ru", "18"),  # an English answer in a Russian run
    ("Ответ: 18. Всего 2 дня.", "en", "18"),  # a Russian answer in an English run
    # --- times and ratios are not numbers: a final one is ungradable ---------------------------
    ("She arrives at 3:30 p.m.", None, None),
    ("The answer is 3:30 p.m.", None, None),
    ("The answer is 3:30 p.m. She waits 2 hours.", None, None),
    ("The answer is 15:30.", None, None),
    ("Sie kommt um 15:30 an.", "de", None),
    ("The ratio is 5:6", None, None),
    ("The answer is 5:6.", None, None),
    ("She left at 9.30 a.m.", None, None),
    ("At 3:30 p.m. she had 12 apples.", None, "12"),  # a time before the final number
    ("The ratio 5:6 gives 30 boys.", None, "30"),
    ("Answer: 18", None, "18"),  # a colon after a word is no ratio
    ("Step 2: 18 apples", None, "18"),
    # --- signs -------------------------------------------------------------------------------
    ("The answer is -(1/3).", None, "-1/3"),
    ("x = −(1/3)", None, "-1/3"),
    ("-(2/3)", None, "-2/3"),
    ("The answer is -(5).", None, "-5"),
    ("Ответ: −7", "ru", "-7"),
    ("The answer is (1/3).", None, "1/3"),
    # --- mixed numbers ---------------------------------------------------------------------------
    ("She needs 3 1/2 cups.", None, "3.5"),
    ("The answer is 2 3/4", None, "2.75"),
    ("-2 1/2", None, "-2.5"),
    ("It takes 3½ hours", None, "3.5"),
    ("Add ½ cup", None, "1/2"),
    ("2 + 1 1/2 = 3 1/2 square feet", None, "3.5"),
    ("3 / 4 * 2 = 1 1/2", None, "1.5"),
    ("8 x 1 1/2 = 12", None, "12"),
]


@pytest.mark.parametrize("text, language, expected", CASES)
def test_numbers_read_as_written(text, language, expected):
    got = _extract(text, language)
    assert _same(got, expected), (text, language, got, expected)


# (text, language, the number stated in a final-answer format, or None when there is none)
STRICT_CASES = [
    ("Ответ: 18 долларов. Итого 2 дня.", None, "18"),
    ("Итого 2 дня.", "ru", None),
    ("La respuesta es 18,00 €.", None, "18"),
    ("Respuesta: 42", None, "42"),
    ("Die Antwort ist 11.", None, "11"),
    ("Die Antwort lautet 11.", None, "11"),
    ("La réponse est 11.", None, "11"),
    ("Réponse : 11", "fr", "11"),
    ("Ответ — 11.", None, "11"),
    ("答案是 11。", None, "11"),
    ("答えは11です。", None, "11"),
    ("答えは11個です。", "ja", "11"),
    ("Jibu ni 11.", None, "11"),
    ("উত্তর হল 11।", None, "11"),
    ("సమాధానం 11.", None, "11"),
    ("คำตอบคือ 11", None, "11"),
    ("Answer: 18", None, "18"),
    ("The answer is 3:30 p.m.", None, None),  # stated, but not a number
    ("The answer is 5:6", None, None),
    ("so 3 + 4 = 7", "de", None),
]


@pytest.mark.parametrize("text, language, expected", STRICT_CASES)
def test_strict_answer_phrases_of_every_language(text, language, expected):
    got = _extract(text, language, strict=True)
    assert _same(got, expected), (text, language, got, expected)


@pytest.mark.parametrize(
    "raw, language, expected",
    [
        ("1.234", "de", "1234"),
        ("1.234", "en", "1.234"),
        ("1,234", "de", "1.234"),
        ("1,234", None, "1234"),
        ("1,5", "de", "1.5"),
        ("18,00", None, "18"),
        ("1 234", None, "1234"),
        (f"1{NNBSP}234,5", "fr", "1234.5"),
        ("１８", None, "18"),
        ("３：３０", None, None),
        ("3:30", None, None),
        ("5:6", None, None),
        ("-(1/3)", None, "-1/3"),
    ],
)
def test_normalize_number_reads_one_number(raw, language, expected):
    got = normalize_number(raw) if language is None else normalize_number(raw, language=language)
    assert _same(got, expected), (raw, language, got, expected)


def test_every_language_reads_its_own_answer_line():
    # The line a prompt asks for, in each language, is what the strict tier reads.
    from qstar_cli.grading.numeric import LANGUAGES, answer_line

    assert {"en", "es", "de", "fr", "ru", "zh", "ja", "bn", "sw", "te", "th"} <= set(LANGUAGES)
    for code in LANGUAGES:
        for number in ("18", "1234.5", "-3"):
            line = answer_line(code, number)
            assert number in line and line != number
            for language in (code, None, "en"):
                got = extract_numeric(f"Some step with 7 apples.\n{line}\nThen 2 more.", strict=True, language=language)
                assert _same(got, number), (code, language, line, got)


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="xx"):
        extract_numeric("The answer is 5", language="xx")
