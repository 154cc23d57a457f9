"""Every error a user can cause: one clear line, a non-zero exit, no traceback, no lost work."""

import json

import pytest

from tests.conftest import REPO, run_qstar


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
    # errors first: a stage's header (printed before it loads a model; with --verbose the resolved
    # config too) never comes before an error the user's input causes
    assert not first or (
        "(resolved config in its config.yaml" not in output
        and "\ndata:\n" not in "\n" + output
        and "─ eval ─" not in output
    ), output


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
    assert_clean_error(
        collect("--set", "sampling.temprature=0.5", "--dry-run"),
        "sampling.temprature",
        "did you mean 'sampling.temperature'",
    )
    recipe.write_text("collect:\n  rollouts: 4\n")
    assert_clean_error(collect("--recipe", str(recipe), "--dry-run"), "collect.rollouts")


@pytest.mark.parametrize(
    "flag", [["--num-rollouts", "0"], ["--num-rollouts", "-3"], ["--set", "collect.num_rollouts=0"]]
)
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
    offline = run_qstar(
        "collect-rollouts", *args, "--model", "no-such-org/no-such-model", env={"HF_HUB_OFFLINE": "1"}, timeout=300
    )
    assert_clean_error(offline, "no-such-org/no-such-model", "not found")
    assert not (tmp_path / "run").exists()  # nothing half-made is left behind


def test_output_dir_with_another_run_or_foreign_files(tmp_path, data_dir, tiny_model):
    out = tmp_path / "run"
    base = (
        "--dataset",
        "mawps",
        "--split",
        "test",
        "--limit",
        "2",
        "--num-rollouts",
        "2",
        "--max-tokens",
        "8",
        "--model",
        tiny_model,
        "--backend",
        "hf",
        "--out",
        str(out),
    )
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
    assert_clean_error(
        run_qstar("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")), "not"
    )
    assert_clean_error(run_qstar("merge", "--out", str(tmp_path / "m")), "Missing argument")


def test_unwritable_output(tmp_path, data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = collect("--dataset", "mawps", "--split", "test", "--limit", "1", "--out", str(blocker / "run"))
    assert_clean_error(result, f"--out {blocker / 'run'}: {blocker} is a file, not a folder")


def _jsonl(path, answers):
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": a}) + "\n" for i, a in enumerate(answers)))
    return path


def error_line(result):
    return " ".join(result.stderr.split())


def test_out_that_is_a_file_is_refused_at_once(tmp_path):
    """Every stage, before its config or any work, and its --dry-run too (the run would fail)."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("precious")
    data = ("--dataset", "jsonl", "--set", f"data.path={_jsonl(tmp_path / 'q.jsonl', ['1', '2'])}")
    message = f"--out {blocker} is a file, not a folder"
    # (label reads its --input run first: a missing one is the error it gives)
    for args in [
        ("collect-rollouts", *data),
        ("eval", "--search", "greedy", *data),
        ("train-q", "--labels", str(tmp_path / "no-run")),
    ]:
        for dry in ([], ["--dry-run"]):
            assert_clean_error(run_qstar(*args, *dry, "--out", str(blocker), timeout=300), message)
    for args in [
        ("repro", "recipes/cpu/repro.yaml"),
        ("repro", "recipes/cpu/repro.yaml", "--dry-run"),
        ("merge", str(tmp_path / "a"), str(tmp_path / "b")),
        ("report", str(tmp_path / "a")),
    ]:
        assert_clean_error(run_qstar(*args, "--out", str(blocker), cwd=REPO, timeout=300), message)
    assert blocker.read_text() == "precious"


def test_dry_run_reads_the_data_as_the_run_does(tmp_path):
    """A missing MGSM language, a missing file and a missing field fail the dry run with the run's own error."""
    (tmp_path / "data" / "mgsm").mkdir(parents=True)
    (tmp_path / "data" / "mgsm" / "mgsm_en.tsv").write_text("One plus one?\t2\n")
    good = _jsonl(tmp_path / "q.jsonl", ["1", "2"])
    cases = [
        (
            ("--dataset", "mgsm", "--split", "test", "--set", "data.subset=fr", "--data-dir", str(tmp_path / "data")),
            ("mgsm subset 'fr' not found", "languages present: en"),
        ),
        (("--dataset", "jsonl", "--set", f"data.path={tmp_path / 'nope.jsonl'}"), ("nope.jsonl", "not found")),
        (
            ("--dataset", "jsonl", "--set", f"data.path={good}", "--set", "data.answer_field=ans"),
            ("q.jsonl:1: missing field 'ans'",),
        ),
    ]
    for args, fragments in cases:
        for stage in (("collect-rollouts",), ("eval", "--search", "greedy")):
            dry = run_qstar(*stage, *args, "--dry-run", timeout=300)
            assert_clean_error(dry, *fragments)
            real = run_qstar(*stage, *args, "--out", str(tmp_path / "run"), timeout=300)
            assert_clean_error(real, *fragments)
            assert error_line(dry) == error_line(real)
    assert not (tmp_path / "run").exists()
    # a language MGSM has no worked exemplars in: its first prompt cannot be built, at once, dry or not
    (tmp_path / "data" / "mgsm" / "mgsm_it.tsv").write_text("Uno più uno?\t2\n")
    shots = (
        "eval",
        "--search",
        "greedy",
        "--dataset",
        "mgsm",
        "--set",
        "data.subset=it",
        "--num-shots",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
    )
    dry, real = run_qstar(*shots, "--dry-run", timeout=300), run_qstar(*shots, "--out", str(tmp_path / "run"))
    assert_clean_error(dry, "no MGSM worked exemplars in language 'it'")
    assert error_line(dry) == error_line(real) and not (tmp_path / "run").exists()
    # what does pass the dry run says how many questions the run has
    ok = run_qstar("collect-rollouts", "--dataset", "jsonl", "--set", f"data.path={good}", "--dry-run")
    assert ok.returncode == 0 and "2 questions" in error_line(ok), ok.stderr
    # data from the hub is named, not downloaded (offline, at once)
    hub = run_qstar(
        "eval",
        "--search",
        "greedy",
        "--dataset",
        "gsm8k",
        "--dry-run",
        timeout=60,
        env={"QSTAR_DATA_DIR": "", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )
    assert hub.returncode == 0 and "comes from the Hugging Face hub" in error_line(hub), hub.stderr


def test_rows_that_cannot_be_graded_name_the_option_that_skips_them(tmp_path):
    """Ten rows, two with word answers (lines 4 and 8): the refusal names both and the option, the
    option works, and a slice without them runs as it is."""
    wordy = _jsonl(tmp_path / "wordy.jsonl", ["1", "2", "3", "Yes", "5", "6", "7", "Alice", "9 (apples)", "10"])
    data = ("--dataset", "jsonl", "--set", f"data.path={wordy}")
    for dry in (["--dry-run"], ["--out", str(tmp_path / "run")]):
        refused = collect(*data, *dry)
        assert_clean_error(
            refused, "2 of the 10 questions", f"{wordy}:4 'Yes', {wordy}:8 'Alice'", "--set data.skip_ungradable=true"
        )
        assert "answer_type" not in refused.stderr  # only what works is suggested
    suggestion = error_line(refused).split("skip such rows with ")[1].split(" ")[:2]
    assert suggestion == ["--set", "data.skip_ungradable=true"]
    skipped = collect(*data, *suggestion, "--dry-run")
    assert skipped.returncode == 0, skipped.stderr
    assert (
        f"skipped 2 of the 10 rows of {wordy} that cannot be graded: {wordy}:4 'Yes', {wordy}:8 'Alice'"
        in error_line(skipped)
    )
    assert "8 questions" in error_line(skipped)
    sliced = collect(*data, "--limit", "3", "--dry-run")
    assert sliced.returncode == 0 and "3 questions" in error_line(sliced), sliced.stderr


def test_skipped_rows_are_recorded_in_the_run(tmp_path, tiny_model):
    wordy = _jsonl(tmp_path / "wordy.jsonl", ["1", "Yes", "3"])
    out = tmp_path / "run"
    result = collect(
        "--dataset",
        "jsonl",
        "--set",
        f"data.path={wordy}",
        "--set",
        "data.skip_ungradable=true",
        "--num-rollouts",
        "1",
        "--max-tokens",
        "4",
        "--model",
        tiny_model,
        "--backend",
        "hf",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["skipped_ungradable"] == {"count": 1, "rows": 3, "ids": ["wordy/train/1"]}
    assert manifest["expected_ids"] == ["wordy/train/0", "wordy/train/2"]


def test_eval_combinations_are_refused_before_the_config_is_printed(tmp_path, data_dir):
    base = ("eval", "--dataset", "mawps", "--split", "test", "--limit", "2", "--out", str(tmp_path / "e"))
    assert_clean_error(run_qstar(*base, "--search", "astar"), "--search astar needs a Q-value model: --qvm")
    assert_clean_error(run_qstar(*base, "--search", "best-of-n"), "needs a Q-value model")
    assert_clean_error(run_qstar(*base, "--search", "astar", "--qvm", str(tmp_path)), "is not a qstar QVM")
    assert not (tmp_path / "e").exists()
