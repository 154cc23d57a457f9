"""A run folder knows the config it was made with and its records' checksum, and every entry point
that writes into or reads from it asks the same question: a rerun in place, a launcher (Ray, a
Slurm relaunch), a downstream stage, `qstar report` and `qstar merge`."""

import json

import pytest

from qstar_cli.artifacts import records as R
from qstar_cli.artifacts.rundir import open_input, open_stage_run
from qstar_cli.config import CollectConfig, resolve, to_dict
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.launch import shards as S
from qstar_cli.stages import collect, merge
from tests.unit.test_rundir import make_shards, open_run, record


def finished(path, ids=("q0", "q1")):
    run = open_run(path, list(ids))
    for qid in ids:
        run.append(record(qid, reward=0.0))
    run.finish({"questions": len(ids)})
    return path


def read(path):
    return open_input(path, stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)


def edit_first_record(path):
    rec = path / collect.RECORDS
    lines = rec.read_text().splitlines()
    first = json.loads(lines[0])
    first["trajectories"][0]["reward"] = 1.0  # a wrong answer made right by hand
    rec.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


def test_a_rerun_in_place_refuses_records_edited_after_the_run_completed(tmp_path):
    run = finished(tmp_path / "r")
    edit_first_record(run)
    with pytest.raises(QstarError, match="changed after its run completed"):
        open_run(run, ["q0", "q1"])  # the same command again: it must not "finish" over the edit


def test_a_rerun_in_place_of_an_untouched_complete_run_still_works(tmp_path):
    run = finished(tmp_path / "r")
    again = open_run(run, ["q0", "q1"])
    assert again.finished_ids == {"q0", "q1"}
    again.finish({"questions": 2})
    assert read(run)[0]["complete"] is True


def test_a_complete_run_whose_records_are_gone_is_refused(tmp_path):
    run = finished(tmp_path / "r")
    (run / collect.RECORDS).unlink()
    with pytest.raises(QstarError, match=r"rollouts.jsonl is missing"):
        read(run)
    with pytest.raises(QstarError, match=r"rollouts.jsonl is missing"):
        open_run(run, ["q0", "q1"])


def test_metrics_edited_after_the_run_completed_are_refused(tmp_path):
    run = finished(tmp_path / "r")
    (run / "metrics.json").write_text(json.dumps({"questions": 2, "accuracy": 0.99}))
    with pytest.raises(QstarError, match="metrics.json changed after its run completed"):
        read(run)


def synthetic_config(tmp_path, *sets):
    return resolve(
        CollectConfig, None, ["data.name=synthetic-arith", "data.limit=4", f"collect.out={tmp_path / 'run'}", *sets], {}
    )


def complete_collect_run(tmp_path, config):
    """A finished collect run of `config`, written as the stage writes it (no model: records by hand)."""
    plan = collect.plan(config)
    problems, total = plan.items, plan.total
    run = open_stage_run(
        STAGES["collect"],
        tmp_path / "run",
        config=to_dict(config),
        inputs=collect.run_inputs(config, problems),
        expected_ids=[p.id for p in problems],
        total_questions=total,
        seeds={},
    )
    for p in problems:
        run.append(
            R.rollout_record(
                problem=p, dataset="synthetic-arith", split="test", prompt="p", step_format="line", trajectories=[]
            )
        )
    run.finish({"questions": len(problems)})
    return run.path


def test_a_launcher_refuses_a_finished_run_made_with_another_config(tmp_path):
    """`--ray` (and a Slurm relaunch) used to hand back a finished -M 4 run for a -M 2 command."""
    complete_collect_run(tmp_path, synthetic_config(tmp_path, "collect.num_rollouts=4"))
    with pytest.raises(QstarError, match=r"different config \(collect.num_rollouts: 4 -> 2\)"):
        S.check("collect", synthetic_config(tmp_path, "collect.num_rollouts=2"))
    out, total = S.check("collect", synthetic_config(tmp_path, "collect.num_rollouts=4"))  # the same: reused
    assert S.is_complete(out) and total == 4


def test_a_launcher_refuses_a_finished_run_of_other_questions(tmp_path):
    complete_collect_run(tmp_path, synthetic_config(tmp_path))
    with pytest.raises(QstarError, match="different inputs"):
        S.check("collect", synthetic_config(tmp_path, "data.limit=3"))


def test_a_slurm_relaunch_refuses_a_finished_run_made_with_another_config(tmp_path):
    from qstar_cli.launch import slurm

    complete_collect_run(tmp_path, synthetic_config(tmp_path, "collect.num_rollouts=4"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"data: {{name: synthetic-arith, limit: 4}}\ncollect: {{out: {tmp_path / 'run'}, num_rollouts: 2}}\n"
    )
    with pytest.raises(QstarError, match="different config"):
        slurm.plan("collect-rollouts", recipe, [], 2)


def collect_shards(tmp_path, n, *sets):
    """Finished shards of a synthetic collect run, as `--ray` or Slurm leave them before the merge."""
    config = synthetic_config(tmp_path, *sets)
    plan = collect.plan(config)
    problems, total = plan.items, plan.total
    for i in range(n):
        shard = resolve(
            CollectConfig, None, ["data.name=synthetic-arith", "data.limit=4", *sets, f"data.shard={i}/{n}"], {}
        )
        mine = problems[i::n]
        run = open_stage_run(
            STAGES["collect"],
            S.shard_out(tmp_path / "run", i, n),
            config=to_dict(shard),
            inputs=collect.run_inputs(shard, mine),
            expected_ids=[p.id for p in mine],
            total_questions=total,
            seeds={},
        )
        for p in mine:
            run.append(
                R.rollout_record(
                    problem=p, dataset="synthetic-arith", split="test", prompt="p", step_format="line", trajectories=[]
                )
            )
        run.finish({})
    return config, problems


def test_a_launcher_refuses_finished_shards_made_with_another_config(tmp_path):
    """Shards finished by an earlier launch with other settings are not merged into this one."""
    old, _ = collect_shards(tmp_path, 2, "collect.num_rollouts=4")
    new = synthetic_config(tmp_path, "collect.num_rollouts=2")
    with pytest.raises(QstarError, match=r"shard0of2 holds a run with a different config"):
        S.unfinished(tmp_path / "run", 2, new)
    assert S.unfinished(tmp_path / "run", 2, old) == []


def test_a_merged_run_resumes_in_place_like_the_run_one_process_writes(tmp_path):
    """merge records the inputs of the whole question set, not those of shard 0's questions."""
    config, problems = collect_shards(tmp_path, 2)
    out = merge.run([str(S.shard_out(tmp_path / "run", i, 2)) for i in range(2)], str(tmp_path / "run"))
    again = open_stage_run(
        STAGES["collect"],
        out,
        config=to_dict(config),
        inputs=collect.run_inputs(config, problems),
        expected_ids=[p.id for p in problems],
        total_questions=len(problems),
        seeds={},
    )
    assert again.finished_ids == {p.id for p in problems}


def test_a_run_whose_manifest_was_deleted_is_recovered_by_the_same_command(tmp_path):
    run = open_run(tmp_path / "r", ["q0", "q1"])
    run.append(record("q0"))
    run.close()
    (tmp_path / "r" / "manifest.json").unlink()
    with pytest.raises(QstarError, match=r"holds config.yaml, rollouts.jsonl \(1 record\) but no manifest.json"):
        read(tmp_path / "r")
    again = open_run(tmp_path / "r", ["q0", "q1"])  # the command that made it
    assert again.finished_ids == {"q0"}
    again.append(record("q1"))
    again.finish({})
    manifest, records = read(tmp_path / "r")
    assert [r["id"] for r in records] == ["q0", "q1"]
    assert manifest["sessions"][0].get("recovered")


def test_a_run_whose_manifest_was_deleted_is_not_taken_by_another_command(tmp_path):
    run = open_run(tmp_path / "r", ["q0"])
    run.append(record("q0"))
    run.close()
    (tmp_path / "r" / "manifest.json").unlink()
    with pytest.raises(QstarError, match="different config"):
        open_run(tmp_path / "r", ["q0"], sets=["sampling.temperature=0.3"])


def test_report_refuses_a_run_whose_records_are_gone(tmp_path):
    from qstar_cli.report.runs import load_run

    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "config.yaml").write_text("eval: {search: greedy}\n")
    (folder / "predictions.jsonl").write_text("")
    metrics = {"accuracy": 0.0, "accuracy_ci95": [0, 0], "questions": 0, "tokens_per_question": 0}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    from qstar_cli.artifacts.rundir import sha256_file

    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "stage": "eval",
                "complete": True,
                "expected_ids": [],
                "sessions": [],
                "records_sha256": sha256_file(folder / "predictions.jsonl"),
                "metrics_sha256": sha256_file(folder / "metrics.json"),
            }
        )
    )
    load_run(folder)
    (folder / "predictions.jsonl").unlink()
    with pytest.raises(QstarError, match="predictions.jsonl is missing"):
        load_run(folder)


def test_run_inputs_are_the_ones_the_stage_records(tmp_path):
    config = synthetic_config(tmp_path)
    out = complete_collect_run(tmp_path, config)
    problems = collect.plan(config).items
    assert json.loads((out / "manifest.json").read_text())["inputs"] == collect.run_inputs(config, problems)


def label_run(path):
    """A complete label run of two questions (own-ending labels, written by hand)."""
    from qstar_cli.config import LabelConfig

    config = resolve(LabelConfig, None, ["label.input=rollouts"], {})
    run = open_stage_run(
        STAGES["label"], path, config=to_dict(config), inputs={}, expected_ids=["q0", "q1"], total_questions=2, seeds={}
    )
    for qid in ("q0", "q1"):
        run.append(
            {
                "schema": R.schema_tag("qlabels"),
                "id": qid,
                "dataset": "toy",
                "split": "test",
                "question": f"{qid}: 1+1?",
                "reference": "2",
                "prompt": "p",
                "step_format": "line",
                "method": "rollout",
                "gamma": 1.0,
                "nodes": [
                    {"parent": -1, "step": "1+1=2\n", "depth": 1, "terminal": False, "y": 1.0},
                    {"parent": 0, "step": "The answer is 2.", "depth": 2, "terminal": True, "y": 1.0},
                    {"parent": -1, "step": "1+1=3\n", "depth": 1, "terminal": False, "y": 0.0},
                ],
            }
        )
    run.finish({})
    return path


def test_train_q_refuses_a_trained_folder_made_with_another_config(tmp_path, tiny_model):
    """train-q used to say 'already trained; nothing to do' for any config."""
    from qstar_cli.config import TrainConfig
    from qstar_cli.stages import train_q

    labels = label_run(tmp_path / "labels")

    def train(*sets):
        return train_q.run(
            resolve(
                TrainConfig,
                None,
                [
                    f"train.labels=[{labels}]",
                    f"train.backbone={tiny_model}",
                    "train.max_steps=1",
                    "train.heldout_fraction=0.0",
                    f"train.out={tmp_path / 'qvm'}",
                    *sets,
                ],
                {},
            )
        )

    train()
    with pytest.raises(QstarError, match=r"different config \(train.learning_rate"):
        train("train.learning_rate=0.5")
    assert train() == tmp_path / "qvm"  # the same config: nothing to do
    # a model, not records: the run folder names no records file and its metrics are checked
    manifest = json.loads((tmp_path / "qvm" / "manifest.json").read_text())
    assert "records_file" not in manifest and not list((tmp_path / "qvm").glob("*.jsonl"))
    (tmp_path / "qvm" / "metrics.json").write_text("{}")
    with pytest.raises(QstarError, match="metrics.json changed after its run completed"):
        train()


def test_merge_again_refuses_a_merged_run_edited_since(tmp_path):
    dirs = make_shards(tmp_path, 2, ["q0", "q1", "q2"])
    out = merge.run(dirs, str(tmp_path / "merged"))
    edit_first_record(out)
    with pytest.raises(QstarError, match="changed after its run completed"):
        merge.run(dirs, str(tmp_path / "merged"))


def test_a_complete_run_whose_records_were_written_under_another_name_reruns_in_place(tmp_path):
    """FQI appends candidates.jsonl and writes its labels to qlabels.jsonl at the end: the checksum
    of a rerun is checked against the file it was taken of (a rerun of a finished FQI run failed)."""

    def finished_fqi(path):
        run = open_run(path, ["q0"])  # records_name rollouts.jsonl plays candidates.jsonl
        run.append(record("q0", reward=0.0))
        run.write_records("rollouts", "final.jsonl", [record("q0", reward=1.0)])
        run.finish({})
        return path

    open_run(finished_fqi(tmp_path / "a"), ["q0"]).close()  # the same command again: no refusal
    (finished_fqi(tmp_path / "b") / "final.jsonl").write_text("")
    with pytest.raises(QstarError, match="final.jsonl changed after its run completed"):
        open_run(tmp_path / "b", ["q0"])


def test_training_resumes_from_the_last_complete_checkpoint(tmp_path):
    """A checkpoint killed while it was saved (no trainer_state.json, or a torn one) is not resumed
    from (the resume crashed with FileNotFoundError) and is removed."""
    from qstar_cli.value.fit import _last_checkpoint

    for step, state in ((2, '{"global_step": 2}'), (4, None), (6, '{"global_st')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert _last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]


def test_an_eval_resumes_after_a_rollout_temperature_change_unless_the_oracle_reads_it(tmp_path):
    """A search samples at eval.temperature: sampling.temperature (the rollouts', in a recipe shared
    with collect) changes nothing it computes, except the oracle's continuations."""
    from qstar_cli.config import EvalConfig
    from qstar_cli.stages import eval as eval_stage

    def open_eval(out, *sets):
        config = resolve(
            EvalConfig, None, ["data.name=synthetic-arith", "data.limit=2", f"eval.out={tmp_path / out}", *sets], {}
        )
        _, _, rundir = eval_stage.prepare(config, eval_stage.plan(config))
        return rundir

    open_eval("sc", "eval.search=self_consistency").close()
    open_eval("sc", "eval.search=self_consistency", "sampling.temperature=0.3").close()  # resumes
    with pytest.raises(QstarError, match=r"different config \(eval.temperature"):  # its own temperature still counts
        open_eval("sc", "eval.search=self_consistency", "eval.temperature=0.3")
    oracle = ("eval.search=astar", "eval.qvm=oracle")
    open_eval("oracle", *oracle).close()
    with pytest.raises(QstarError, match=r"sampling.temperature"):
        open_eval("oracle", *oracle, "sampling.temperature=0.3")
