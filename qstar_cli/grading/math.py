"""MATH-style answers: find the final `\\boxed{}` answer and decide LaTeX equivalence.

`extract_math_answer` takes the content of the last `\\boxed{...}` (or `\\fbox{...}`, or `\\boxed 5`)
with real brace matching, falling back to "The answer is X". `math_equal` asks math-verify
(Hugging Face's parser + sympy grader) whether two answers are mathematically equal — `\\frac{1}{2}`
vs `0.5`, `\\left( 3, \\frac{\\pi}{2} \\right)` vs `(3,\\frac{\\pi}{2})` — and falls back to comparing
normalized strings when it cannot parse them. It never raises, and it is bounded in time: sympy can
run for minutes on adversarial input, so the comparison runs in a helper process that is killed
past the deadline (see `worker`).
"""

from __future__ import annotations

import atexit
import logging
import re
import threading

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s+is\s*:?\s*(?P<ans>[^\n]+)", re.IGNORECASE)

DEFAULT_TIMEOUT_SECONDS = 5.0


def last_boxed(text: str | None) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}` (nested braces matched), or of `\\boxed 5`."""
    if not text:
        return None
    start = max(text.rfind(command) for command in _BOX_COMMANDS)
    while start >= 0:
        content = _box_content(text, start)
        if content is not None:
            return content
        # An unclosed last box (a truncated completion) has no answer; look at an earlier one.
        start = max(text.rfind(command, 0, start) for command in _BOX_COMMANDS)
    return None


def _box_content(text: str, start: int) -> str | None:
    command = "\\boxed" if text.startswith("\\boxed", start) else "\\fbox"
    i = start + len(command)
    if text.startswith(" ", i):
        # `\boxed 5`: the argument is the next token, up to a space, `$` or end of line.
        match = re.match(r" +([^\s$]+)", text[i:])
        return match.group(1).rstrip(".,") if match else None
    if not text.startswith("{", i):
        return None
    depth, j = 0, i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2  # an escaped character, `\{` or `\}` included, neither opens nor closes
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
        j += 1
    return None


def extract_math_answer(text: str | None) -> str | None:
    """The last boxed answer; else what follows the last "The answer is"; else None."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    matches = list(_ANSWER_IS.finditer(text or ""))
    if not matches:
        return None
    answer = matches[-1].group("ans").strip()
    # Drop math delimiters and bold around the answer, and the sentence's final period.
    answer = re.sub(r"^(?:\$|\\\(|\\\[|\*\*)+|(?:\$|\\\)|\\\]|\*\*)*\.?\s*$", "", answer).strip()
    return answer or None


def math_equal(pred: str | None, ref: str | None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
    """True when `pred` and `ref` are the same answer; never raises, returns within the timeout.

    Answers equal as normalized strings are equal without asking math-verify; otherwise a timeout
    or a failure inside math-verify counts as not equal.
    """
    if pred is None or ref is None:
        return False
    pred, ref = str(pred), str(ref)
    if normalize_latex(ref) and normalize_latex(pred) == normalize_latex(ref):
        return True  # also the fast path: no sympy for identical answers
    # Each of math-verify's steps (two parses, a few comparisons) gets a slice of the budget.
    step_timeout = max(1, int(timeout_seconds // 4))
    return bool(_grader().call((pred, ref, step_timeout), timeout_seconds))


def normalize_latex(s: str) -> str:
    """A light canonical form for string comparison: no spaces, sizing or text wrappers."""
    s = s.strip()
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:)", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("^\\circ", "").replace("^{\\circ}", "").replace("\\%", "").replace("\\$", "")
    s = re.sub(r"\s+", "", s).strip("$").rstrip(".")
    return s


def _verify(pred: str, ref: str, step_timeout: int) -> bool:
    """math-verify's verdict; runs in the grading helper process (see `worker`)."""
    from math_verify import parse, verify

    # math-verify's own per-step timeouts use SIGALRM, which exists only in a main thread; they
    # end the common slow cases early, the caller's deadline bounds the rest.
    if threading.current_thread() is not threading.main_thread():
        _quiet_math_verify()
        step_timeout = None
    gold = parse(_as_latex(ref), parsing_timeout=step_timeout)
    target = parse(_as_latex(pred), parsing_timeout=step_timeout)
    if not gold or not target:
        return False
    return bool(verify(gold, target, timeout_seconds=step_timeout))


def _as_latex(answer: str) -> str:
    # math-verify extracts LaTeX only between math delimiters, so a bare answer is wrapped.
    if "$" in answer.replace("\\$", "") or "\\boxed" in answer:
        return answer
    return f"${answer}$"


class _DropTimeoutWarning(logging.Filter):
    # math-verify warns once that its timeouts are off; off a main thread they must be.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


_QUIETED = False


def _quiet_math_verify() -> None:
    global _QUIETED
    if not _QUIETED:
        for name in ("math_verify.parser", "math_verify.grader"):
            logging.getLogger(name).addFilter(_DropTimeoutWarning())
        _QUIETED = True


_WORKER = None


def _grader():
    """The process-wide helper process, started on first use."""
    global _WORKER
    if _WORKER is None:
        from qstar_cli.grading.worker import DeadlineWorker

        _WORKER = DeadlineWorker(_verify)
        atexit.register(_WORKER.close)
    return _WORKER
