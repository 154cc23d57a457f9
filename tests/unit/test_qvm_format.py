"""The QVM input format's truncation, on a one-token-per-character tokenizer (no model download)."""

import pytest

from qstar_cli.value.format import encode, special_tokens


class CharTokenizer:
    """One token per character (id = code point + 1000), with [CLS]=101 ... [SEP]=102 around a text."""

    def encode(self, text, add_special_tokens=True):
        ids = [ord(c) + 1000 for c in text]
        return [101] + ids + [102] if add_special_tokens else ids

    def decode(self, ids):
        return "".join({101: "[CLS]", 102: "[SEP]"}.get(i) or chr(i - 1000) for i in ids)


QUESTION = "What is 2+3?"
HEAD = "Question: What is 2+3?\nSolution so far:\n"  # 10 + 12 + 18 = 40 characters
ACTION = "x = 5"
TAIL = "\nCandidate next step: x = 5"  # 22 + 5 = 27 characters
STEPS = [f"step {i:02d}..\n" for i in range(30)]  # 30 steps of 10 characters: a 300-token body


def test_the_fake_tokenizer_has_one_special_token_on_each_side():
    assert special_tokens(CharTokenizer()) == ([101], [102])
    assert len(HEAD) == 40 and len(TAIL) == 27 and len("".join(STEPS)) == 300


@pytest.mark.parametrize("room", [300, 301, 451])
def test_an_input_that_fits_comes_back_whole(room):
    tok = CharTokenizer()
    max_length = 2 + 40 + 27 + room  # [CLS] [SEP] + head + tail + room for the steps
    ids = encode(tok, QUESTION, STEPS, ACTION, max_length)
    assert tok.decode(ids) == "[CLS]" + HEAD + "".join(STEPS) + TAIL + "[SEP]"
    assert len(ids) == 2 + 40 + 300 + 27


def test_an_overlong_input_keeps_the_latest_steps_and_the_whole_short_head_and_candidate():
    tok = CharTokenizer()
    # budget 167 (a third: 55 >= 40 and 27), so the steps get 167 - 40 - 27 = 100 tokens: the last 10 steps
    ids = encode(tok, QUESTION, STEPS, ACTION, max_length=169)
    assert tok.decode(ids) == "[CLS]" + HEAD + "".join(STEPS[20:]) + TAIL + "[SEP]"
    assert len(ids) == 169


def test_a_long_question_and_candidate_are_cut_to_a_third_of_the_budget_each():
    tok = CharTokenizer()
    # head 10 + 300 + 18 = 328 and tail 22 + 300 = 322 tokens; budget 90 -> 30 each, and 30 for the steps
    ids = encode(tok, "q" * 300, STEPS, "a" * 300, max_length=92)
    head, tail = "Question: " + "q" * 20, "\nCandidate next step: " + "a" * 8
    assert tok.decode(ids) == "[CLS]" + head + "".join(STEPS[27:]) + tail + "[SEP]"
    assert len(ids) == 92
