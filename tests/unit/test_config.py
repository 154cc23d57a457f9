"""Config precedence, typing and the errors a user can make in recipes and --set."""

import pytest

from qstar_cli.config import CollectConfig, config_diff, parse_set, resolve, semantic_view, to_dict
from qstar_cli.errors import QstarError


def test_precedence_defaults_recipe_set_flags(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "sampling:\n  temperature: 0.5\n  top_p: 0.8\ncollect:\n  num_rollouts: 3\ndata:\n  name: mawps\n"
    )
    cfg = resolve(
        CollectConfig,
        recipe,
        ["sampling.temperature=0.6", "collect.num_rollouts=5"],
        {"collect.num_rollouts": 7, "data.limit": None},
    )
    assert cfg.sampling.top_p == 0.8  # recipe over default
    assert cfg.sampling.temperature == 0.6  # --set over recipe
    assert cfg.collect.num_rollouts == 7  # flag over --set
    assert cfg.data.name == "mawps"
    assert cfg.data.split == "train"  # the collect stage's own default
    assert cfg.sampling.max_tokens == 512  # untouched default


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(QstarError, match=r"'collect.num_rolouts'.*did you mean 'collect.num_rollouts'"):
        resolve(CollectConfig, None, ["collect.num_rolouts=3"], {})
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sampler:\n  temperature: 0.5\n")
    with pytest.raises(QstarError, match=r"unknown config key 'sampler'.*did you mean 'sampling'"):
        resolve(CollectConfig, recipe, [], {})
    with pytest.raises(QstarError, match="unknown config key"):
        resolve(CollectConfig, None, ["temperature=0.3"], {})


def test_types_are_checked():
    with pytest.raises(QstarError, match="'collect.num_rollouts' must be int"):
        resolve(CollectConfig, None, ["collect.num_rollouts=many"], {})
    with pytest.raises(QstarError, match="must be int"):
        resolve(CollectConfig, None, ["collect.num_rollouts=2.5"], {})
    cfg = resolve(CollectConfig, None, ["sampling.temperature=1", "data.limit=null"], {})
    assert cfg.sampling.temperature == 1.0 and isinstance(cfg.sampling.temperature, float)
    assert cfg.data.limit is None


@pytest.mark.parametrize(
    "item, message",
    [
        ("collect.num_rollouts=0", "num-rollouts must be positive"),
        ("collect.num_rollouts=-2", "num-rollouts must be positive"),
        ("sampling.temperature=-0.1", "temperature must be >= 0"),
        ("data.shard=4/4", "i/n"),
        ("data.shard=x", "i/n"),
        ("data.step_format=sentences", "step format"),
        ("policy.backend=tpu", "unknown backend"),
    ],
)
def test_invalid_values(item, message):
    with pytest.raises(QstarError, match=message):
        resolve(CollectConfig, None, [item], {})


def test_bad_yaml_names_file_and_line(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("data:\n  name: gsm8k\n  split: [test\n")
    with pytest.raises(QstarError, match=r"bad.yaml:\d+: invalid YAML"):
        resolve(CollectConfig, recipe, [], {})
    recipe.write_text("- just\n- a list\n")
    with pytest.raises(QstarError, match="must be a YAML mapping"):
        resolve(CollectConfig, recipe, [], {})
    with pytest.raises(QstarError, match="recipe not found"):
        resolve(CollectConfig, tmp_path / "missing.yaml", [], {})


def test_parse_set():
    assert parse_set("a.b=3") == ("a.b", 3)
    assert parse_set("a.b=hello world") == ("a.b", "hello world")
    assert parse_set("a.b=") == ("a.b", "")
    # a one-field format template is text, a mapping with values is a mapping
    assert parse_set("data.question_template={Body}") == ("data.question_template", "{Body}")
    assert parse_set("policy.options={vllm: {refill: 0.5}}") == ("policy.options", {"vllm": {"refill": 0.5}})
    with pytest.raises(QstarError, match="key=value"):
        parse_set("novalue")


def test_execution_keys_do_not_change_the_run():
    a = to_dict(resolve(CollectConfig, None, ["collect.batch_questions=4", "data.limit=3"], {}))
    b = to_dict(resolve(CollectConfig, None, ["collect.batch_questions=64", "data.limit=10"], {}))
    assert config_diff(semantic_view(a), semantic_view(b)) == []
    c = to_dict(resolve(CollectConfig, None, ["sampling.temperature=0.2"], {}))
    assert config_diff(semantic_view(a), semantic_view(c)) == ["sampling.temperature: 0.9 -> 0.2"]


def test_block_size_is_a_vllm_option_checked_and_does_not_change_the_run():
    a = to_dict(resolve(CollectConfig, None, [], {}))
    b = to_dict(resolve(CollectConfig, None, ["policy.options.vllm.block_size=32"], {}))
    assert b["policy"]["options"] == {"vllm": {"block_size": 32}}
    assert config_diff(semantic_view(a), semantic_view(b)) == []
    with pytest.raises(QstarError, match="policy.options.vllm.block_size must be a positive multiple of 16"):
        resolve(CollectConfig, None, ["policy.options.vllm.block_size=20"], {})


def test_backend_options_are_checked_against_the_backends_own_constructor():
    with pytest.raises(
        QstarError,
        match=r"unknown option policy.options.vllm.blok_size; the vllm backend takes: "
        r"block_size, cpu_kv_cache_gib, distributed_executor_backend, "
        r"engine_args, gpu_memory_utilization, max_num_seqs, "
        r"pipeline_parallel_size, refill, tensor_parallel_size",
    ):
        resolve(CollectConfig, None, ["policy.options.vllm.blok_size=32"], {})
    with pytest.raises(QstarError, match="unknown backend 'tpu' in policy.options"):
        resolve(CollectConfig, None, ["policy.options.tpu.cores=8"], {})
    with pytest.raises(QstarError, match="policy.options.hf.batch_size' must be int"):
        resolve(CollectConfig, None, ["policy.options.hf.batch_size=many"], {})
    # one recipe may hold several backends' settings; each is checked, the chosen one's used
    both = resolve(CollectConfig, None, ["policy.options.hf.batch_size=8", "policy.options.vllm.refill=0.5"], {})
    assert both.policy.options == {"hf": {"batch_size": 8}, "vllm": {"refill": 0.5}}


def test_a_backend_that_cannot_act_is_refused_as_the_policy(monkeypatch):
    from qstar_cli.backends.openai_backend import OpenAIBackend

    monkeypatch.setattr(OpenAIBackend, "serves_policy", False)
    with pytest.raises(QstarError, match="serves the stronger labeller only"):
        resolve(CollectConfig, None, ["policy.backend=openai"], {})


def test_config_diff_tolerates_settings_added_since_the_run_was_written():
    from qstar_cli.config import config_diff

    old = {"eval": {"search": "astar", "k": 6}}
    # a newer qstar added eval.width and the execution section; at their defaults they change nothing
    new = {"eval": {"search": "astar", "k": 6, "width": 4}, "execution": {"timeout": 10.0}}
    assert config_diff(old, new) == []
    # ... but a new key set away from its default, or a changed old key, is a different run
    assert config_diff(old, {"eval": {"search": "astar", "k": 6, "width": 2}}) == ["eval.width: None -> 2"]
    assert config_diff(old, {"eval": {"search": "astar", "k": 4}}) == ["eval.k: 6 -> 4"]


@pytest.mark.parametrize(
    "items, message",
    [
        (["label.num_rollouts=-1"], "num_rollouts must be positive"),
        (["label.num_rollouts=0", "label.include_own_ending=false"], "own endings only"),
        (["label.method=completion", "label.strong_samples=0"], "strong_samples must be positive"),
        (["label.limit=-1"], "label.limit must be >= 0"),
        (["train.target=best"], "unknown train.target 'best'; choose one of: max, soft"),
        (["label.method=mc"], "unknown label.method 'mc'; choose one of: rollout, fqi, completion"),
        (["data.answer_type=text"], "unknown data.answer_type 'text'; choose one of: numeric, math"),
        (["train.validation_fraction=1"], "validation_fraction must be in"),
        (["train.pairwise=-1"], "must be >= 0"),
    ],
)
def test_invalid_label_and_train_values(items, message):
    from qstar_cli.config import LabelConfig, TrainConfig

    kind = LabelConfig if items[0].startswith("label") else TrainConfig
    with pytest.raises(QstarError, match=message):
        resolve(kind, None, items, {})


def test_label_with_no_fresh_continuations_is_allowed_for_rollout():
    from qstar_cli.config import LabelConfig

    assert resolve(LabelConfig, None, ["label.num_rollouts=0"], {}).label.num_rollouts == 0


@pytest.mark.parametrize("method", ["fqi", "completion"])
def test_a_recipes_own_ending_labels_do_not_stop_the_other_methods(method):
    # recipes/cpu/*/qvm.yaml label with M = 0; `--method fqi` on the same recipe does not use M
    from qstar_cli.config import LabelConfig

    assert resolve(LabelConfig, None, ["label.num_rollouts=0", f"label.method={method}"], {}).label.method == method
    with pytest.raises(QstarError, match="num_rollouts must be positive"):
        resolve(LabelConfig, None, ["label.num_rollouts=-1", f"label.method={method}"], {})
