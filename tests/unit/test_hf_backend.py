"""The transformers backend on a tiny random model: stop strings, finish reasons, logprobs."""

import pytest

torch = pytest.importorskip("torch")

from qstar_cli.backends.base import GenParams  # noqa: E402
from qstar_cli.backends.hf_backend import HFBackend  # noqa: E402
from qstar_cli.environment import Policy  # noqa: E402
from qstar_cli.steps import StepFormat  # noqa: E402


@pytest.fixture(scope="module")
def backend(tiny_model):
    return HFBackend(tiny_model, batch_size=4, seed=0)


def test_greedy_is_deterministic_and_batched_in_prompt_order(backend):
    prompts = ["Hello there", "A much longer prompt about apples and pears", "x"]
    out = backend.generate(prompts, GenParams(n=2, temperature=0.0, max_tokens=12))
    assert len(out) == 3 and all(len(o) == 2 for o in out)
    for o in out:
        assert o[0].token_ids == o[1].token_ids
    alone = backend.generate([prompts[1]], GenParams(n=1, temperature=0.0, max_tokens=12))[0][0]
    assert alone.text == out[1][0].text  # left padding in a batch does not change the result
    assert backend.usage.calls == 2 and backend.usage.sequences == 7


def test_stop_string_cuts_right_after_its_first_occurrence(backend):
    free = backend.generate(["Once upon a time"], GenParams(n=1, temperature=0.0, max_tokens=24))[0][0]
    assert free.finish_reason == "length" and free.num_tokens == 24
    stop = free.text[len(free.text) // 2 : len(free.text) // 2 + 3]
    cut = backend.generate(["Once upon a time"], GenParams(n=1, temperature=0.0, max_tokens=24, stop=(stop,)))[0][0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop) + len(stop)]
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]


def test_logprobs_match_a_forward_pass(backend):
    gen = backend.generate(["Count: one two"], GenParams(n=1, temperature=1.0, max_tokens=8, logprobs=5))[0][0]
    prompt_ids = backend.encode("Count: one two")
    ids = torch.tensor([prompt_ids + gen.token_ids])
    with torch.no_grad():
        logp = backend.model(ids).logits[0].float().log_softmax(-1)
    for i, tok in enumerate(gen.token_ids):
        row = logp[len(prompt_ids) - 1 + i]
        assert gen.token_logprobs[i] == pytest.approx(row[tok].item(), abs=1e-4)
        assert gen.top_logprobs[i] == pytest.approx(row.topk(5).values.tolist(), abs=1e-4)
    assert gen.logprob == pytest.approx(sum(gen.token_logprobs))


def test_propose_steps_dedupes_and_split_steps_accounts_every_token(backend):
    policy = Policy(backend, StepFormat.parse("tokens:3"))
    out = policy.propose_steps(["a b c"], k=4, temperature=0.0)
    assert len(out[0]) == 1  # four identical greedy samples merge into one candidate
    assert out[0][0].num_tokens == 3
    gen = backend.generate(["a b c"], GenParams(n=1, temperature=1.0, max_tokens=10, logprobs=0))[0][0]
    steps = backend.split_steps(gen, StepFormat.parse("tokens:4"))
    assert [s.tokens for s in steps] == [4, 4, 2]
    assert "".join(s.text for s in steps) == gen.text
    assert sum(s.logprob for s in steps) == pytest.approx(gen.logprob)


def test_a_questions_samples_do_not_depend_on_its_batch(tiny_model):
    """Per-question seeds: the same question and prompt give the same samples alone or among others,
    in a fresh process too, and each new request of the same prompt gives new ones."""
    params = GenParams(n=3, temperature=1.0, max_tokens=10)
    a, b = "Alpha prompt", "A longer beta prompt with more words"

    def texts(backend, prompts, keys):
        return [[g.text for g in gens] for gens in backend.generate(prompts, params, keys)]

    first = HFBackend(tiny_model, batch_size=4, seed=0)
    together = texts(first, [b, a], ["qb", "qa"])
    again = texts(first, [a], ["qa"])  # the second request of (qa, a): new samples
    second = HFBackend(tiny_model, batch_size=1, seed=0)  # another process, other batches
    alone = texts(second, [a], ["qa"])
    assert alone[0] == together[1]
    assert texts(second, [a], ["qa"])[0] == again[0] != together[1]
    assert len(set(together[1])) > 1  # the three samples of one request differ
    other_seed = HFBackend(tiny_model, batch_size=4, seed=1)
    assert texts(other_seed, [a], ["qa"])[0] != together[1]


def test_seeded_sampler_draws_from_the_tempered_nucleus():
    """p = (0.5, 0.3, 0.2): top_p 0.6 keeps the first two (0.5 < 0.6 <= 0.8), renormalised to
    (0.625, 0.375); temperature 2 makes it p^(1/2) / sum = (0.415, 0.321, 0.263)."""
    from qstar_cli.backends.hf_backend import _SeededSampler

    logits = torch.tensor([[0.5, 0.3, 0.2]]).log().repeat(4000, 1)

    def shares(temperature, top_p):
        sampler = _SeededSampler(list(range(4000)), temperature, top_p, "cpu")
        drawn = sampler(None, logits).argmax(-1)
        return torch.bincount(drawn, minlength=3).float() / 4000

    assert shares(1.0, 0.6).tolist() == pytest.approx([0.625, 0.375, 0.0], abs=0.03)
    assert shares(2.0, 1.0).tolist() == pytest.approx([0.415, 0.321, 0.263], abs=0.03)


def test_seeded_stream_is_fresh_at_every_step_and_steps_are_independent():
    """One row over 6000 steps: each step's draw follows p = (0.5, 0.3, 0.2), and a step's draw
    says nothing about the next one (pair shares are products: 0.25, 0.15, 0.1, ...); another seed
    gives another stream. A generator that repeated a step's uniform or ignored the seed fails."""
    from qstar_cli.backends.hf_backend import _SeededSampler

    logits = torch.tensor([[0.5, 0.3, 0.2]]).log()
    p = torch.tensor([0.5, 0.3, 0.2])

    def stream(seed, steps=6000):
        sampler = _SeededSampler([seed], 1.0, 1.0, "cpu")
        return torch.cat([sampler(None, logits).argmax(-1) for _ in range(steps)])

    draws = stream(12345)
    assert (torch.bincount(draws, minlength=3).float() / len(draws)).tolist() == pytest.approx(p.tolist(), abs=0.025)
    pairs = torch.bincount(draws[:-1] * 3 + draws[1:], minlength=9).float() / (len(draws) - 1)
    assert pairs.tolist() == pytest.approx(torch.outer(p, p).flatten().tolist(), abs=0.025)
    other = stream(12346)
    assert (other == draws).float().mean() < 0.5  # two streams agree about sum p^2 = 0.38 of the time


def test_seeded_draws_do_not_depend_on_the_batch():
    """Row b's draw is a function of its seed and the step only: the same alone, in another batch
    order, or beside other rows."""
    from qstar_cli.backends.hf_backend import _SeededSampler

    logits = torch.randn(5, 50)
    seeds = [7, 2**62 + 3, 0, 99, 123456789]
    together = _SeededSampler(seeds, 0.8, 0.9, "cpu")
    batch = [together(None, logits).argmax(-1) for _ in range(20)]
    for b, seed in enumerate(seeds):
        alone = _SeededSampler([seed], 0.8, 0.9, "cpu")
        assert [alone(None, logits[b : b + 1]).argmax(-1).item() for _ in range(20)] == [x[b].item() for x in batch]
