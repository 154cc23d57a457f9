"""Recipes for whole pipelines: `extends` and per-stage `stages:` overrides in config resolution."""

import pytest

from qstar_cli.config import CollectConfig, EvalConfig, LabelConfig, TrainConfig, resolve
from qstar_cli.errors import QstarError


def write(path, text):
    path.write_text(text)
    return path


def test_stage_overrides_apply_to_their_stage_only(tmp_path):
    recipe = write(
        tmp_path / "r.yaml",
        "data: {name: gsm8k, split: train}\nsampling: {temperature: 0.5}\n"
        "stages:\n  eval: {data: {split: test}, eval: {search: greedy}}\n",
    )
    assert resolve(CollectConfig, recipe).data.split == "train"
    assert resolve(LabelConfig, recipe).data.split == "train"
    ev = resolve(EvalConfig, recipe)
    assert (ev.data.split, ev.data.name, ev.sampling.temperature, ev.eval.search) == ("test", "gsm8k", 0.5, "greedy")
    # --set and flags still win over a stage override
    assert resolve(EvalConfig, recipe, ["data.split=validation"]).data.split == "validation"
    assert resolve(EvalConfig, recipe, [], {"data.split": "x"}).data.split == "x"


def test_extends_merges_with_the_recipe_winning(tmp_path):
    (tmp_path / "base").mkdir()
    write(
        tmp_path / "base" / "b.yaml",
        "data: {name: mawps, num_shots: 4, offset: 300}\nstages: {eval: {data: {offset: 100, limit: 10}}}\n",
    )
    child = write(tmp_path / "c.yaml", "extends: base/b.yaml\ndata: {name: svamp}\neval: {search: greedy}\n")
    collect = resolve(CollectConfig, child)
    assert (collect.data.name, collect.data.num_shots, collect.data.offset) == ("svamp", 4, 300)
    ev = resolve(EvalConfig, child)
    assert (ev.data.name, ev.data.offset, ev.data.limit, ev.eval.search) == ("svamp", 100, 10, "greedy")
    grandchild = write(tmp_path / "g.yaml", "extends: c.yaml\nstages: {eval: {data: {limit: 3}}}\n")
    ev = resolve(EvalConfig, grandchild)
    assert (ev.data.name, ev.data.offset, ev.data.limit) == ("svamp", 100, 3)


def test_every_stage_override_is_checked_by_every_stage(tmp_path):
    recipe = write(tmp_path / "r.yaml", "stages: {eval: {eval: {serach: greedy}}}\n")
    with pytest.raises(QstarError, match="unknown config key 'eval.serach'.*did you mean 'eval.search'"):
        resolve(TrainConfig, recipe)  # train-q never reads eval, yet the typo fails at once


@pytest.mark.parametrize(
    "text, message",
    [
        ("stages: {evaluate: {data: {split: test}}}\n", "unknown config key 'stages.evaluate'"),
        ("stages: [eval]\n", "stages must map a stage"),
        ("stages: {eval: 3}\n", "stages.eval must be a mapping"),
        ("stages: {eval: {dta: {split: test}}}\n", "unknown config key 'dta'"),
        ("extends: [a.yaml]\n", "extends must be the path of another recipe"),
        ("extends: missing.yaml\n", "recipe not found"),
        ("extends: r.yaml\n", "extends itself"),
    ],
)
def test_bad_recipes(tmp_path, text, message):
    recipe = write(tmp_path / "r.yaml", text)
    with pytest.raises(QstarError, match=message):
        resolve(EvalConfig, recipe)
