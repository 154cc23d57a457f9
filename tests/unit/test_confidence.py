"""Marco-o1 token confidence on hand-computed log-probabilities."""

import math

import pytest

from qstar_cli.search.base import Candidate
from qstar_cli.search.confidence import mean_confidence, token_confidences

LN = math.log
TOP5 = [LN(0.5), LN(0.2), LN(0.1), LN(0.1), LN(0.05)]


def test_sampled_token_in_the_top_5():
    # 0.5 / (0.5 + 0.2 + 0.1 + 0.1 + 0.05)
    assert token_confidences([LN(0.5)], [TOP5]) == [pytest.approx(0.5 / 0.95, abs=1e-12)]
    assert token_confidences([LN(0.05)], [TOP5]) == [pytest.approx(0.05 / 0.95, abs=1e-12)]


def test_sampled_token_outside_the_top_5():
    # its own probability is not in the denominator, which holds only the top-5 mass
    assert token_confidences([LN(0.01)], [TOP5]) == [pytest.approx(0.01 / 0.95, abs=1e-12)]


def test_only_the_first_five_alternatives_count_and_fewer_are_used_as_given():
    six = TOP5 + [LN(0.04)]
    assert token_confidences([LN(0.5)], [six]) == [pytest.approx(0.5 / 0.95, abs=1e-12)]
    assert token_confidences([LN(0.2)], [[LN(0.6), LN(0.2)]]) == [pytest.approx(0.2 / 0.8, abs=1e-12)]
    assert token_confidences([LN(0.9)], [[LN(0.9)]]) == [pytest.approx(1.0, abs=1e-12)]


def test_very_negative_logprobs_do_not_underflow():
    # exp(-1000) is 0.0 in floating point; the ratio exp(-1000)/(exp(-1000)+exp(-1001)) is not
    (c,) = token_confidences([-1000.0], [[-1000.0, -1001.0]])
    assert c == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-12)
    (c,) = token_confidences([-2000.0], [[-1990.0] * 5])
    assert c == pytest.approx(math.exp(-10) / 5, rel=1e-12)
    assert token_confidences([-math.inf], [TOP5]) == [0.0]


def test_several_positions_and_the_mean():
    cand = Candidate("two tokens", 2, "stop", [LN(0.5), LN(0.2)], [TOP5, [LN(0.4), LN(0.4), LN(0.2)]])
    assert token_confidences(cand.token_logprobs, cand.top_logprobs) == [
        pytest.approx(0.5 / 0.95, abs=1e-12),
        pytest.approx(0.2, abs=1e-12),
    ]
    assert mean_confidence(cand) == pytest.approx((0.5 / 0.95 + 0.2) / 2, abs=1e-12)


def test_a_candidate_without_tokens_has_confidence_zero():
    assert mean_confidence(Candidate("", 0, "eos")) == 0.0
    assert mean_confidence(Candidate("", 0, "eos", [], [])) == 0.0


def test_missing_or_malformed_logprobs_are_errors():
    with pytest.raises(ValueError, match="logprobs"):
        mean_confidence(Candidate("abc", 1, "stop"))
    with pytest.raises(ValueError, match="logprobs"):
        mean_confidence(Candidate("abc", 1, "stop", [LN(0.5)], None))
    with pytest.raises(ValueError):
        token_confidences([LN(0.5), LN(0.5)], [TOP5])
    with pytest.raises(ValueError, match="top"):
        token_confidences([LN(0.5)], [[]])
