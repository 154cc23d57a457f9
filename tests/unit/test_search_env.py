"""PolicySearchEnv on a scripted policy backend: what each batched call asks the backend, and that
every search method charges exactly the tokens the backend generated (duplicates, blank-step
continuations, empty EOS proposals and fallbacks included)."""

from __future__ import annotations

import pytest

from qstar_cli import search
from qstar_cli.backends.base import Generation, PolicyBackend
from qstar_cli.datasets.registry import get_dataset
from qstar_cli.environment import PolicySearchEnv, repeated_step_penalty
from qstar_cli.search.base import Candidate, Question
from qstar_cli.steps import StepFormat

# What the toy policy proposes, in turn, whenever it is asked for steps (a call with stop strings):
# duplicates (merged by propose, but generated all the same), a blank line (continued in a second
# call), an empty EOS (the solution ended with the previous step) and a finishing step.
PROPOSALS = [
    ("a\n", "stop"),
    ("a\n", "stop"),
    ("\n", "stop"),
    ("b\n", "stop"),
    ("", "eos"),
    ("The answer is 3.\n", "eos"),
    ("c\n", "stop"),
]


class ToyPolicy(PolicyBackend):
    """Each generation has one token per character plus one for its stop string or EOS."""

    name = "toy"

    def __init__(self):
        super().__init__()
        self.turn = 0
        self.calls = []

    def _generate_text(self, prompts, params, keys=None):
        self.calls.append((list(prompts), params))
        out = []
        for _ in prompts:
            gens = []
            for _ in range(params.n):
                if params.stop:
                    text, finish = PROPOSALS[self.turn % len(PROPOSALS)]
                    self.turn += 1
                else:
                    text, finish = "x = 1 + 2\nThe answer is 3.\n", "eos"
                ids = [0] * (len(text) + 1)
                lps = [-0.1] * len(ids) if params.logprobs is not None else None
                tops = [[-0.1, -3.0]] * len(ids) if params.logprobs is not None else None
                gens.append(Generation(text, ids, finish, lps, tops))
            out.append(gens)
        return out

    def piece_lengths(self, token_ids):
        return [1] * len(token_ids)


class ToyQVM:
    def score(self, items):
        return [0.1 * (len(steps) % 5) + 0.05 * len(action) % 0.4 for _, steps, action in items]


class ToyPRM:
    def step_scores(self, items):
        return [[0.5 + 0.01 * i for i, _ in enumerate(steps)] for _, steps in items]


def make_env():
    backend = ToyPolicy()
    env = PolicySearchEnv(
        backend,
        get_dataset("gsm8k"),
        StepFormat.parse("line"),
        qvm=ToyQVM(),
        prm=ToyPRM(),
        max_step_tokens=32,
        max_tokens=64,
    )
    return backend, env


QUESTIONS = [Question(f"q{i}", f"toy {i}?", f"P{i}:") for i in range(3)]

CONFIGS = {
    "greedy": search.sampling.GreedyConfig(),
    "self_consistency": search.sampling.SelfConsistencyConfig(n=4),
    "best_of_n": search.sampling.BestOfNConfig(n=4, score="mean"),
    "best_of_n_prm": search.sampling.BestOfNConfig(n=4, rank_by="prm", score="min"),
    "beam": search.beam.BeamConfig(width=2, k=4, max_depth=4),
    "mcts": search.mcts.MCTSConfig(iterations=5, k=4, max_depth=4, reflection=True),
    "astar": search.astar.AStarConfig(k=4, budget=5, n_terminals=3, max_depth=4, utility="confidence"),
    "astar_lookahead": search.astar.AStarConfig(k=3, budget=3, n_terminals=3, max_depth=3, heuristic="lookahead"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_reported_tokens_equal_what_the_backend_generated(name):
    backend, env = make_env()
    method = name.removesuffix("_prm").removesuffix("_lookahead")
    results = search.run(method, QUESTIONS, env, CONFIGS[name])
    assert len(results) == len(QUESTIONS)
    assert sum(r.usage.generated_tokens for r in results) == backend.usage.generated_tokens > 0


def test_propose_merges_duplicates_but_keeps_their_tokens_and_continues_blank_steps():
    backend, env = make_env()
    (cands,) = env.propose([(QUESTIONS[0], [])], k=4, temperature=0.9)
    # a, a (merged into one), a blank line (continued by one more call, which ends the solution
    # at once: an empty EOS of 1 token), b
    assert [(c.text, c.finish) for c in cands] == [("a\n", "stop"), ("\n", "eos"), ("b\n", "stop")]
    assert [c.tokens for c in cands] == [3, 2 + 1, 3]
    assert [c.cost for c in cands] == [3 + 3, 2 + 1, 3]
    assert sum(c.cost for c in cands) == backend.usage.generated_tokens == 12
    assert len(backend.calls) == 2 and backend.calls[1][0] == ["P0:\n"]


def test_process_utilities_by_kind():
    _backend, env = make_env()
    q = QUESTIONS[0]
    cand = Candidate("a\n", 2, "stop", [0.0, 0.0], [[0.0, -30.0], [0.0, -30.0]])
    reqs = [(q, ["a\n"], cand), (q, [], cand)]
    assert env.process_utility(reqs, "none") == [0.0, 0.0]
    assert env.process_utility(reqs, "confidence") == pytest.approx([1.0, 1.0], abs=1e-6)
    assert env.process_utility(reqs, "rule") == [-1.0, 0.0]  # the first repeats its earlier step
    # the PRM scores the new step: the last of (steps so far + the step)
    assert env.process_utility(reqs, "prm") == pytest.approx([0.51, 0.50])
    assert env.prm_scores([(q, ["a\n", "b\n", "c\n"])]) == [pytest.approx([0.5, 0.51, 0.52])]
    assert repeated_step_penalty(q, ["x\n"], " x\n") == -1.0


def test_same_answer_is_the_graders_equivalence():
    _, env = make_env()
    q = QUESTIONS[0]
    assert env.same_answer(q, "0.5", "1/2") and env.same_answer(q, "18", "18.00")
    assert not env.same_answer(q, "18", "19")


def test_complete_and_q_values_are_one_call_each():
    backend, env = make_env()
    outs = env.complete([(q, ["a\n"]) for q in QUESTIONS], n=2, temperature=0.7)
    assert len(backend.calls) == 1 and backend.calls[0][1].max_tokens == 64 and backend.calls[0][1].n == 2
    assert backend.calls[0][0] == ["P0:a\n", "P1:a\n", "P2:a\n"]
    assert [len(o) for o in outs] == [2, 2, 2]
    assert env.split_steps("x = 1\nThe answer is 1.\n", 10) == ["x = 1\n", "The answer is 1.\n"]
