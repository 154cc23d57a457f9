"""qstar report: tables, paired tests, plot, tree views and HTML from hand-built eval runs.

The runs are written by hand with known outcomes, so every expected number is computed here by
hand (McNemar p-values from the binomial, paired-bootstrap intervals of constant differences).
"""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from qstar_cli.artifacts import records as R
from qstar_cli.artifacts.rundir import RunDir
from qstar_cli.config import EvalConfig, resolve, to_dict
from qstar_cli.errors import QstarError
from qstar_cli.report import paired, trees
from qstar_cli.report.runs import load_runs
from qstar_cli.stages import report
from qstar_cli.stages.eval import RECORDS, STAGE, eval_metrics
from qstar_cli.stats import mcnemar_exact, paired_bootstrap_ci

# A* tree of one question: root -> a (expanded) -> {a1 correct terminal, a2 wrong terminal}; root -> b (open)
TREE = [
    {
        "id": 0,
        "parent": -1,
        "step": "",
        "g": 0.0,
        "h": 0.0,
        "f": 0.0,
        "terminal": False,
        "expanded": True,
        "chosen": True,
    },
    {
        "id": 1,
        "parent": 0,
        "step": "Tom has 3 apples and buys 4 more apples at the shop.\n",
        "g": 0.0,
        "h": 0.7,
        "f": 0.7,
        "terminal": False,
        "expanded": True,
        "chosen": True,
    },
    {"id": 2, "parent": 0, "step": "3 - 4 = -1\n", "g": 0.0, "h": 0.2, "f": 0.2, "terminal": False, "expanded": False},
    {
        "id": 3,
        "parent": 1,
        "step": "The answer is 7",
        "g": 0.0,
        "h": 0.9,
        "f": 0.9,
        "terminal": True,
        "expanded": False,
        "correct": True,
        "chosen": True,
    },
    {
        "id": 4,
        "parent": 1,
        "step": "The answer is <12>",
        "g": 0.0,
        "h": 0.1,
        "f": 0.1,
        "terminal": True,
        "expanded": False,
        "correct": False,
    },
]


def eval_run(path, search, correct, ids=None, tokens=10, dataset="mawps", trees_for=(), qvm="runs/cpu/qvm"):
    sets = [f"eval.search={search}", f"data.name={dataset}"]
    config = to_dict(resolve(EvalConfig, None, sets, {}))
    ids = ids or [f"q{i}" for i in range(len(correct))]
    run = RunDir.open(
        path,
        stage=STAGE,
        kind="predictions",
        records_name=RECORDS,
        config=config,
        inputs={},
        expected_ids=ids,
        total_questions=len(ids),
        seeds={},
    )
    records = []
    for qid, c in zip(ids, correct):
        rec = {
            "schema": R.schema_tag("predictions"),
            "id": qid,
            "question": f"question {qid}",
            "reference": "7",
            "search": search,
            "answer": "7" if c else "5",
            "correct": c,
            "solution": "The answer is 7",
            "path": [],
            "terminals": [{"text": "x", "score": 0.5, "answer": "7", "correct": c, "finish": "eos"}],
            "usage": {
                "generated_tokens": tokens,
                "policy_calls": 2,
                "qvm_calls": 1,
                "prm_calls": 0,
                "expansions": 1,
                "scored": 0,
            },
            "wall_seconds": 0.1,
        }
        if qid in trees_for:
            rec["tree"] = TREE
        run.append(rec)
        records.append(rec)
    metrics = eval_metrics(records, [{"seconds": 3.0}], 200)
    metrics.update(
        search=search,
        dataset=f"{dataset}/test",
        dataset_name=dataset,
        split="test",
        model="embedded",
        qvm=qvm if search != "greedy" else None,
        qvm_backbone="minilm",
        settings={"k": 6, "n_terminals": 6, "budget": 64} if search == "astar" else {},
    )
    run.finish(metrics)
    return str(path)


def test_comparison_table(tmp_path):
    a = eval_run(tmp_path / "g", "greedy", [True, False, False, False])
    b = eval_run(tmp_path / "s", "astar", [True, True, False, False], tokens=40)
    text = report.run([a, b], pair=False)
    lines = text.splitlines()
    assert lines[2].startswith("| run | method | dataset | split | model | QVM | questions | accuracy (95% CI) |")
    assert lines[4].startswith("| g | greedy | mawps | test | embedded | - | 4 | 25.0% [")
    assert lines[5].startswith("| s | A* K=6 N=6 budget=64 | mawps | test | embedded | cpu/qvm (minilm) | 4 | 50.0% [")
    assert lines[5].endswith("| 40 | 2.0 | 1.0 | - | 3 |")  # one terminal per question: no terminal AUC
    assert "Paired tests" not in text


def test_qvm_table_reads_the_train_q_run_behind_the_runs(tmp_path, monkeypatch):
    from qstar_cli.value.metrics import calibration_error

    qvm_dir = tmp_path / "runs" / "cpu" / "qvm"
    run = RunDir.open(
        qvm_dir,
        stage="train-q",
        kind=None,
        records_name=None,
        config={},
        inputs={},
        expected_ids=[],
        total_questions=0,
        seeds={},
    )
    calibration = [
        {"bin": "[0.1, 0.2)", "count": 3, "mean_pred": 0.15, "mean_label": 0.0},
        {"bin": "[0.8, 0.9)", "count": 1, "mean_pred": 0.85, "mean_label": 1.0},
    ]
    # count-weighted gap: (3 x 0.15 + 1 x 0.15) / 4 = 0.15
    assert calibration_error(calibration) == pytest.approx(0.15)
    run.finish(
        {
            "train_questions": 40,
            "train_examples": 1234,
            "heldout": {
                "questions": 10,
                "examples": 300,
                "roc_auc": 0.6125,
                "roc_auc_ci95": [0.51, 0.7],
                "too_small": False,
                "baseline_position_auc": 0.55,
                "baseline_logprob_auc": 0.58,
                "positive_rate": 0.1,
                "within_question_auc": 0.7,
                "baseline_logprob_within_question_auc": 0.52,
                "sibling_auc": 0.66,
                "final_step_auc": 0.55,
                "auc_by_depth": [
                    {"depth": 0, "roc_auc": 0.7},
                    {"depth": 1, "roc_auc": None},
                    {"depth": 3, "roc_auc": 0.5},
                ],
                "calibration": calibration,
            },
        }
    )
    g = eval_run(tmp_path / "g", "greedy", [True, False])
    a = eval_run(tmp_path / "a", "astar", [True, True])
    b = eval_run(tmp_path / "b", "best_of_n", [False, True])
    monkeypatch.chdir(tmp_path)  # the runs name their QVM as runs/cpu/qvm, relative to where eval ran
    text = report.run([g, a, b], pair=False)
    qvm_part = text.split("## Q-value models")[1].splitlines()
    rows = [line for line in qvm_part if line.startswith("| cpu/qvm")]
    assert rows == [
        "| cpu/qvm (minilm) | 40 (1,234) | 10 (300) | 0.613 [0.51, 0.70] | 0.550 | 0.580 | "
        "0.700 (0.520) | 0.660 | 0.550 | 0.70 / - / - / 0.50 | 0.150 | 0.100 |"
    ]  # one row for the QVM both searches used
    monkeypatch.chdir(tmp_path / "g")  # the QVM's run not found from here: no table, no error
    assert "Q-value models" not in report.run([g, a], pair=False)


def test_mcnemar_exact_by_hand():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 0) == pytest.approx(2 * 1 / 8)  # P(X <= 0), X ~ Bin(3, 1/2), two-sided
    assert mcnemar_exact(5, 1) == pytest.approx(2 * 7 / 64)  # (C(6,0) + C(6,1)) / 2^6
    assert mcnemar_exact(1, 5) == mcnemar_exact(5, 1)
    assert mcnemar_exact(2, 2) == 1.0  # capped


def test_paired_bootstrap_keeps_pairs():
    # every question: A right, B wrong -> the difference is 1 in every resample
    assert paired_bootstrap_ci([1.0] * 5, [0.0] * 5) == (1.0, 1.0)
    # identical runs differ by 0 whatever is resampled, although each alone has a wide CI
    same = [1.0, 0.0, 1.0, 0.0]
    assert paired_bootstrap_ci(same, same) == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0], [1.0, 0.0])


def test_paired_tests_against_baseline(tmp_path):
    # 8 questions: A* solves q0..q5, greedy solves q5..q7 -> wins 5 (q0-q4), losses 2 (q6, q7)
    g = eval_run(tmp_path / "greedy", "greedy", [False] * 5 + [True] * 3, ids=[f"q{i}" for i in range(8)])
    s = eval_run(tmp_path / "astar", "astar", [True] * 6 + [False] * 2, ids=[f"q{i}" for i in range(8)])
    runs = load_runs([s, g])
    (p,) = paired.compare_all(runs, baseline="greedy")
    assert p.baseline.name == "greedy" and p.run.name == "astar"
    assert (p.wins, p.losses, p.questions) == (5, 2, 8)
    assert p.delta == pytest.approx(3 / 8)
    assert p.p_mcnemar == pytest.approx(2 * (1 + 7 + 21) / 128)  # P(X <= 2), X ~ Bin(7, 1/2)
    lo, hi = p.delta_ci95
    assert lo <= 3 / 8 <= hi and -1 <= lo < hi <= 1
    text = report.run([g, s])  # default baseline: the first run given
    assert "| astar | greedy | 8 | +37.5 pts [" in text and "| 5 / 2 | 0.453 |" in text


def test_paired_tests_against_two_baselines(tmp_path):
    ids = [f"q{i}" for i in range(4)]
    g = eval_run(tmp_path / "greedy", "greedy", [True, False, False, False], ids=ids)
    b = eval_run(tmp_path / "bon", "best_of_n", [True, True, False, False], ids=ids)
    s = eval_run(tmp_path / "astar", "astar", [False, True, True, True], ids=ids)
    pairs = paired.compare_all(load_runs([g, b, s]), baseline=["greedy", "bon"])
    got = {(p.run.name, p.baseline.name): (p.wins, p.losses) for p in pairs}
    # against greedy: bon wins q1; astar wins q1, q2, q3 and loses q0. against bon: astar wins q2,
    # q3 and loses q0 (greedy against bon is the first pair the other way round: not repeated)
    assert got == {("bon", "greedy"): (1, 0), ("astar", "greedy"): (3, 1), ("astar", "bon"): (2, 1)}
    with pytest.raises(QstarError, match="names none of the runs"):
        paired.compare_all(load_runs([g, s]), baseline=["greedy", "nothing"])


def test_repeats_over_qvm_seeds_give_mean_and_spread(tmp_path):

    def with_qvm(path, correct, qvm):
        return eval_run(path, "astar", correct, tokens=30, qvm=qvm)

    a0 = with_qvm(tmp_path / "a0", [True, False, False, False], "runs/qvm")
    a1 = with_qvm(tmp_path / "a1", [True, True, True, False], "runs/qvm-seed1")
    a2 = with_qvm(tmp_path / "a2", [True, True, False, False], "runs/qvm-seed2")
    g = eval_run(tmp_path / "g", "greedy", [True, False, False, False])
    text = report.run([g, a0, a1, a2], pair=False)
    # accuracies 25%, 75%, 50%: mean 50%, spread 25-75; greedy has no repeat
    assert "| A* K=6 N=6 budget=64 | mawps | 3 (a0, a1, a2) | 50.0% | 25.0 - 75.0 | 30 |" in text
    assert "greedy | mawps | 1" not in text


def test_paired_test_refuses_different_questions(tmp_path):
    g = eval_run(tmp_path / "g", "greedy", [True, False], ids=["q0", "q1"])
    s = eval_run(tmp_path / "s", "astar", [True, False], ids=["q0", "q9"])
    with pytest.raises(QstarError, match="different questions .*1 in common"):
        report.run([g, s])
    assert "Paired" not in report.run([g, s], pair=False)


def test_runs_on_other_datasets_are_not_paired(tmp_path):
    g = eval_run(tmp_path / "g", "greedy", [True, False])
    v = eval_run(tmp_path / "v", "greedy", [True, True], dataset="svamp")
    out = tmp_path / "rep"
    report.run([g, v], str(out))
    md = (out / "report.md").read_text()
    assert "Paired tests" not in md and "g has no other run on mawps/test" in md


def test_bad_input(tmp_path):
    with pytest.raises(QstarError, match="at least one"):
        report.run([])
    with pytest.raises(QstarError, match="not found"):
        report.run([str(tmp_path / "nope")])
    run = RunDir.open(
        tmp_path / "x",
        stage=STAGE,
        kind="predictions",
        records_name=RECORDS,
        config={},
        inputs={},
        expected_ids=[],
        total_questions=0,
        seeds={},
    )
    run.close()
    with pytest.raises(QstarError, match="not complete"):
        report.run([str(tmp_path / "x")])
    g = eval_run(tmp_path / "g", "greedy", [True])
    with pytest.raises(QstarError, match="given twice"):
        report.run([g, g])
    with pytest.raises(QstarError, match="--baseline 'beam' names none"):
        report.run([g], baseline="beam")
    with pytest.raises(QstarError, match="add --out"):
        report.run([g], tree_ids=["q0"])
    with pytest.raises(QstarError, match="no run has saved search trees"):
        report.run([g], str(tmp_path / "r"), tree_ids=["q0"])


def test_files_plot_html_and_trees(tmp_path):
    g = eval_run(tmp_path / "greedy", "greedy", [False, True, False])
    s = eval_run(tmp_path / "astar", "astar", [True, True, False], tokens=300, trees_for=("q0", "q2"))
    out = tmp_path / "rep"
    report.run([g, s], str(out))
    md = (out / "report.md").read_text()
    assert md.startswith("# qstar report") and "![accuracy vs tokens](accuracy_vs_tokens.png)" in md
    assert "[astar: q0 (correct, 5 nodes)](trees/astar/q0.html)" in md  # default: the first saved tree only
    assert not (out / "trees" / "astar" / "q2.html").exists()
    assert (out / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot = ET.parse(out / "accuracy_vs_tokens.svg").getroot()
    texts = "".join(plot.itertext())
    assert "greedy" in texts and "A*" in texts and "mawps/test" in texts and "generated tokens per question" in texts
    assert "astar" not in texts  # one run per method: the legend names them, no point labels
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<style>" in page
    assert "<script" not in page and "src=" not in page and 'href="http' not in page  # self-contained
    assert "<metadata>" not in page and "purl.org" not in page
    assert "| astar | greedy | 3 |" in md and "<td>astar</td><td>greedy</td>" in page

    svg = (out / "trees" / "astar" / "q0.svg").read_text()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(ns + "title")]
    assert any("Tom has 3 apples and buys 4 more apples at the shop." in t for t in titles)  # full text on hover
    assert any("terminal, incorrect" in t and "The answer is <12>" in t for t in titles)
    shown = [t.text for t in root.iter(ns + "text")]
    assert "Tom has 3 apples and buys 4 more …" in shown  # cut to fit the box
    assert "The answer is 7 ✓" in shown and "The answer is <12> ✗" in shown
    assert "f 0.900  g 0.000  h 0.900" in shown
    chosen = [r for r in root.iter(ns + "rect") if r.get("stroke") == trees.ORANGE and r.get("stroke-width") == "3"]
    assert len(chosen) == 1 + 3  # the legend's sample and the three nodes on the chosen path
    assert "q0" in (out / "trees" / "astar" / "q0.html").read_text()

    # two A* runs on one dataset: their points carry their run names
    s2 = eval_run(tmp_path / "astar-2", "astar", [True, False, False], tokens=500)
    report.run([g, s, s2], str(tmp_path / "two"), pair=False)
    texts = "".join(ET.parse(tmp_path / "two" / "accuracy_vs_tokens.svg").getroot().itertext())
    assert "astar" in texts and "astar-2" in texts and "greedy" in texts

    report.run([g, s], str(tmp_path / "all"), tree_ids=["all"])
    assert sorted(p.name for p in (tmp_path / "all" / "trees" / "astar").glob("*.html")) == ["q0.html", "q2.html"]
    with pytest.raises(QstarError, match="'q1' has no saved search tree in greedy, astar"):
        report.run([g, s], str(tmp_path / "x"), tree_ids=["q1"])
    with pytest.raises(QstarError, match="no run has a question with id 'q7'"):
        report.run([g, s], str(tmp_path / "x"), tree_ids=["q7"])


def test_tree_layout_centres_parents():
    pos = trees.layout(TREE)
    # leaves in depth-first order: a1, a2, b; a sits between its children, the root between a and b
    assert pos[3] == (2, 0) and pos[4] == (2, 1) and pos[2] == (1, 2)
    assert pos[1] == (1, 0.5) and pos[0] == (0, 1.25)


def test_metrics_json_alone_is_enough(tmp_path):
    """Runs recorded before metrics.json carried the descriptive fields fall back to config.yaml."""
    s = eval_run(tmp_path / "old", "astar", [True, False])
    m = json.loads((tmp_path / "old" / "metrics.json").read_text())
    for key in ("search", "dataset_name", "split", "model", "settings", "qvm", "qvm_backbone"):
        m.pop(key)
    (tmp_path / "old" / "metrics.json").write_text(json.dumps(m))
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text())
    del manifest["metrics_sha256"]  # such runs recorded no checksum of their metrics either
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest))
    text = report.run([s], pair=False)
    assert "| old | A* K=6 N=6 budget=64 | mawps | test | embedded | - | 2 | 50.0% [" in text


def test_eval_and_collect_record_what_a_report_shows():
    from qstar_cli.config import CollectConfig
    from qstar_cli.stages import collect
    from qstar_cli.stages.eval import describe

    config = resolve(
        EvalConfig,
        None,
        ["eval.search=beam", "eval.k=3", "data.name=svamp", "data.offset=100", "policy.backend=hf", "data.num_shots=4"],
        {},
    )
    d = describe(config, None)
    assert (d["search"], d["dataset"], d["dataset_name"], d["split"], d["offset"], d["num_shots"]) == (
        "beam",
        "svamp/test",
        "svamp",
        "test",
        100,
        4,
    )
    assert (d["model"], d["backend"], d["qvm"], d["qvm_backbone"]) == ("embedded", "hf", None, None)
    # exactly the keys beam reads (sections.SEARCH_KEYS), with their values
    assert d["settings"] == {
        "k": 3,
        "width": 4,
        "temperature": config.eval.temperature,
        "max_depth": 32,
        "answer": "best_f",
        "qvm": None,
    }
    c = collect.describe(resolve(CollectConfig, None, ["policy.backend=hf", "collect.num_rollouts=3"], {}))
    assert (c["dataset"], c["backend"], c["num_rollouts"], c["model"]) == ("gsm8k/train", "hf", 3, "embedded")


def test_plot_labels_only_points_the_legend_cannot_tell_apart(tmp_path):
    from qstar_cli.report.plots import _needs_label

    g = eval_run(tmp_path / "g", "greedy", [True, False], tokens=10)
    sc = eval_run(tmp_path / "sc", "self_consistency", [False, True], tokens=100)
    bon = eval_run(tmp_path / "bon", "best_of_n", [True, False], tokens=101)  # on top of sc
    s1 = eval_run(tmp_path / "s1", "astar", [True, True], tokens=300)
    s2 = eval_run(tmp_path / "s2", "astar", [False, False], tokens=600)  # a second A* run
    runs = load_runs([g, sc, bon, s1, s2])
    assert _needs_label(runs) == {1: 0, 2: 1, 3: 0, 4: 0}  # sc and bon stacked; both A*s; not greedy


def qvm_run(path, heldout):
    """A train-q run folder as report reads it: its manifest's stage and its metrics."""
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"stage": "train-q", "complete": True}))
    (path / "metrics.json").write_text(json.dumps({"train_questions": 40, "train_examples": 400, "heldout": heldout}))
    return str(path)


@pytest.mark.parametrize(
    "ci, verdict",
    [
        ([0.65, 0.80], "it ranks better than chance and than the free scores"),
        ([0.60, 0.80], "it ranks better than chance, but not clearly better than the free scores"),
        ([0.45, 0.80], "its interval includes chance: not clearly better than a coin"),
    ],
)
def test_the_report_says_in_plain_words_what_its_numbers_say(tmp_path, ci, verdict):
    qvm = qvm_run(
        tmp_path / "qvm",
        {
            "roc_auc": 0.71,
            "roc_auc_ci95": ci,
            "questions": 20,
            "baseline_position_auc": 0.55,
            "baseline_logprob_auc": 0.62,
        },
    )
    g = eval_run(tmp_path / "g", "greedy", [True, False, False, False], tokens=10)
    a = eval_run(tmp_path / "a", "astar", [True, True, False, False], tokens=40, qvm=qvm)
    text = report.run([g, a], out=str(tmp_path / "report"))
    words = text.split("## In plain words\n\n")[1]
    assert (
        f"The QVM {tmp_path.name}/qvm (minilm) ranks held-out steps (of 20 questions it did not train on) "
        f"with ROC-AUC 0.71 [{ci[0]:.2f}, {ci[1]:.2f}] (0.5 is chance); free scores give 0.55 (the step's depth) "
        f"and 0.62 (the policy's log-prob of the step): {verdict}."
    ) in words
    # 50% against 25% on 4 questions: one question solved by A* alone, so McNemar's exact p is 1
    assert re.search(
        r"A\* K=6 N=6 budget=64 \(50\.0%, 40 tokens per question\) against greedy \(25\.0%, 10 tokens\): "
        r"\+25\.0 points \[[-+]\d+\.\d, [-+]\d+\.\d\] on 4 questions, not significant \(McNemar p = 1\)\.",
        words,
    ), words
    assert "In plain words" in (tmp_path / "report" / "report.html").read_text()
