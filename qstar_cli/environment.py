"""The environment every consumer of the policy shares: search, labelers, collect and the benchmarks.

`Policy` puts the step-level calls on top of one backend (`backends/base.PolicyBackend`):
`propose_steps` (K candidate next steps for many states, de-duplicated), `complete` (finish many
states to the end) and `complete_batches` (the same for a stream of batches, the next one in the
engine before this one is waited for); each propose/complete is also a streamed request
(`submit_*` / `collect`), so a search on vLLM keeps the engine's batch full (see search/driver.py).

`PolicySearchEnv` is the real search environment: the policy, the QVM and a process utility behind
the batched `SearchEnv` interface that every search method uses. Each of its methods is one backend
call for all the requests given, whatever the number of questions. The process utility R_P of a new
step is one of: `none` (0), `confidence` (Marco-o1's mean top-5-normalised token confidence of the
step), `prm` (a process reward model's score of the step), or `rule` (the dataset's rule; by default
a step that repeats an earlier step verbatim, a loop the small models fall into, costs -1; code
datasets add a syntax check).

The labelers talk to the policy exactly as search does, through a `SearchEnv` (this module's on a
backend, the tests' toy environments otherwise), and never import a backend; collect-rollouts
uses `Policy.complete_batches` (it keeps each step's log-probability from the backend's own split).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qstar_cli.backends.base import Generation, GenParams, PolicyBackend
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Candidate, Question, SearchEnv
from qstar_cli.steps import MAX_STEP_TOKENS, StepFormat


class Policy:
    """Step-level calls for stages and search, on top of one backend.

    Each call is also a streamed request: `submit_propose` / `submit_complete` return a ticket and
    `collect` hands back finished requests, whole (a proposal's blank candidates already continued,
    duplicates merged). `propose_steps` and `complete` submit many and wait for exactly those.
    """

    def __init__(self, backend: PolicyBackend, step_format: StepFormat, max_step_tokens: int = MAX_STEP_TOKENS):
        self.backend = backend
        self.step_format = step_format
        self.max_step_tokens = max_step_tokens
        self._tickets = itertools.count()
        self._open: dict[int, _Request] = {}  # policy ticket -> request in flight
        self._parts: dict[int, tuple[int, int | None]] = {}  # backend ticket -> (policy ticket, sample or None)
        self._done: dict[int, list[Generation]] = {}  # finished, not yet handed back

    def step_params(self, k: int, temperature: float, top_p: float = 1.0, logprobs: int | None = None) -> GenParams:
        return GenParams(
            n=k,
            temperature=temperature,
            top_p=top_p,
            stop=self.step_format.stop,
            max_tokens=self.step_format.step_token_limit(self.max_step_tokens),
            logprobs=logprobs,
        )

    def submit_propose(
        self,
        state: str,
        k: int,
        temperature: float,
        top_p: float = 1.0,
        logprobs: int | None = None,
        key: str | None = None,
    ) -> int:
        """K sampled candidate next steps of one state, identical texts merged (first kept).

        A candidate that is only whitespace (the model wrote an empty line) is continued once, as
        soon as it comes back, so that every step has content: collected solutions are cut the
        same way (blank lines never stand alone as steps), and the QVM was trained on those.
        """
        return self._submit(_Request(state, self.step_params(k, temperature, top_p, logprobs), True, key))

    def submit_complete(
        self,
        state: str,
        n: int,
        temperature: float,
        max_tokens: int,
        top_p: float = 1.0,
        logprobs: int | None = None,
        key: str | None = None,
    ) -> int:
        """n continuations of one state to the end of the solution (or max_tokens)."""
        return self._submit(
            _Request(
                state,
                GenParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, logprobs=logprobs),
                False,
                key,
            )
        )

    def _submit(self, request: _Request) -> int:
        ticket = next(self._tickets)
        self._open[ticket] = request
        self._parts[self.backend.submit(request.state, request.params, request.key)] = (ticket, None)
        return ticket

    def collect(self) -> list[tuple[int, list[Generation]]]:
        """Finished requests as (ticket, generations); waits for at least one while any is in flight."""
        while not self._done and self._open:
            self._pump()
        done, self._done = self._done, {}
        return sorted(done.items())

    def cancel(self, tickets: list[int]) -> None:
        """Give these requests up: their backend requests are cancelled, nothing comes back for them."""
        drop = set(tickets)
        parts = [part for part, (ticket, _) in self._parts.items() if ticket in drop]
        for part in parts:
            del self._parts[part]
        self.backend.cancel(parts)
        for ticket in drop:
            self._open.pop(ticket, None)
            self._done.pop(ticket, None)

    def wait(self, tickets: list[int]) -> list[list[Generation]]:
        """The generations of exactly these tickets; others that finish meanwhile stay for `collect`."""
        while any(t not in self._done for t in tickets):
            self._pump()
        return [self._done.pop(t) for t in tickets]

    def _pump(self) -> None:
        """One backend collect: finished parts go to their requests; whole requests to `_done`."""
        if not self.backend.in_flight():
            raise RuntimeError("waiting for a policy request the backend does not hold")  # a bug, never a user error
        for part, gens in self.backend.collect():
            ticket, sample = self._parts.pop(part)
            request = self._open[ticket]
            if sample is None:
                request.gens = gens
                if request.propose:
                    for j, g in enumerate(gens):
                        if g.finish_reason == "stop" and not g.text.strip():
                            more = self.backend.submit(
                                request.state + g.text, GenParams(**{**vars(request.params), "n": 1}), request.key
                            )
                            self._parts[more] = (ticket, j)
                            request.waiting += 1
            else:
                request.gens[sample] = _joined(request.gens[sample], gens[0])
                request.waiting -= 1
            if request.waiting == 0:
                del self._open[ticket]
                self._done[ticket] = _merged(request.gens) if request.propose else request.gens

    def propose_steps(
        self,
        states: list[str],
        k: int,
        temperature: float,
        top_p: float = 1.0,
        logprobs: int | None = None,
        keys: list | None = None,
    ) -> list[list[Generation]]:
        """`submit_propose` for many states, in one backend call (plus one for blank candidates)."""
        keys = keys or [None] * len(states)
        return self.wait([self.submit_propose(s, k, temperature, top_p, logprobs, key) for s, key in zip(states, keys)])

    def complete(
        self,
        states: list[str],
        n: int,
        temperature: float,
        max_tokens: int,
        top_p: float = 1.0,
        logprobs: int | None = None,
        keys: list | None = None,
    ) -> list[list[Generation]]:
        """`submit_complete` for many states, in one backend call."""
        keys = keys or [None] * len(states)
        return self.wait(
            [self.submit_complete(s, n, temperature, max_tokens, top_p, logprobs, key) for s, key in zip(states, keys)]
        )

    def complete_batches(
        self,
        batches: Iterable[tuple[list[str], list | None]],
        n: int,
        temperature: float,
        max_tokens: int,
        top_p: float = 1.0,
        logprobs: int | None = None,
    ) -> Iterator[list[list[Generation]]]:
        """`complete` for each (states, their question keys) batch in turn, yielded as soon as it is
        done; on a streaming backend the next batch is in the engine before this one is waited for
        (no drain between batches: collect-rollouts streams this way)."""
        params = GenParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, logprobs=logprobs)
        return self.backend.generate_batches((states, params, keys) for states, keys in batches)

    def render(self, messages: list[dict]) -> str:
        """The prompt text of a chat, in the backend's own template."""
        return self.backend.render(messages)

    @property
    def usage(self):
        return self.backend.usage

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.backend.__exit__(*exc)  # closes it, or hands it back to `keep_engines`


@dataclass
class _Request:
    state: str
    params: GenParams
    propose: bool  # a step proposal (blank candidates continued, duplicates merged) or a completion
    key: str | None = None  # the question it belongs to (a backend with replicas keeps it on one)
    gens: list[Generation] | None = None
    waiting: int = 0  # blank candidates whose continuation is still in flight


def _merged(gens: list[Generation]) -> list[Generation]:
    """Identical texts merged, the first kept; the merged ones' tokens were generated all the same."""
    unique: dict[str, Generation] = {}
    for g in gens:
        if g.text in unique:
            first = unique[g.text]
            first.generated = (first.generated or first.num_tokens) + g.num_tokens
        else:
            unique[g.text] = g
    return list(unique.values())


def _joined(first: Generation, second: Generation) -> Generation:
    """One generation made of two consecutive ones (text, tokens, logprobs; the second's finish)."""

    def cat(a, b):
        return None if a is None or b is None else a + b

    tokens = None if first.tokens is None and second.tokens is None else first.num_tokens + second.num_tokens
    return Generation(
        first.text + second.text,
        first.token_ids + second.token_ids,
        second.finish_reason,
        cat(first.token_logprobs, second.token_logprobs),
        cat(first.top_logprobs, second.top_logprobs),
        tokens,
    )


def _candidate(gen) -> Candidate:
    return Candidate(gen.text, gen.num_tokens, gen.finish_reason, gen.token_logprobs, gen.top_logprobs, gen.generated)


class PolicySearchEnv(SearchEnv):
    def __init__(
        self,
        backend,
        dataset,
        fmt: StepFormat,
        *,
        qvm=None,
        prm=None,
        max_step_tokens: int = MAX_STEP_TOKENS,
        max_tokens: int = 512,
        top_p: float = 1.0,
    ):
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
        return self._candidates(self.policy.propose_steps, requests, logprobs, k, temperature)

    def complete(self, requests, n, temperature, logprobs=False):
        return self._candidates(self.policy.complete, requests, logprobs, n, temperature, self.max_tokens)

    def _candidates(self, call, requests, logprobs: bool, *args) -> list[list[Candidate]]:
        """`call` (a `Policy` method) on the requests' states with `args`, the top-p and the
        question keys; its generations as candidates."""
        gens = call(
            self._states(requests),
            *args,
            self.top_p,
            logprobs=5 if logprobs else None,
            keys=[q.id for q, _ in requests],
        )
        return [[_candidate(g) for g in gs] for gs in gens]

    def submit(self, kind, question, steps, n, temperature, logprobs=False):
        state = question.prompt + "".join(steps)
        lp = 5 if logprobs else None
        if kind == "propose":
            return self.policy.submit_propose(state, n, temperature, self.top_p, logprobs=lp, key=question.id)
        return self.policy.submit_complete(
            state, n, temperature, question.max_tokens or self.max_tokens, self.top_p, logprobs=lp, key=question.id
        )

    def collect(self):
        return [(ticket, [_candidate(g) for g in gens]) for ticket, gens in self.policy.collect()]

    def cancel(self, tickets):
        self.policy.cancel(tickets)

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
            if self.backend.tokenizer is None:
                raise QstarError(
                    f"{self.fmt} steps are cut with the model's tokenizer; this backend has none "
                    "(a served model: set policy.options.openai.tokenizer)"
                )
            lengths = self.backend.piece_lengths(self.backend.tokenizer.encode(text, add_special_tokens=False))
        return [text[a:b] for a, b in self.fmt.char_spans(text, lengths)]

    def extract_answer(self, question: Question, text: str):
        return self.dataset.extract_answer(text)

    def same_answer(self, question: Question, a: str, b: str) -> bool:
        return self.dataset.same_answer(a, b)


def repeated_step_penalty(question, steps: list[str], step: str) -> float:
    """-1 for a step that repeats an earlier one verbatim (the model is looping), else 0."""
    return -1.0 if step.strip() and step.strip() in {s.strip() for s in steps} else 0.0
