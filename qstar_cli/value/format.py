"""The one input format of the Q-value model, shared by training, labelling (FQI) and search.

The QVM reads (question, steps so far, candidate step). When the text is longer than the
backbone's window, the middle gives way: the candidate step and the question keep up to a third
of the budget each and the steps so far keep their most recent tokens, since the last steps say
most about whether the next one is promising. A trained QVM stores `FORMAT` and refuses to score
inputs made for another format.
"""

from __future__ import annotations

FORMAT = "qstar-qvm/1"
HEAD = "Question: {question}\nSolution so far:\n"
TAIL = "\nCandidate next step: {action}"


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a text (e.g. [CLS] ... [SEP], or BOS ...).

    Found by encoding a probe with and without special tokens, which works for every tokenizer
    (transformers 5 fast tokenizers no longer expose build_inputs_with_special_tokens).
    """
    cached = getattr(tokenizer, "_qstar_specials", None)
    if cached is not None:
        return cached
    bare = tokenizer.encode("probe", add_special_tokens=False)
    full = tokenizer.encode("probe", add_special_tokens=True)
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            cached = (full[:i], full[i + len(bare) :])
            break
    else:
        cached = ([], [])
    try:
        tokenizer._qstar_specials = cached
    except AttributeError:
        pass
    return cached


def encode(tokenizer, question: str, steps: list[str], action: str, max_length: int) -> list[int]:
    """Token ids of the QVM input, truncated as described above, with the model's special tokens."""
    head = tokenizer.encode(HEAD.format(question=question.strip()), add_special_tokens=False)
    body = tokenizer.encode("".join(steps), add_special_tokens=False)
    tail = tokenizer.encode(TAIL.format(action=action.strip()), add_special_tokens=False)
    before, after = special_tokens(tokenizer)
    budget = max_length - len(before) - len(after)
    tail = tail[: max(budget // 3, budget - len(head) - len(body))]
    head = head[: max(budget // 3, budget - len(tail) - len(body))]
    room = budget - len(head) - len(tail)
    # the whole body when it fits, else its most recent `room` tokens (a bare negative start
    # would count from the end and drop the front of a body that fits)
    body = body[max(0, len(body) - room) :]
    return before + head + body + tail + after
