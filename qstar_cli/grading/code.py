"""Code answers: pull the program out of a completion, and check a partial program's syntax.

`extract_code` takes the first fenced block (```python, ```py or a bare ```; an unclosed fence runs
to the end), else bare code: from the first line that starts like Python (def, class, import,
from, @) up to `[DONE]`, with trailing prose lines dropped until the rest compiles. Compiling here
only parses; nothing is executed. `prefix_syntax_error` is the paper's rule utility for code: a
partial program is penalised only for an error no continuation can fix (so an unfinished line or
an open block is fine; a closed code block must compile as it stands).
"""

from __future__ import annotations

import codeop
import re
import warnings

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n")
_CODE_START = re.compile(r"^(def |class |import |from |@|async def )", re.M)
_PYTHON_TAGS = ("", "python", "python3", "py")
MAX_TRIM_LINES = 50  # bare code: at most this many trailing prose lines are dropped


def _fenced(text: str) -> tuple[str, bool] | None:
    """(contents of the first python fenced block, whether it is closed), or None without one."""
    for m in _FENCE.finditer(text):
        if m.group(1).lower() in _PYTHON_TAGS:
            end = text.find("```", m.end())
            return (text[m.end() :], False) if end < 0 else (text[m.end() : end], True)
    return None


def _bare_start(text: str) -> str | None:
    text = text.split("[DONE]", 1)[0].replace("[BEGIN]", "")
    m = _CODE_START.search(text)
    return text[m.start() :] if m else None


def _compiles(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of model code are not ours to show
            compile(code, "<completion>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def extract_code(completion: str) -> str | None:
    """The program a completion states, or None when it holds no code."""
    fenced = _fenced(completion)
    if fenced is not None:
        code = fenced[0].strip("\n")
        return code if code.strip() else None
    code = _bare_start(completion)
    if code is None:
        return None
    lines = code.rstrip().split("\n")
    for drop in range(min(MAX_TRIM_LINES, len(lines) - 1) + 1):
        candidate = "\n".join(lines[: len(lines) - drop])
        if _compiles(candidate):
            return candidate
    return code.rstrip()  # no prefix compiles: grade it as written (a syntax failure)


def partial_code(text: str) -> tuple[str, bool]:
    """(the code written so far, whether its block is already closed) for a partial completion."""
    fenced = _fenced(text)
    if fenced is not None:
        return fenced
    if "```" in text:  # an opening fence whose first line is not finished yet
        return "", False
    bare = _bare_start(text)
    return (bare or "", False)


def prefix_syntax_error(text: str) -> bool:
    """True when the code in a partial completion has a syntax error that continuing cannot fix."""
    code, closed = partial_code(text)
    if closed:
        return bool(code.strip()) and not _compiles(code)
    complete_lines = code[: code.rfind("\n") + 1]  # the last line may stop mid-token
    if not complete_lines.strip():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codeop.compile_command(complete_lines, "<partial>", "exec")  # None = incomplete, fine
        return False
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return True
