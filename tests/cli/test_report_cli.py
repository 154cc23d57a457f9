"""qstar report and qstar repro through the CLI: output when piped, and one clean line per error."""

from tests.cli.test_bad_input import assert_clean_error
from tests.conftest import REPO, run_qstar
from tests.unit.test_report import eval_run


def test_report_prints_markdown_when_piped_and_writes_files(tmp_path):
    g = eval_run(tmp_path / "greedy", "greedy", [True, False])
    s = eval_run(tmp_path / "astar", "astar", [True, True], trees_for=("q0",))
    result = run_qstar("report", g, s, "--out", str(tmp_path / "rep"), "--tree", "q0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Runs\n\n| run | method |") and "## Paired tests" in result.stdout
    assert (tmp_path / "rep" / "trees" / "astar" / "q0.html").exists()


def test_report_and_repro_errors(tmp_path):
    g = eval_run(tmp_path / "greedy", "greedy", [True, False])
    other = eval_run(tmp_path / "other", "astar", [True, False], ids=["q0", "q5"])
    assert_clean_error(run_qstar("report", str(tmp_path / "nope")), "run directory not found")
    assert_clean_error(run_qstar("report", g, other), "different questions")
    assert_clean_error(
        run_qstar("report", g, "--out", str(tmp_path / "r"), "--tree", "q1"), "no run has saved search trees"
    )
    bad = tmp_path / "expect.json"
    bad.write_text('{"metrics": {"eval.accuracy": {"value": 0.5}}}')
    assert_clean_error(
        run_qstar("repro", str(REPO / "recipes/cpu/repro.yaml"), "--expect", str(bad), "--dry-run"), "states no range"
    )
    for result in (run_qstar("report", str(tmp_path / "nope")),):
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
