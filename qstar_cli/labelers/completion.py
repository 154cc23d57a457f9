"""`--method completion`: y(s_t, a_t) = the outcome of a stronger policy's completion of s_{t+1}
(one greedy completion, or the best of M samples), the stronger policy configured like the policy
(any backend, or any OpenAI-compatible server) and reading the question in its own chat format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qstar_cli.labelers.rollout import continuations_run


@dataclass
class CompletionConfig:
    strong_model: str | None = None  # HF id / local folder, or the served model name (openai)
    strong_backend: str = field(
        default="auto", metadata={"backend": "strong_model"}
    )  # auto or a name in backends.BACKENDS
    # {backend: {option: value}}, as policy.options
    strong_options: dict = field(default_factory=dict, metadata={"backend_options": True})
    strong_samples: int = field(default=1, metadata={"positive": True})  # 1 = one greedy completion; M = best of M
    strong_temperature: float = 0.7  # used when strong_samples > 1
    max_tokens: int | None = None  # completion token limit; None = sampling.max_tokens

    @property
    def samples(self) -> int:  # continuations per state (what --reuse takes from an earlier run)
        return self.strong_samples

    def problems(self) -> list[str]:
        return []  # a served model's name is checked with its backend (metadata "backend" names the key)


def strong_policy(policy, cfg: CompletionConfig):
    """The policy's settings with the stronger model, backend and options."""
    options = {name: {**policy.options.get(name, {}), **opts} for name, opts in cfg.strong_options.items()}
    return type(policy)(
        **{
            **vars(policy),
            "model": cfg.strong_model,
            "backend": cfg.strong_backend,
            "options": {**policy.options, **options},
        }
    )


def run(job):
    cfg = job.cfg
    n = cfg.strong_samples

    def prompt_for(backend):
        if getattr(backend, "tokenizer", None) is None:
            return None  # a served model: the policy's own prompt as recorded
        from qstar_cli.datasets.base import Problem

        def prompt(rec):  # the stronger model reads the question in its own chat format
            problem = Problem(id=rec["id"], question=rec["question"], reference=rec["reference"])
            return backend.render(job.dataset.messages(problem, num_shots=job.config.data.num_shots))

        return prompt

    return continuations_run(
        job,
        n=n,
        temperature=0.0 if n == 1 else cfg.strong_temperature,
        include_own=False,
        max_tokens=cfg.max_tokens,
        backend=lambda: job.backend(strong_policy(job.config.policy, cfg)),
        prompt_for=prompt_for,
    )
