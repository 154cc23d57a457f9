"""qstar report's comparison table from eval run directories."""

import pytest

from qstar_cli.artifacts.rundir import RunDir
from qstar_cli.config import EvalConfig, resolve, to_dict
from qstar_cli.errors import QstarError
from qstar_cli.stages import report
from qstar_cli.stages.eval import RECORDS, STAGE, eval_metrics


def eval_run(path, search, correct):
    config = to_dict(resolve(EvalConfig, None, [f"eval.search={search}", "data.name=mawps"], {}))
    run = RunDir.open(path, stage=STAGE, kind="predictions", records_name=RECORDS, config=config, inputs={},
                      expected_ids=[], total_questions=len(correct), seeds={})
    records = [{"correct": c, "terminals": [{"correct": c}], "answer": "1",
                "usage": {"generated_tokens": 10, "policy_calls": 2, "qvm_calls": 1, "prm_calls": 0, "expansions": 1}}
               for c in correct]
    metrics = eval_metrics(records, [{"seconds": 3.0}], 200)
    metrics["search"] = search
    run.finish(metrics)
    return str(path)


def test_markdown_table(tmp_path):
    a = eval_run(tmp_path / "g", "greedy", [True, False, False, False])
    b = eval_run(tmp_path / "s", "astar", [True, True, False, False])
    text = report.run([a, b], str(tmp_path / "r.md"))
    lines = text.splitlines()
    assert lines[0].startswith("| run | search |") and len(lines) == 4
    assert "| g | greedy | mawps/test | embedded | 4 | 25.0% (" in lines[2]
    assert "| s | astar |" in lines[3] and "50.0%" in lines[3] and "| 10 | 2.0 | 1.0 | 3 |" in lines[3]
    assert (tmp_path / "r.md").read_text() == text


def test_refuses_other_stages_and_incomplete_runs(tmp_path):
    run = RunDir.open(tmp_path / "x", stage=STAGE, kind="predictions", records_name=RECORDS, config={}, inputs={},
                      expected_ids=[], total_questions=0, seeds={})
    run.close()
    with pytest.raises(QstarError, match="not complete"):
        report.run([str(tmp_path / "x")])
