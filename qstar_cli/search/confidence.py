"""Marco-o1's token confidence, the rollout reward MCTS uses when no value model is configured.

For each generated token t_i the confidence is c_i = exp(logp(t_i)) / sum_{k in top-5} exp(logp(t_k)):
the sampled token's probability renormalised over the five most likely alternatives at that
position. A solution's confidence is the mean of c_i over its tokens. Everything is computed in log
space (log-sum-exp) so that very unlikely tokens (log-probabilities of -1000 and below) neither
underflow to 0/0 nor lose precision. Pure Python: search code imports neither torch nor vLLM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qstar_cli.search.base import Candidate

TOP_K = 5


def _logsumexp(values: Sequence[float]) -> float:
    m = max(values)
    if m == -math.inf:  # all alternatives impossible; avoid inf - inf = nan below
        return -math.inf
    return m + math.log(sum(math.exp(v - m) for v in values))


def token_confidences(token_logprobs: Sequence[float], top_logprobs: Sequence[Sequence[float]]) -> list[float]:
    """c_i for every position i: the sampled token's probability over the top-5 alternatives' mass.

    `top_logprobs[i]` lists the best alternatives at position i, best first; only the first five
    are used (fewer are used as given). The sampled token need not be among them.
    """
    if len(token_logprobs) != len(top_logprobs):
        raise ValueError(f"{len(token_logprobs)} token logprobs but {len(top_logprobs)} top-logprob lists")
    out = []
    for i, (logp, tops) in enumerate(zip(token_logprobs, top_logprobs)):
        tops = list(tops)[:TOP_K]
        if not tops:
            # an empty denominator would make c_i undefined; it means the backend sent no top-k
            raise ValueError(f"no top logprobs at position {i}; request top-5 logprobs from the policy")
        denom = _logsumexp(tops)
        # a token with an impossible top-5 (or itself impossible) carries no confidence
        out.append(0.0 if denom == -math.inf or logp == -math.inf else math.exp(logp - denom))
    return out


def mean_confidence(candidate: Candidate) -> float:
    """Mean token confidence of a candidate's tokens; 0.0 when it has none."""
    if candidate.tokens == 0:
        return 0.0  # nothing was generated, so there is nothing to be confident about
    if candidate.token_logprobs is None or candidate.top_logprobs is None:
        raise ValueError("candidate has no logprobs; generate it with logprobs=True")
    confs = token_confidences(candidate.token_logprobs, candidate.top_logprobs)
    return sum(confs) / len(confs) if confs else 0.0
