"""Chat prompts: one instruction per answer type, shared by every dataset of that type.

Every numeric dataset (GSM8K, MGSM, SVAMP, MAWPS, numeric JSONL) uses the same instruction, so
greedy, best-of-N, beam, MCTS and Q* are compared on identical prompts; MATH-style datasets ask for
a `\\boxed{}` answer instead. The instruction sits in each user turn rather than in a system
message because some chat templates (Gemma's, for one) reject the system role. Few-shot exemplars
are prior user/assistant turns in the very format the model is asked to produce.

A numeric prompt can be in another language (MGSM asks in the question's language): the same
instruction, translated, asks for that language's answer line ("La respuesta es N.", "答案是 N。"),
the one the grader's strict tier reads (`qstar_cli.grading.numeric.LANGUAGES`, which also says
how the language writes numbers). `NUMERIC_INSTRUCTIONS` has a translation for every language of
that table; English, and no language at all, give the English prompt of every other dataset.
"""

from __future__ import annotations

from qstar_cli.datasets.exemplars import MATH_EXEMPLARS, NUMERIC_EXEMPLARS
from qstar_cli.errors import QstarError
from qstar_cli.grading.numeric import answer_line, language_code

# {answer} is the language's answer line with N for the number ("The answer is N.").
NUMERIC_INSTRUCTIONS: dict[str, str] = {
    "en": "Solve the following math problem step by step. Write one step per line. "
    'Finish with a line of the form "{answer}" where N is a number.',
    "es": "Resuelve el siguiente problema de matemáticas paso a paso. Escribe un paso por línea. "
    'Termina con una línea de la forma "{answer}", donde N es un número.',
    "fr": "Résous le problème de mathématiques suivant étape par étape. Écris une étape par ligne. "
    "Termine par une ligne de la forme « {answer} », où N est un nombre.",
    "de": "Löse die folgende Mathematikaufgabe Schritt für Schritt. Schreibe einen Schritt pro Zeile. "
    "Schließe mit einer Zeile der Form „{answer}“ ab, wobei N eine Zahl ist.",
    "ru": "Решите следующую математическую задачу шаг за шагом. Пишите по одному шагу в строке. "
    "Закончите строкой вида «{answer}», где N — число.",
    "zh": "请逐步解答下面的数学题。每行写一个步骤。最后一行写成“{answer}”的形式，其中 N 是一个数。",
    "ja": "次の算数の問題をステップごとに解いてください。1行に1つのステップを書いてください。"
    "最後は「{answer}」という形の行で終えてください（Nは数です）。",
    "th": 'จงแก้โจทย์คณิตศาสตร์ต่อไปนี้ทีละขั้นตอน เขียนหนึ่งขั้นตอนต่อหนึ่งบรรทัด แล้วปิดท้ายด้วยบรรทัดในรูปแบบ "{answer}" โดยที่ N เป็นตัวเลข',
    "sw": "Tatua tatizo lifuatalo la hisabati hatua kwa hatua. Andika hatua moja katika kila mstari. "
    'Malizia kwa mstari wa namna "{answer}" ambapo N ni namba.',
    "bn": "নিচের গণিত সমস্যাটি ধাপে ধাপে সমাধান করো। প্রতি লাইনে একটি করে ধাপ লেখো। "
    'শেষে "{answer}" আকারের একটি লাইন লেখো, যেখানে N একটি সংখ্যা।',
    "te": 'కింది గణిత సమస్యను దశలవారీగా పరిష్కరించండి. ప్రతి పంక్తిలో ఒక దశ రాయండి. చివరగా "{answer}" రూపంలో ఒక పంక్తి రాయండి, ఇక్కడ N ఒక సంఖ్య.',
    "it": "Risolvi il seguente problema di matematica passo dopo passo. Scrivi un passaggio per riga. "
    'Concludi con una riga della forma "{answer}", dove N è un numero.',
    "pt": "Resolva o seguinte problema de matemática passo a passo. Escreva um passo por linha. "
    'Termine com uma linha da forma "{answer}", onde N é um número.',
    "nl": "Los het volgende rekenprobleem stap voor stap op. Schrijf één stap per regel. "
    'Sluit af met een regel van de vorm "{answer}", waarbij N een getal is.',
    "pl": "Rozwiąż poniższe zadanie matematyczne krok po kroku. Pisz jeden krok w każdym wierszu. "
    "Zakończ wierszem w postaci „{answer}”, gdzie N jest liczbą.",
    "uk": "Розв’яжіть наступну математичну задачу крок за кроком. Пишіть по одному кроку в рядку. "
    "Завершіть рядком виду «{answer}», де N — число.",
    "id": "Selesaikan soal matematika berikut langkah demi langkah. Tulis satu langkah per baris. "
    'Akhiri dengan baris berbentuk "{answer}", dengan N sebuah bilangan.',
    "vi": "Hãy giải bài toán sau từng bước một. Viết mỗi bước trên một dòng. "
    'Kết thúc bằng một dòng có dạng "{answer}", trong đó N là một số.',
    "ko": "다음 수학 문제를 단계별로 풀어 보세요. 한 줄에 한 단계씩 쓰세요. "
    '마지막 줄은 "{answer}" 형식으로 쓰세요. 여기서 N은 숫자입니다.',
    "hi": "निम्नलिखित गणित की समस्या को चरण दर चरण हल करें। हर पंक्ति में एक चरण लिखें। "
    'अंत में "{answer}" रूप की एक पंक्ति लिखें, जहाँ N एक संख्या है।',
}
# The label before the question ("Problem: ..."); MGSM's own question labels where it has them.
PROBLEM_LABELS: dict[str, str] = {
    "en": "Problem:",
    "es": "Problema:",
    "fr": "Problème :",
    "de": "Aufgabe:",
    "ru": "Задача:",
    "zh": "问题：",
    "ja": "問題：",
    "th": "โจทย์:",
    "sw": "Swali:",
    "bn": "প্রশ্ন:",
    "te": "ప్రశ్న:",
    "it": "Problema:",
    "pt": "Problema:",
    "nl": "Opgave:",
    "pl": "Zadanie:",
    "uk": "Задача:",
    "id": "Soal:",
    "vi": "Bài toán:",
    "ko": "문제:",
    "hi": "प्रश्न:",
}


def _language_code(language: str | None) -> str:
    try:
        return language_code(language)  # every language of the grader's table has an instruction here
    except ValueError as exc:
        raise QstarError(f"no prompt: {exc}") from None


def numeric_instruction(language: str | None = None) -> str:
    """The numeric instruction in `language` (None: English), asking for its answer line."""
    code = _language_code(language)
    return NUMERIC_INSTRUCTIONS[code].format(answer=answer_line(code, "N"))


MATH_INSTRUCTION = (
    "Solve the following math problem step by step. Write one step per line. Put your final answer within \\boxed{}."
)

_EXEMPLARS = {"numeric": NUMERIC_EXEMPLARS, "math": MATH_EXEMPLARS}


def user_prompt(question: str, answer_type: str = "numeric", language: str | None = None) -> str:
    if answer_type == "math":
        if _language_code(language) != "en":
            raise QstarError(f"qstar has no MATH-style prompt in language {language!r}, only in English")
        return f"{MATH_INSTRUCTION}\n\nProblem: {question.strip()}"
    code = _language_code(language)
    label = PROBLEM_LABELS[code]
    gap = "" if label.endswith("：") else " "  # a full-width colon carries its own space
    return f"{numeric_instruction(code)}\n\n{label}{gap}{question.strip()}"


def build_messages(
    question: str,
    answer_type: str = "numeric",
    num_shots: int = 0,
    exemplars: tuple[tuple[str, str], ...] | None = None,
    language: str | None = None,
) -> list[dict]:
    """[user, assistant]*num_shots + [user] chat messages for a chat-template policy.

    `exemplars` replaces the shipped (question, solution) pairs for a dataset that brings its own;
    one that prompts in another `language` must bring exemplars in it (the shipped ones are English).
    """
    if exemplars is None:
        if num_shots and _language_code(language) != "en":
            raise QstarError(
                f"qstar ships worked exemplars in English only, not in {language!r}; run with --num-shots 0"
            )
        exemplars = _EXEMPLARS[answer_type]
    if not 0 <= num_shots <= len(exemplars):
        raise QstarError(
            f"num_shots must be between 0 and {len(exemplars)} for {answer_type} problems (got {num_shots}); "
            "that is how many worked exemplars qstar ships"
        )
    messages: list[dict] = []
    for shot_question, shot_solution in exemplars[:num_shots]:
        messages.append({"role": "user", "content": user_prompt(shot_question, answer_type, language)})
        messages.append({"role": "assistant", "content": shot_solution})
    messages.append({"role": "user", "content": user_prompt(question, answer_type, language)})
    return messages
