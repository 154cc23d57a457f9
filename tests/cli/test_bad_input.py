"""Every error a user can cause: one clear line, a non-zero exit, no traceback, no lost work."""

import json

import pytest

from tests.conftest import run_qstar


def assert_clean_error(result, *fragments, first=True):
    """One clear error, non-zero exit, no traceback; with `first`, before any config is printed
    (False for a check that fails after the work, as a reproduction's out-of-range metric)."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert "error" in output.lower(), output
    flat = " ".join(output.split())
    for fragment in fragments:
        assert fragment in flat, f"{fragment!r} not in {output}"
    # errors first: the resolved config (each stage prints it before loading a model) never comes
    # before an error the user's input causes
    assert not first or ("\ndata:\n" not in "\n" + output and "─ eval ─" not in output), output


def collect(*args):
    return run_qstar("collect-rollouts", *args, timeout=300)


def test_unknown_dataset():
    assert_clean_error(collect("--dataset", "gsm9k", "--dry-run"), "gsm9k")
    assert_clean_error(collect("--dataset", "gsm9k", "--split", "test"), "unknown dataset", "gsm9k")


def test_unknown_split(data_dir):
    assert_clean_error(collect("--dataset", "mawps", "--split", "train"), "split", "train")


def test_missing_data_dir(tmp_path):
    assert_clean_error(collect("--dataset", "mawps", "--split", "test", "--data-dir", str(tmp_path / "nope")), "nope")


def test_malformed_jsonl_names_file_and_line(tmp_path):
    bad = tmp_path / "mine.jsonl"
    bad.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?", "answer": 4\n')
    result = collect("--dataset", "jsonl", "--split", "test", "--set", f"data.path={bad}")
    assert_clean_error(result, "mine.jsonl:2")


def test_bad_yaml_and_unknown_keys(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("sampling:\n  temperature: [0.9\n")
    assert_clean_error(collect("--recipe", str(recipe), "--dry-run"), "r.yaml", "invalid YAML")
    assert_clean_error(collect("--set", "sampling.temprature=0.5", "--dry-run"), "sampling.temprature",
                       "did you mean 'sampling.temperature'")
    recipe.write_text("collect:\n  rollouts: 4\n")
    assert_clean_error(collect("--recipe", str(recipe), "--dry-run"), "collect.rollouts")


@pytest.mark.parametrize("flag", [["--num-rollouts", "0"], ["--num-rollouts", "-3"], ["--set", "collect.num_rollouts=0"]])
def test_non_positive_rollouts(flag):
    assert_clean_error(collect("--dataset", "mawps", *flag, "--dry-run"), "must be positive")


def test_bad_flag_values():
    assert_clean_error(collect("--shard", "3/2", "--dry-run"), "i/n")
    assert_clean_error(collect("--backend", "tpu", "--dry-run"), "unknown backend")
    assert_clean_error(collect("--step-format", "sentences", "--dry-run"), "step format")
    assert_clean_error(collect("--temperature", "hot"), "--temperature")  # typer's own type check


def test_model_not_found(tmp_path, data_dir):
    args = ("--dataset", "mawps", "--split", "test", "--limit", "1", "--out", str(tmp_path / "run"))
    assert_clean_error(collect(*args, "--model", str(tmp_path / "no-such-model")), "model path not found")
    offline = run_qstar("collect-rollouts", *args, "--model", "no-such-org/no-such-model",
                        env={"HF_HUB_OFFLINE": "1"}, timeout=300)
    assert_clean_error(offline, "no-such-org/no-such-model", "not found")
    assert not (tmp_path / "run").exists()  # nothing half-made is left behind


def test_output_dir_with_another_run_or_foreign_files(tmp_path, data_dir, tiny_model):
    out = tmp_path / "run"
    base = ("--dataset", "mawps", "--split", "test", "--limit", "2", "--num-rollouts", "2", "--max-tokens", "8",
            "--model", tiny_model, "--backend", "hf", "--out", str(out))
    first = collect(*base)
    assert first.returncode == 0, first.stderr
    before = (out / "rollouts.jsonl").read_bytes()
    assert_clean_error(collect(*base, "--temperature", "0.2"), "different config", "sampling.temperature")
    assert (out / "rollouts.jsonl").read_bytes() == before
    assert json.loads((out / "manifest.json").read_text())["complete"] is True

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert_clean_error(collect(*base[:-1], str(foreign)), "not empty")
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_merge_errors(tmp_path):
    assert_clean_error(run_qstar("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")), "not")
    assert_clean_error(run_qstar("merge", "--out", str(tmp_path / "m")), "Missing argument")


def test_unwritable_output(tmp_path, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = collect("--dataset", "mawps", "--split", "test", "--limit", "1", "--out", str(blocker / "run"))
    assert_clean_error(result, "could not write")


def test_eval_combinations_are_refused_before_the_config_is_printed(tmp_path, data_dir):
    base = ("eval", "--dataset", "mawps", "--split", "test", "--limit", "2", "--out", str(tmp_path / "e"))
    assert_clean_error(run_qstar(*base, "--search", "astar"), "--search astar needs a Q-value model: --qvm")
    assert_clean_error(run_qstar(*base, "--search", "best-of-n"), "needs a Q-value model")
    assert_clean_error(run_qstar(*base, "--search", "astar", "--qvm", str(tmp_path)), "is not a qstar QVM")
    assert not (tmp_path / "e").exists()
