"""Chat prompts: one instruction per answer type, shared by every dataset of that type.

Every numeric dataset (GSM8K, MGSM, SVAMP, MAWPS, numeric JSONL) uses the same instruction, so
greedy, best-of-N, beam, MCTS and Q* are compared on identical prompts; MATH-style datasets ask for
a `\\boxed{}` answer instead. The instruction sits in each user turn rather than in a system
message because some chat templates (Gemma's, for one) reject the system role. Few-shot exemplars
are prior user/assistant turns in the very format the model is asked to produce.
"""

from __future__ import annotations

from qstar_cli.datasets.exemplars import MATH_EXEMPLARS, NUMERIC_EXEMPLARS
from qstar_cli.errors import QstarError

NUMERIC_INSTRUCTION = (
    "Solve the following math problem step by step. Write one step per line. "
    'Finish with a line of the form "The answer is N." where N is a number.'
)
MATH_INSTRUCTION = (
    "Solve the following math problem step by step. Write one step per line. "
    "Put your final answer within \\boxed{}."
)

_BY_TYPE = {
    "numeric": (NUMERIC_INSTRUCTION, NUMERIC_EXEMPLARS),
    "math": (MATH_INSTRUCTION, MATH_EXEMPLARS),
}


def user_prompt(question: str, answer_type: str = "numeric") -> str:
    instruction, _ = _BY_TYPE[answer_type]
    return f"{instruction}\n\nProblem: {question.strip()}"


def build_messages(question: str, answer_type: str = "numeric", num_shots: int = 0,
                   exemplars: tuple[tuple[str, str], ...] | None = None) -> list[dict]:
    """[user, assistant]*num_shots + [user] chat messages for a chat-template policy.

    `exemplars` replaces the shipped (question, solution) pairs for a dataset that brings its own.
    """
    if exemplars is None:
        _, exemplars = _BY_TYPE[answer_type]
    if not 0 <= num_shots <= len(exemplars):
        raise QstarError(
            f"num_shots must be between 0 and {len(exemplars)} for {answer_type} problems (got {num_shots}); "
            "that is how many worked exemplars qstar ships"
        )
    messages: list[dict] = []
    for shot_question, shot_solution in exemplars[:num_shots]:
        messages.append({"role": "user", "content": user_prompt(shot_question, answer_type)})
        messages.append({"role": "assistant", "content": shot_solution})
    messages.append({"role": "user", "content": user_prompt(question, answer_type)})
    return messages
