"""Run directories: resume rules, complete-last manifest, refusing incomplete inputs, merge."""

import json
import os
from types import SimpleNamespace

import pytest
import yaml

from qstar_cli.artifacts import records as R
from qstar_cli.artifacts.rundir import RunDir, open_input
from qstar_cli.config import CollectConfig, resolve, to_dict
from qstar_cli.errors import QstarError
from qstar_cli.stages import collect, merge


def record(qid, reward=1.0):
    traj = R.trajectory(
        text="1+1=2\nThe answer is 2.",
        steps=[R.step("1+1=2\n", 4, -1.0), R.step("The answer is 2.", 5, -0.5)],
        answer="2",
        reward=reward,
        finish_reason="eos",
        tokens=9,
        logprob=-1.5,
    )
    problem = SimpleNamespace(id=qid, question="1+1?", reference="2")
    return R.rollout_record(
        problem=problem, dataset="toy", split="test", prompt="p", step_format="line", trajectories=[traj]
    )


def open_run(path, ids, sets=(), total=None):
    config = to_dict(resolve(CollectConfig, None, list(sets), {}))
    return RunDir.open(
        path,
        stage=collect.STAGE,
        kind="rollouts",
        records_name=collect.RECORDS,
        config=config,
        inputs={"dataset": "toy/test"},
        expected_ids=ids,
        total_questions=total or len(ids),
        seeds={"policy": 0},
    )


def test_new_run_resume_and_complete_last(tmp_path):
    run = open_run(tmp_path / "r", ["q0", "q1"])
    run.append(record("q0"))
    run.close()
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["expected_ids"] == ["q0", "q1"]
    with pytest.raises(QstarError, match="not complete"):
        open_input(tmp_path / "r", stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)

    again = open_run(tmp_path / "r", ["q0", "q1"], sets=["collect.batch_questions=2"])  # execution key: allowed
    assert again.finished_ids == {"q0"}
    again.append(record("q1"))
    again.finish({"questions": 2})
    manifest, records = open_input(tmp_path / "r", stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)
    assert manifest["complete"] is True and len(manifest["sessions"]) == 2
    assert [r["id"] for r in records] == ["q0", "q1"]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == {"questions": 2}


def test_a_different_config_is_refused(tmp_path):
    open_run(tmp_path / "r", ["q0"]).close()
    with pytest.raises(QstarError, match=r"different config \(sampling.temperature: 0.9 -> 0.3\)"):
        open_run(tmp_path / "r", ["q0"], sets=["sampling.temperature=0.3"])


def test_a_foreign_directory_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(QstarError, match="not empty and holds no qstar run"):
        open_run(tmp_path / "r", ["q0"])
    with pytest.raises(QstarError, match="not a qstar run directory"):
        open_input(tmp_path / "r", stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)


def test_torn_tail_is_repaired_on_resume(tmp_path):
    run = open_run(tmp_path / "r", ["q0", "q1"])
    run.append(record("q0"))
    run.close()
    with open(tmp_path / "r" / collect.RECORDS, "a") as handle:
        handle.write('{"schema": "rollouts/1", "id": "q1", "traj')
    again = open_run(tmp_path / "r", ["q0", "q1"])
    assert again.repaired_bytes > 0 and again.finished_ids == {"q0"}


def test_records_are_validated(tmp_path):
    run = open_run(tmp_path / "r", ["q0"])
    run.close()
    bad = record("q0")
    del bad["trajectories"][0]["reward"]
    (tmp_path / "r" / collect.RECORDS).write_text(json.dumps(bad) + "\n")
    with pytest.raises(QstarError, match=r"rollouts.jsonl:1: trajectory is missing field 'reward'"):
        open_run(tmp_path / "r", ["q0"])
    (tmp_path / "r" / collect.RECORDS).write_text(json.dumps({"schema": "qlabels/1", "id": "q0"}) + "\n")
    with pytest.raises(QstarError, match="expected a rollouts record"):
        open_run(tmp_path / "r", ["q0"])


def make_shards(tmp_path, n, ids, drop=None, dup=None):
    dirs = []
    for i in range(n):
        mine = ids[i::n]
        run = open_run(tmp_path / f"s{i}", mine, sets=[f"data.shard={i}/{n}"], total=len(ids))
        for qid in mine:
            if qid != drop:
                run.append(record(qid))
        if dup and dup not in mine:
            run.append(record(dup))
        run.manifest["expected_ids"] = [q for q in mine if q != drop] + ([dup] if dup and dup not in mine else [])
        run.finish({})
        dirs.append(str(tmp_path / f"s{i}"))
    return dirs


def test_merge_restores_the_unsharded_order(tmp_path):
    ids = [f"q{i}" for i in range(7)]
    dirs = make_shards(tmp_path, 3, ids)
    out = merge.run(list(reversed(dirs)), str(tmp_path / "merged"))
    manifest, records = open_input(out, stage=collect.STAGE, kind="rollouts", records_name=collect.RECORDS)
    assert [r["id"] for r in records] == ids and manifest["complete"] is True
    assert yaml.safe_load((out / "config.yaml").read_text())["data"]["shard"] is None
    assert json.loads((out / "metrics.json").read_text())["questions"] == 7


def test_merge_fails_on_missing_shard_duplicates_and_mixed_configs(tmp_path):
    ids = [f"q{i}" for i in range(6)]
    dirs = make_shards(tmp_path / "a", 3, ids)
    with pytest.raises(QstarError, match="shards missing: 2/3"):
        merge.run(dirs[:2], str(tmp_path / "m1"))
    with pytest.raises(QstarError, match="given twice"):
        merge.run([dirs[0], dirs[0], dirs[1]], str(tmp_path / "m2"))
    dup_dirs = make_shards(tmp_path / "b", 2, ids, dup="q0")
    with pytest.raises(QstarError, match="duplicate question id 'q0'"):
        merge.run(dup_dirs, str(tmp_path / "m3"))
    other = open_run(tmp_path / "c", ids[2::3], sets=["data.shard=2/3", "sampling.temperature=0.1"], total=6)
    for qid in ids[2::3]:
        other.append(record(qid))
    other.finish({})
    with pytest.raises(QstarError, match="different config"):
        merge.run(dirs[:2] + [str(tmp_path / "c")], str(tmp_path / "m4"))
    assert not (tmp_path / "m4").exists()


def test_a_session_is_recorded_even_when_its_work_fails_and_the_rerun_does_the_rest(tmp_path):
    run = open_run(tmp_path / "r", ["q0", "q1", "q2"])
    items = [SimpleNamespace(id=i) for i in ("q0", "q1", "q2")]
    assert [x.id for x in run.todo(items)] == ["q0", "q1", "q2"]
    with pytest.raises(KeyboardInterrupt), run.session() as session:
        run.append(record("q0"))
        session["generated_questions"] += 1
        session["generated_tokens"] = 9
        raise KeyboardInterrupt  # the user pressed Ctrl-C
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    first = manifest["sessions"][-1]
    assert (first["generated_questions"], first["generated_tokens"], manifest["complete"]) == (1, 9, False)
    assert first["seconds"] >= 0

    again = open_run(tmp_path / "r", ["q0", "q1", "q2"])
    todo = again.todo(items)
    assert [x.id for x in todo] == ["q1", "q2"]  # nothing finished is redone
    with again.session() as session:
        for item in todo:
            again.append(record(item.id))
            session["generated_questions"] += 1
    metrics = again.complete(
        lambda records, sessions: {
            "questions": len(records),
            "sessions": len(sessions),
            "generated": sum(s["generated_questions"] for s in sessions),
        }
    )
    assert metrics == {"questions": 3, "sessions": 2, "generated": 3}
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == metrics
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["complete"] is True


@pytest.mark.parametrize("method, refused", [("rollout", False), ("fqi", True)])
def test_a_label_run_resumes_after_a_train_change_unless_fqi_trains(tmp_path, method, refused):
    """A recipe shared by label and train-q may change train.* between the two stages: only FQI's
    labels depend on it (it fits a QVM every iteration), so only FQI refuses to resume."""
    from qstar_cli.config import LabelConfig
    from qstar_cli.stages import label
    from qstar_cli.stages.common import Plan

    def open_label(*sets):
        config = resolve(
            LabelConfig,
            None,
            [
                f"label.method={method}",
                f"label.input={tmp_path / 'rollouts'}",
                f"label.out={tmp_path / 'labels'}",
                *sets,
            ],
            {},
        )
        plan = Plan(
            tmp_path / "labels",
            [{"id": "q0"}],
            1,
            label.run_inputs(config, {"records_sha256": "x"}),
            label.unused_sections(config),
        )
        return label._open(config, plan, "qlabels", "qlabels.jsonl")

    open_label().close()
    if refused:
        with pytest.raises(QstarError, match=r"train.epochs: 2.0 -> 1.0"):
            open_label("train.epochs=1.0")
    else:
        open_label("train.epochs=1.0").close()
    with pytest.raises(QstarError, match=r"label.gamma"):  # the label section still counts
        open_label("label.gamma=0.5")


def test_a_folder_held_by_a_live_process_is_refused_and_a_dead_ones_taken_over(tmp_path):
    """The lock names its holder; the kernel drops it when the holder dies (SIGKILL included)."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path; from qstar_cli.artifacts.rundir import lock; "
                f"p = Path({str(tmp_path / 'r')!r}); p.mkdir(); lock(p); print('held', flush=True); time.sleep(120)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(QstarError, match=rf"in use by another qstar run \(pid {holder.pid} on "):
            open_run(tmp_path / "r", ["q0"])
        assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".lock"]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    run = open_run(tmp_path / "r", ["q0"])  # taken over
    assert json.loads((tmp_path / "r" / ".lock").read_text())["pid"] == os.getpid()
    run.append(record("q0"))
    run.finish({})


def test_a_merge_stopped_part_way_leaves_nothing_and_the_next_one_completes(tmp_path):
    dirs = make_shards(tmp_path, 2, ["q0", "q1", "q2"])
    (tmp_path / "merged.merging").mkdir()  # what a merge killed before its rename leaves
    (tmp_path / "merged.merging" / "rollouts.jsonl").write_text('{"torn')
    out = merge.run(dirs, str(tmp_path / "merged"))
    assert not (tmp_path / "merged.merging").exists()
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


def test_merging_the_same_shards_again_is_a_no_op(tmp_path):
    """A merge killed just after its rename is rerun by a retrying launcher: it must succeed."""
    dirs = make_shards(tmp_path, 2, ["q0", "q1", "q2"])
    out = merge.run(dirs, str(tmp_path / "merged"))
    before = (out / "manifest.json").read_bytes()
    assert merge.run(dirs, str(tmp_path / "merged")) == out and (out / "manifest.json").read_bytes() == before
    other = make_shards(tmp_path / "other", 3, ["q0", "q1", "q2"])
    with pytest.raises(QstarError, match="already exists and is not empty"):  # another merge's folder
        merge.run(other, str(tmp_path / "merged"))
