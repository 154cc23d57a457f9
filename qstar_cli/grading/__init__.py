"""Answer grading: numeric answers (GSM8K-style) and LaTeX answers (MATH-style).

`numeric` extracts and compares plain numbers the way lm-evaluation-harness does; `math` extracts
`\\boxed{}` answers and checks mathematical equivalence with math-verify, bounded in time. Both
return a plain bool for "is this final answer correct", the 0/1 reward of the search.
"""

from qstar_cli.grading.math import extract_math_answer, last_boxed, math_equal, normalize_latex
from qstar_cli.grading.numeric import extract_numeric, normalize_number, numbers_equal

__all__ = [
    "extract_math_answer",
    "extract_numeric",
    "last_boxed",
    "math_equal",
    "normalize_latex",
    "normalize_number",
    "numbers_equal",
]
