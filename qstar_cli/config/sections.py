"""The typed config sections: one dataclass per recipe section, each validating its own values.

A stage's config (`CollectConfig`, `LabelConfig`, `TrainConfig`, `EvalConfig`) is made of the
sections it uses. `SECTIONS` maps every section a recipe may hold to its class, `STAGES` is the
stages' table (each row with its config; `STAGE_CONFIGS` the configs alone), and `EXECUTION_KEYS`
lists the keys that only steer how a run executes (they may differ on resume); `dataset_defaults`
gives the keys whose default is the dataset's (the code temperature).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Literal

from qstar_cli.config.fields import check_backend_options, check_fields
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
    # the generic `jsonl` dataset: a user's own file (qstar_cli/datasets/user_jsonl.py)
    path: str | None = None
    question_field: str = "question"
    question_template: str | None = None  # e.g. "{Body} {Question}": the question from several fields
    answer_field: str = "answer"
    answer_template: str | None = None
    answer_type: Literal["numeric", "math"] = "numeric"
    id_field: str | None = None
    solution_field: str | None = None  # worked solutions of the exemplar rows
    exemplar_rows: list | None = None  # ids (or row positions) of rows that serve as few-shot exemplars
    skip_ungradable: bool = False  # leave out rows whose answer no grader can read (named, counted, recorded)
    language: str | None = None  # jsonl: the questions' language (prompt, exemplars, how numbers are written)

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
        check_fields(self, "data.")


# DataConfig keys that are options of a dataset's loader (`Dataset.options` says which it takes)
DATASET_KEYS = (
    "subset",
    "path",
    "question_field",
    "question_template",
    "answer_field",
    "answer_template",
    "answer_type",
    "id_field",
    "solution_field",
    "exemplar_rows",
    "skip_ungradable",
    "language",
)


@dataclass
class PolicyConfig:
    """What every backend shares, plus each backend's own settings in `options`."""

    model: str | None = None  # HF id or local path; None = the embedded SmolLM2-135M-Instruct
    backend: str = "auto"  # auto (vllm when installed, else hf) or a name in qstar_cli.backends.BACKENDS
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto = float32 on CPU, bfloat16 on GPU
    max_model_len: int = field(default=2048, metadata={"min": 1})
    seed: int = 0
    trust_remote_code: bool = False
    # a folder of samples shared by runs: each state's samples are drawn once and reused by later runs
    # (qstar_cli/backends/cache.py); which draws a run gets, not their distribution
    sample_cache: str | None = None
    # {backend: {option: value}}: each backend's own settings, its constructor's keyword arguments
    # (qstar_cli/backends/); only the chosen backend's are used, so one recipe can hold several.
    # e.g. options: {vllm: {block_size: 64, tensor_parallel_size: 8}, hf: {batch_size: 64}}
    options: dict = field(default_factory=dict)

    def validate(self) -> None:
        from qstar_cli.backends import choices, policy_choices

        if self.backend in choices() and self.backend not in policy_choices():
            raise QstarError(
                f"the {self.backend} backend serves the stronger labeller only (qstar label --method "
                f"completion --strong-backend {self.backend}); the policy runs on: "
                f"{', '.join(policy_choices())}"
            )
        if self.backend not in policy_choices():
            raise QstarError(f"unknown backend {self.backend!r}; choose one of: {', '.join(policy_choices())}")
        check_fields(self, "policy.")
        self.options = check_backend_options(self.options, "policy.options")


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


@dataclass
class ExecutionConfig:
    """How model-written code is run when a dataset is graded by executing it (MBPP)."""

    allow_code: bool = False  # opt-in: --allow-code-execution; nothing executes code without it
    workers: int = 0  # programs run in parallel; 0 = one per CPU core
    timeout: float = 10.0  # wall-clock seconds per program (RLIMIT_CPU is its ceiling)
    memory_mb: int = 1024  # RLIMIT_AS per program
    max_output_kb: int = 1024  # RLIMIT_FSIZE: stdout, stderr and files it writes
    max_processes: int = 16  # RLIMIT_NPROC for the program's own sandbox uid
    isolation: str = "auto"  # execution.sandbox.ISOLATIONS: auto | namespaces (root: pid/mount/net) | process (rlimits)
    python: str | None = None  # interpreter programs run on; None = the one qstar runs on (stdlib only)

    def validate(self) -> None:
        from qstar_cli.execution.sandbox import ISOLATIONS

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
class RaySection:
    """`--ray ADDRESS`: the stage across a Ray cluster, one task per shard (qstar_cli/launch/ray.py)."""

    address: str | None = None  # None: this process; auto | local | HOST:PORT | ray://HOST:PORT
    shards: int = field(default=0, metadata={"min": 0})  # 0: as many as the cluster's GPUs (else CPUs) hold at once
    gpus_per_shard: int | None = None  # None: the policy's tensor x pipeline parallel size when the cluster has GPUs
    cpus_per_shard: int = field(default=1, metadata={"min": 1})
    retries: int = field(default=3, metadata={"min": 0})  # reruns of a failed or lost task (each resumes its shard)

    def validate(self) -> None:
        check_fields(self, "ray.")
        if self.gpus_per_shard is not None and self.gpus_per_shard < 0:
            raise QstarError(f"ray.gpus_per_shard must be >= 0, got {self.gpus_per_shard}")


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


# The config of a stage that runs the policy: the sections it shares, then the stage's own and
# `execution` (so config.yaml lists them in this order).
@dataclass
class _PolicyStage:
    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


@dataclass
class CollectConfig(_PolicyStage):
    data: DataConfig = field(default_factory=lambda: DataConfig(split="train"))
    collect: CollectSection = field(default_factory=CollectSection)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    ray: RaySection = field(default_factory=RaySection)


@dataclass
class TrainSection:
    labels: list[str] = field(default_factory=list)  # qlabels run directories
    backbone: str = "minilm"  # HF id or folder; "minilm" (22M encoder, fastest on CPU) | "embedded" (SmolLM2-135M)
    # | "policy": a head on the frozen policy's hidden state (value/policy.py)
    max_length: int = 384  # tokens of (question, steps so far, candidate step)
    epochs: float = 2.0
    max_steps: int = 0  # > 0 overrides epochs
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    loss: Literal["bce", "mse"] = "bce"  # bce: cross-entropy on soft targets; mse: on the sigmoid
    # Variants (compared on the label-methods page; the defaults are the paper's setting): what the QVM learns
    # and how its examples count. See qstar_cli/value/train.py.
    target: Literal["max", "soft"] = "max"  # max: y, the best outcome (the paper); soft: the mean (Math-Shepherd)
    class_balance: bool = False  # weight positives and negatives to count alike
    pairwise: float = 0.0  # > 0: add this weight x a ranking loss between sibling steps of a state
    validation_fraction: float = 0.0  # > 0: keep the epoch with the best ROC-AUC on these training questions
    max_questions: int = 0  # > 0: train on this many training questions only (learning curves)
    bf16: bool = False
    group_by_length: bool = False  # batches of rows of about one length: less padding, faster (train.py)
    # > 0: LoRA adapters of this rank on every linear layer of the backbone, trained with its value
    # head while the backbone's own weights stay frozen (peft; merged into the saved QVM). With
    # --backbone embedded (the policy itself) this is the paper's QVM, for a GPU.
    lora_rank: int = field(default=0, metadata={"min": 0})
    heldout_fraction: float = 0.2  # of questions
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 0  # > 0: keep Trainer checkpoints (resume after a crash)
    report_to: str = "none"  # none | wandb | tensorboard | ...
    score_batch_size: int = 32
    mixed_datasets: bool = False  # allow label runs of several datasets in one QVM
    # The policy backbone (backbone: policy): which frozen model, which layers, which head
    policy_model: str | None = None  # None: the label runs' policy
    policy_layers: list[int] | str = "auto"  # "auto" (5 evenly spaced) or layer numbers (1 = first, -1 = last)
    policy_head: Literal["linear", "mlp"] = "linear"  # linear: logistic regression; mlp: one hidden layer
    policy_head_epochs: int = field(default=100, metadata={"min": 1})  # epochs of the head on cached features
    policy_head_lr: float = 1e-3
    out: str | None = None

    def validate(self) -> None:
        check_fields(self, "train.")
        if self.lora_rank and self.backbone == "policy":
            raise QstarError(
                "train.lora_rank fine-tunes a backbone, and the policy backbone trains a head on its frozen "
                "states: for LoRA on the policy use --backbone embedded (or the policy's model)"
            )
        if self.lora_rank:
            import importlib.util

            if importlib.util.find_spec("peft") is None:
                raise QstarError("train.lora_rank needs peft: pip install 'qstar[lora]'")
        if self.backbone == "policy":
            from qstar_cli.value.policy import check_layers_spec

            check_layers_spec(self.policy_layers)
            if self.pairwise:
                raise QstarError(
                    "train.pairwise is not available with the policy backbone (its head trains on "
                    "single examples); set train.pairwise=0"
                )
            if self.policy_head_lr <= 0:
                raise QstarError("train.policy_head_lr must be positive")
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


from qstar_cli.config.eval_section import SEARCH_KEYS, EvalSection  # noqa: E402  (built from the search registry)
from qstar_cli.config.label_section import LabelSection  # noqa: E402  (built from the label-method registry)


@dataclass
class EvalConfig(_PolicyStage):
    eval: EvalSection = field(default_factory=EvalSection)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    ray: RaySection = field(default_factory=RaySection)


@dataclass
class LabelConfig(_PolicyStage):
    label: LabelSection = field(default_factory=LabelSection)
    train: TrainSection = field(default_factory=TrainSection)  # fqi trains a QVM every iteration
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    ray: RaySection = field(default_factory=RaySection)


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
    "ray": RaySection,
}


@dataclass(frozen=True)
class Stage:
    """A stage that writes a run folder: its recipe section (its key in `STAGES`, and the section a
    recipe's `stages:` gives overrides to), its command (also the `stage` its manifests record), its
    module (imported only when it runs), the records file and record kind it writes (train-q writes
    a model, not records), the folder `qstar repro` gives it, its config, and the function that
    computes its metrics from records (what `qstar merge` recomputes over joined shards)."""

    section: str
    command: str
    module: str
    records: str | None
    kind: str | None
    folder: str
    config: type
    metrics: str | None = None  # name of the module's metrics(records, sessions) function

    def load(self):
        import importlib

        return importlib.import_module(self.module)


# The stages' table, read by the CLI, the launchers, merge, repro and report (run-folder metadata:
# it sits below all of them). Adding a stage: its module in stages/, its config and row here, its command.
STAGES: dict[str, Stage] = {
    stage.section: stage
    for stage in (
        Stage(
            "collect",
            "collect-rollouts",
            "qstar_cli.stages.collect",
            "rollouts.jsonl",
            "rollouts",
            "rollouts",
            CollectConfig,
            "compute_metrics",
        ),
        Stage(
            "label",
            "label",
            "qstar_cli.stages.label",
            "qlabels.jsonl",
            "qlabels",
            "labels",
            LabelConfig,
            "label_metrics",
        ),
        Stage("train", "train-q", "qstar_cli.stages.train_q", None, None, "qvm", TrainConfig),
        Stage(
            "eval",
            "eval",
            "qstar_cli.stages.eval",
            "predictions.jsonl",
            "predictions",
            "eval",
            EvalConfig,
            "eval_metrics",
        ),
    )
}
STAGE_CONFIGS: dict[str, type] = {name: stage.config for name, stage in STAGES.items()}


def by_command(command: str | None) -> Stage | None:
    """The stage a manifest's `stage` names."""
    return next((stage for stage in STAGES.values() if stage.command == command), None)


# Keys that may change when a run directory is resumed: they change how, not what, is computed.
# (Backend options are all of this kind: parallelism, memory, batching, where a server is.)
EXECUTION_KEYS = {
    "data.data_dir",
    "data.limit",
    "policy.backend",
    "policy.options",
    "policy.sample_cache",
    "collect.batch_questions",
    "collect.out",
    "label.batch_questions",
    "label.out",
    "label.strong_options",
    "eval.out",
    "eval.batch_questions",
    "eval.trees",
    "eval.bootstrap",
    "eval.qvm_batch_size",
    "eval.prm_batch_size",
    "train.out",
    "train.logging_steps",
    "train.save_steps",
    "train.report_to",
    "train.score_batch_size",
    "execution.allow_code",
    "execution.workers",
    "execution.isolation",
    "execution.python",
    *(f"ray.{f.name}" for f in dataclasses.fields(RaySection)),  # where a run executes, not what it computes
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
