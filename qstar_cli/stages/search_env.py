"""The real search environment: the policy backend, the QVM and a process utility behind the
batched `SearchEnv` interface that every search method uses.

Each method of the env is one backend call for all the requests given, whatever the number of
questions. `submit` / `collect` stream requests through the policy, so on vLLM a search keeps the
engine's batch full (see search/driver.py). The process utility R_P of a new step is one of: `none` (0), `confidence` (Marco-o1's
mean top-5-normalised token confidence of the step), `prm` (a process reward model's score of
the step), or `rule` (the dataset's rule; by default a step that repeats an earlier step verbatim,
a loop the small models fall into, costs -1; code datasets add a syntax check).
"""

from __future__ import annotations

from qstar_cli.backends.base import Policy
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Candidate, Question, SearchEnv
from qstar_cli.steps import StepFormat

def _candidate(gen) -> Candidate:
    return Candidate(gen.text, gen.num_tokens, gen.finish_reason, gen.token_logprobs, gen.top_logprobs,
                     gen.generated)


class PolicySearchEnv(SearchEnv):
    def __init__(self, backend, dataset, fmt: StepFormat, *, qvm=None, prm=None, max_step_tokens: int = 256,
                 max_tokens: int = 512, top_p: float = 1.0):
        self.backend = backend
        self.policy = Policy(backend, fmt, max_step_tokens)
        self.dataset = dataset
        self.fmt = fmt
        self.qvm = qvm
        self.prm = prm
        self.max_tokens = max_tokens
        self.top_p = top_p

    @staticmethod
    def _states(requests) -> list[str]:
        return [q.prompt + "".join(steps) for q, steps in requests]

    def propose(self, requests, k, temperature, logprobs=False):
        gens = self.policy.propose_steps(self._states(requests), k, temperature, self.top_p,
                                         logprobs=5 if logprobs else None)
        return [[_candidate(g) for g in gs] for gs in gens]

    def complete(self, requests, n, temperature, logprobs=False):
        gens = self.policy.complete(self._states(requests), n, temperature, self.max_tokens, self.top_p,
                                    logprobs=5 if logprobs else None)
        return [[_candidate(g) for g in gs] for gs in gens]

    def submit(self, kind, question, steps, n, temperature, logprobs=False):
        state = question.prompt + "".join(steps)
        lp = 5 if logprobs else None
        if kind == "propose":
            return self.policy.submit_propose(state, n, temperature, self.top_p, logprobs=lp)
        return self.policy.submit_complete(state, n, temperature, self.max_tokens, self.top_p, logprobs=lp)

    def collect(self):
        return [(ticket, [_candidate(g) for g in gens]) for ticket, gens in self.policy.collect()]

    def q_values(self, requests):
        if self.qvm is None:
            raise QstarError("this search needs a Q-value model: --qvm DIR (from qstar train-q)")
        return self.qvm.score([(q.text, steps, action) for q, steps, action in requests])

    def process_utility(self, requests, kind):
        if kind == "none":
            return [0.0] * len(requests)
        if kind == "confidence":
            from qstar_cli.search.confidence import mean_confidence

            return [mean_confidence(c) if c.token_logprobs else 0.0 for _, _, c in requests]
        if kind == "prm":
            return [scores[-1] for scores in self.prm_scores([(q, steps + [c.text]) for q, steps, c in requests])]
        rule = getattr(self.dataset, "rule_utility", None) or repeated_step_penalty
        return [rule(q, steps, c.text) for q, steps, c in requests]

    def prm_scores(self, requests):
        if self.prm is None:
            raise QstarError("this search needs a process reward model: --prm MODEL")
        return self.prm.step_scores([(q.text, steps) for q, steps in requests])

    def split_steps(self, text, tokens):
        lengths = None
        if self.fmt.kind == "tokens":
            lengths = self.backend.piece_lengths(self.backend.tokenizer.encode(text, add_special_tokens=False))
        return [text[a:b] for a, b in self.fmt.char_spans(text, lengths)]

    def extract_answer(self, question: Question, text: str):
        return self.dataset.extract_answer(text)

    def same_answer(self, question: Question, a: str, b: str) -> bool:
        return self.dataset.same_answer(a, b)


def repeated_step_penalty(question, steps: list[str], step: str) -> float:
    """-1 for a step that repeats an earlier one verbatim (the model is looping), else 0."""
    return -1.0 if step.strip() and step.strip() in {s.strip() for s in steps} else 0.0
