"""Greedy, self-consistency and best-of-N on a scripted environment: votes, ties and rankings."""

from __future__ import annotations

import pytest

from qstar_cli.search import sampling
from qstar_cli.search.base import Candidate, Question, SearchEnv

Q = Question("q", "toy", "P:")


class Samples(SearchEnv):
    """`complete` returns the scripted samples (text, finish); a sample's steps are its lines; its
    answer is what follows "=" on its last line. Step scores come from `q` (QVM, by step text) or
    `prm` (by step text); `equal` lists answers the grader holds equal."""

    def __init__(self, samples, q=None, prm=None, equal=()):
        self.samples, self.q, self.prm, self.equal = samples, q or {}, prm or {}, [set(e) for e in equal]
        self.calls = {"complete": 0, "q": 0, "prm": 0}
        self.scored = []

    def complete(self, requests, n, temperature, logprobs=False):
        self.calls["complete"] += 1
        assert n == len(self.samples) or n == 1
        return [[Candidate(t, len(t.splitlines()), f) for t, f in self.samples[:n]] for _ in requests]

    def q_values(self, requests):
        self.calls["q"] += 1
        self.scored += [(tuple(steps), a) for _, steps, a in requests]
        return [self.q[a] for _, _, a in requests]

    def prm_scores(self, requests):
        self.calls["prm"] += 1
        return [[self.prm[s] for s in steps] for _, steps in requests]

    def split_steps(self, text, tokens):
        return text.splitlines(keepends=True)

    def extract_answer(self, question, text):
        last = text.strip().splitlines()[-1]
        return last.split("=")[-1].strip() if "=" in last else None

    def same_answer(self, question, a, b):
        return a == b or any(a in e and b in e for e in self.equal)


def test_greedy_takes_its_one_sample():
    env = Samples([("x=1\n", "eos")])
    (r,) = sampling.greedy([Q], env, sampling.GreedyConfig())
    assert r.answer.text == "x=1\n" and r.usage.policy_calls == 1 and r.usage.generated_tokens == 1


def test_self_consistency_majority_and_ties_go_to_the_answer_seen_first():
    env = Samples([("a=7\n", "eos"), ("b=8\n", "eos"), ("c=8\n", "eos"), ("d=7\n", "eos")])
    (r,) = sampling.self_consistency([Q], env, sampling.SelfConsistencyConfig(n=4))
    assert r.answer.text == "a=7\n"  # 7 and 8 twice each: 7 was seen first
    assert [t.score for t in r.terminals] == [0.5, 0.5, 0.5, 0.5]
    env = Samples([("a=7\n", "eos"), ("b=8\n", "eos"), ("c=8\n", "eos"), ("d=9\n", "eos")])
    (r,) = sampling.self_consistency([Q], env, sampling.SelfConsistencyConfig(n=4))
    assert r.answer.text == "b=8\n"


def test_self_consistency_groups_equivalent_answers():
    # as strings 3 leads (2 votes against 1 each); as values one half has 3 votes
    env = Samples(
        [("a=3\n", "eos"), ("b=3\n", "eos"), ("c=1/2\n", "eos"), ("d=0.5\n", "eos"), ("e=0.50\n", "eos")],
        equal=[("1/2", "0.5", "0.50")],
    )
    (r,) = sampling.self_consistency([Q], env, sampling.SelfConsistencyConfig(n=5))
    assert r.answer.text == "c=1/2\n" and r.answer.score == pytest.approx(3 / 5)


def test_self_consistency_counts_cut_off_samples_only_when_none_finished():
    env = Samples([("a=7\n", "length"), ("b=7\n", "length"), ("c=8\n", "eos")])
    (r,) = sampling.self_consistency([Q], env, sampling.SelfConsistencyConfig(n=3))
    assert r.answer.text == "c=8\n"


# Three samples of two steps; the step scores make each combination pick another sample:
# last: S1 (.8); min: S2 (.5); mean: S3 (.6)
THREE = [("s1a\ns1b=1\n", "eos"), ("s2a\ns2b=2\n", "eos"), ("s3a\ns3b=3\n", "eos")]
SCORES = {"s1a\n": 0.1, "s1b=1\n": 0.8, "s2a\n": 0.5, "s2b=2\n": 0.6, "s3a\n": 0.9, "s3b=3\n": 0.3}


@pytest.mark.parametrize("score,winner", [("last", "s1a\ns1b=1\n"), ("min", "s2a\ns2b=2\n"), ("mean", "s3a\ns3b=3\n")])
def test_best_of_n_by_the_qvm(score, winner):
    env = Samples(THREE, q=SCORES)
    (r,) = sampling.best_of_n([Q], env, sampling.BestOfNConfig(n=3, score=score))
    assert r.answer.text == winner
    assert env.calls == {"complete": 1, "q": 1, "prm": 0}
    assert r.usage.qvm_calls == 1 and r.usage.prm_calls == 0
    # last scores only (s_t, a_t) of each last step; min and mean score every step
    assert r.usage.scored == (3 if score == "last" else 6)
    if score == "last":
        assert env.scored == [(("s1a\n",), "s1b=1\n"), (("s2a\n",), "s2b=2\n"), (("s3a\n",), "s3b=3\n")]


@pytest.mark.parametrize("score,winner", [("last", "s1a\ns1b=1\n"), ("min", "s2a\ns2b=2\n"), ("mean", "s3a\ns3b=3\n")])
def test_best_of_n_by_a_prm_ranks_by_its_scores(score, winner):
    env = Samples(THREE, prm=SCORES)
    (r,) = sampling.best_of_n([Q], env, sampling.BestOfNConfig(n=3, rank_by="prm", score=score))
    assert r.answer.text == winner and r.answer.score == pytest.approx({"last": 0.8, "min": 0.5, "mean": 0.6}[score])
    assert env.calls == {"complete": 1, "q": 0, "prm": 1}
    assert r.usage.prm_calls == 1 and r.usage.qvm_calls == 0


def test_best_of_n_prefers_a_finished_sample_to_a_cut_off_one():
    env = Samples([("s1a\ns1b=1\n", "length"), ("s2a\ns2b=2\n", "eos")], q=SCORES)
    (r,) = sampling.best_of_n([Q], env, sampling.BestOfNConfig(n=2))
    assert r.answer.text == "s2a\ns2b=2\n"


@pytest.mark.parametrize(
    "samples,q,picks",
    [
        # 7 once at .9, 8 twice at .5: best 7; 8 wins the vote (2 > 1) and the weighted vote (1.0 > .9)
        (
            [("p=7\n", "eos"), ("q=8\n", "eos"), ("r=8\n", "eos")],
            {"p=7\n": 0.9, "q=8\n": 0.5, "r=8\n": 0.5},
            {"best_f": "p=7\n", "vote": "q=8\n", "weighted": "q=8\n"},
        ),
        # 9 once (.95), 7 twice (.6 + .6 = 1.2), 8 three times (.2 x 3 = .6): best 9, vote 8, weighted 7
        (
            [
                ("c=9\n", "eos"),
                ("a1=7\n", "eos"),
                ("a2=7\n", "eos"),
                ("b1=8\n", "eos"),
                ("b2=8\n", "eos"),
                ("b3=8\n", "eos"),
            ],
            {"c=9\n": 0.95, "a1=7\n": 0.6, "a2=7\n": 0.6, "b1=8\n": 0.2, "b2=8\n": 0.2, "b3=8\n": 0.2},
            {"best_f": "c=9\n", "vote": "b1=8\n", "weighted": "a1=7\n"},
        ),
    ],
)
def test_best_of_n_answer_choice(samples, q, picks):
    got = {}
    for how in picks:
        (r,) = sampling.best_of_n([Q], Samples(samples, q=q), sampling.BestOfNConfig(n=len(samples), answer=how))
        got[how] = r.answer.text
    assert got == picks


def test_best_of_n_weighted_vote_groups_equivalent_answers_and_skips_cut_off_samples():
    # one half twice (.4 + .4 = .8) beats 3 (.7) only when 1/2 and 0.5 are one answer; the cut-off
    # sample (.99) counts for nothing while others finished
    samples = [("a=3\n", "eos"), ("b=1/2\n", "eos"), ("c=0.5\n", "eos"), ("d=4\n", "length")]
    q = {"a=3\n": 0.7, "b=1/2\n": 0.4, "c=0.5\n": 0.4, "d=4\n": 0.99}
    cfg = sampling.BestOfNConfig(n=4, answer="weighted")
    (r,) = sampling.best_of_n([Q], Samples(samples, q=q, equal=[("1/2", "0.5")]), cfg)
    assert r.answer.text == "b=1/2\n"
    (r,) = sampling.best_of_n([Q], Samples(samples, q=q), cfg)
    assert r.answer.text == "a=3\n"
