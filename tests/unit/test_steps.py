"""Step formats: splitting solutions into steps and attributing tokens to steps."""

from qstar_cli.steps import StepFormat, assign_tokens


def spans_text(text, fmt, lengths=None):
    return [text[a:b] for a, b in StepFormat.parse(fmt).char_spans(text, lengths)]


def test_line_steps_keep_their_newline_and_absorb_blank_lines():
    text = "3 + 4 = 7\n\nSo 7 apples.\nThe answer is 7."
    assert spans_text(text, "line") == ["3 + 4 = 7\n\n", "So 7 apples.\n", "The answer is 7."]
    assert spans_text("\n\nFirst\nSecond\n", "line") == ["\n\nFirst\n", "Second\n"]
    assert spans_text("", "line") == []
    assert spans_text("\n", "line") == ["\n"]


def test_blank_line_steps():
    text = "Para one\nstill one\n\nPara two\n\n\nPara three"
    assert spans_text(text, "blank_line") == ["Para one\nstill one\n\n", "Para two\n\n\n", "Para three"]


def test_token_steps_group_fixed_token_counts():
    pieces = ["ab", "c", "d", "ef", "g"]
    text = "".join(pieces)
    assert spans_text(text, "tokens:2", [len(p) for p in pieces]) == ["abc", "def", "g"]


def test_stop_strings_and_limits():
    assert StepFormat.parse("line").stop == ("\n",)
    assert StepFormat.parse("blank_line").stop == ("\n\n",)
    assert StepFormat.parse("tokens:24").stop == ()
    assert StepFormat.parse("tokens:24").step_token_limit(256) == 24
    assert StepFormat.parse("line").step_token_limit(256) == 256
    assert str(StepFormat.parse("tokens:8")) == "tokens:8"


def test_assign_tokens_by_token_end():
    text = "a b\nc\n"
    lengths = [1, 2, 1, 2]  # "a", " b", "\n", "c\n"
    spans = StepFormat.parse("line").char_spans(text)
    assert assign_tokens(spans, lengths, len(text)) == [[0, 1, 2], [3]]


def test_assign_tokens_falls_back_when_pieces_do_not_add_up():
    # byte-level pieces of a multi-byte character decode to replacement chars of another length
    groups = assign_tokens([(0, 4), (4, 8)], [1, 1, 1, 1, 1, 1], 8)
    assert [len(g) for g in groups] == [3, 3] and [i for g in groups for i in g] == list(range(6))


def test_a_blank_candidate_step_is_continued_so_steps_have_content():
    from qstar_cli.environment import Policy
    from tests.fakes import ScriptedBackend

    backend = ScriptedBackend({"S:": [("\n", "stop"), ("B\n", "stop"), ("B\n", "stop")], "S:\n": [("C\n", "stop")]})
    out = Policy(backend, StepFormat.parse("line")).propose_steps(["S:"], k=3, temperature=0.9)
    assert [g.text for g in out[0]] == ["\nC\n", "B\n"]  # the blank one continued; duplicates merged
    assert len(backend.seen) == 2 and backend.seen[1][0] == ["S:\n"]  # one extra call, only for blanks


def test_a_cancelled_request_is_never_generated_nor_handed_back():
    from qstar_cli.environment import Policy
    from tests.fakes import ScriptedBackend

    backend = ScriptedBackend({"A:": [("a\n", "stop")], "B:": [("b\n", "stop")]})
    policy = Policy(backend, StepFormat.parse("line"))
    keep = policy.submit_propose("A:", 1, 0.7)
    drop = policy.submit_propose("B:", 1, 0.7)
    policy.cancel([drop])
    assert [(ticket, [g.text for g in gens]) for ticket, gens in policy.collect()] == [(keep, ["a\n"])]
    assert [prompts for prompts, _ in backend.seen] == [["A:"]]  # B's prompt never reached the engine
    assert policy.collect() == []  # nothing left in flight
