"""Typed configuration: defaults < recipe YAML < --set key=value < explicit flags.

A recipe is one YAML file for a whole pipeline. Its top level holds shared sections (`data`,
`policy`, `sampling`) and one section per stage (`collect`, `label`, `train`, `eval`, ...);
`stages: {eval: {data: {split: test}}}` gives one stage its own values of a shared section, and
`extends: base.yaml` starts from another recipe. A
stage's config is a dataclass made of the sections it uses; the sections it does not use are still
checked, so a typo anywhere in a recipe fails on the first command. Every key is typed; an unknown
key is an error that names it (with a close match when there is one). Keys that only steer how a
run executes (batch sizes, limits, paths) are listed in `EXECUTION_KEYS`: they may differ when a
run directory is resumed, every other key must match.
"""

from qstar_cli.config.resolve import (
    build_section,
    config_diff,
    load_recipe,
    load_yaml,
    parse_set,
    resolve,
    semantic_view,
    to_dict,
    to_yaml,
)
from qstar_cli.config.sections import (
    EXECUTION_KEYS,
    SEARCH_KEYS,
    SECTIONS,
    STAGE_CONFIGS,
    CollectConfig,
    CollectSection,
    DataConfig,
    EvalConfig,
    EvalSection,
    ExecutionConfig,
    LabelConfig,
    LabelSection,
    PolicyConfig,
    SamplingConfig,
    TrainConfig,
    TrainSection,
)

__all__ = [
    "EXECUTION_KEYS",
    "SEARCH_KEYS",
    "SECTIONS",
    "STAGE_CONFIGS",
    "CollectConfig",
    "CollectSection",
    "DataConfig",
    "EvalConfig",
    "EvalSection",
    "ExecutionConfig",
    "LabelConfig",
    "LabelSection",
    "PolicyConfig",
    "SamplingConfig",
    "TrainConfig",
    "TrainSection",
    "build_section",
    "config_diff",
    "load_recipe",
    "load_yaml",
    "parse_set",
    "resolve",
    "semantic_view",
    "to_dict",
    "to_yaml",
]
