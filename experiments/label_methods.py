"""The label-methods table: the same states labelled several ways, a QVM on each, A* with each.

    python experiments/label_methods.py --reference m4 --yardstick recipe=runs/cpu/mawps/labels \\
        --baseline runs/cpu/mawps/eval-greedy --out runs/cpu/mawps/label-methods/n128 \\
        m4=W/qvm-m4-128,W/astar-m4-128  m1=W/qvm-m1-128,W/astar-m1-128 ... \\
        full=runs/cpu/mawps/qvm,runs/cpu/mawps/eval-astar

Each NAME=QVM_RUN[,ASTAR_RUN] is a train-q run (its label runs are read from its config) and,
optionally, an A* eval run with that QVM. The tables show
  - the labels: (s, a) pairs, share positive (y >= 0.5), questions with a positive, and on the pairs
    both labelled, agreement with the REFERENCE's labels and its positives each method misses;
  - every QVM scored on each yardstick's held-out labels (the REFERENCE's, M = 4 continuations, the
    least noisy Monte-Carlo estimate of Q here, and each --yardstick's, e.g. the recipe's 161
    held-out questions: noisier labels, more questions; a yardstick is a row's NAME or
    NAME=LABEL_RUN[,LABEL_RUN...], label runs no QVM needs to be trained on), pooled and within a question, and its
    difference from the REFERENCE's QVM on the same states, paired by question (95% bootstrap);
  - each QVM's held-out AUC on its own labels (train-q's metrics.json), and A*'s accuracy with it
    with a paired test (bootstrap CI of the difference, exact McNemar) against the --baseline eval
    run, on the questions every A* run answered (stated in the table).
Every QVM must come from the same train.seed and heldout_fraction, so they hold out the same questions
(the split hashes each question id: a QVM over more questions, as the recipe's, holds out these too).
Writes OUT/label_methods.json and OUT/label_methods.md; experiments/label_methods.sh (make
label-methods) runs it last. Its tables: docs/results/mawps.md, "Label methods side by side".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from qstar_cli.errors import QstarError
from qstar_cli.report.paired import paired_stats
from qstar_cli.report.runs import load_run
from qstar_cli.stages.train_q import label_sources
from qstar_cli.stats import bootstrap_ci
from qstar_cli.value.fit import examples_from_records
from qstar_cli.value.metrics import auc_ci, grouped_auc, paired_auc_delta, roc_auc
from qstar_cli.value.model import QVM
from qstar_cli.value.train import split_by_question


def _train_config(run: Path) -> dict:
    path = run / "config.yaml"
    if not path.is_file() or not (run / "qvm").is_dir():
        raise QstarError(f"{run} is not a train-q run directory (no config.yaml and qvm/)")
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("train", {})


def _examples(train: dict) -> list:
    records, _ = label_sources(train["labels"], train.get("mixed_datasets", False))
    return examples_from_records(records)


def yardstick_specs(reference: str, specs: list[str], rows: list[str]) -> dict[str, list[str] | None]:
    """Each yardstick's label runs, by name: None for a row's NAME (its QVM's own labels), the runs of
    NAME=LABEL_RUN[,LABEL_RUN...]. The reference comes first and is a row: its QVM is the one paired with."""
    if reference not in rows:
        raise QstarError(f"--reference {reference!r} is none of {', '.join(rows)}")
    out: dict[str, list[str] | None] = {reference: None}
    for spec in specs:
        name, eq, runs = spec.partition("=")
        dirs = [d for d in runs.split(",") if d]
        if eq and not dirs:
            raise QstarError(f"--yardstick {spec!r}: give NAME or NAME=LABEL_RUN[,LABEL_RUN...]")
        if eq and name in rows:
            raise QstarError(f"--yardstick {name!r} is already a row's name: name its label runs otherwise")
        if not eq and name not in rows:
            raise QstarError(
                f"--yardstick {name!r} is none of {', '.join(rows)} (or give label runs: NAME=LABEL_RUN[,LABEL_RUN...])"
            )
        out.setdefault(name, dirs or None)
    return out


def _label_stats(examples: list) -> dict:
    ys = [e.y for e in examples]
    return {
        "questions": len({e.qid for e in examples}),
        "nodes": len(ys),
        "share_positive": sum(y >= 0.5 for y in ys) / len(ys),
        "mean_y": sum(ys) / len(ys),
        "questions_with_positive": len({e.qid for e in examples if e.y >= 0.5}),
    }


def _key(e) -> tuple:
    return e.qid, tuple(e.steps), e.action


def agreement(examples: list, reference: list) -> dict:
    """The two methods' labels (y >= 0.5) on the (state, action) pairs both labelled: the share that
    agree, the reference's positives this method calls negative, and the reverse."""
    ref = {_key(e): e.y >= 0.5 for e in reference}
    pairs = [(e.y >= 0.5, ref[_key(e)]) for e in examples if _key(e) in ref]
    if not pairs:
        return {"shared": 0, "agree": None, "reference_positives": 0, "missed": 0, "extra": 0}
    return {
        "shared": len(pairs),
        "agree": sum(a == b for a, b in pairs) / len(pairs),
        "reference_positives": sum(b for _, b in pairs),
        "missed": sum(b and not a for a, b in pairs),
        "extra": sum(a and not b for a, b in pairs),
    }


def _scored_against(qvm_run: Path, reference: list, baseline: list[float] | None) -> dict:
    """The QVM's held-out ROC-AUC on the reference's labels of these states, and (with `baseline`,
    the reference QVM's scores of the same states) its difference from the reference QVM's, paired
    by question: the same states and labels, only the scorer differs."""
    if not reference:  # a yardstick that holds out no question: nothing to score
        return {
            "roc_auc": None,
            "roc_auc_ci95": None,
            "within_question_auc": None,
            "questions": 0,
            "examples": 0,
            "delta_vs_reference_qvm": None,
            "delta_ci95": None,
            "scores": [],
        }
    qvm = QVM.load(qvm_run / "qvm")
    preds = qvm.score([(e.question, e.steps, e.action) for e in reference])
    positives = [e.y >= 0.5 for e in reference]
    qids = [e.qid for e in reference]
    ci = auc_ci(preds, positives, qids)
    within, _ = grouped_auc(preds, positives, qids)
    paired = paired_auc_delta(preds, baseline, positives, qids) if baseline is not None else None
    return {
        "roc_auc": roc_auc(preds, positives),
        "roc_auc_ci95": list(ci) if ci else None,
        "within_question_auc": within,
        "questions": len(set(qids)),
        "examples": len(reference),
        "delta_vs_reference_qvm": paired[0] if paired else None,
        "delta_ci95": list(paired[1]) if paired and paired[1] else None,
        "scores": preds,
    }


def _astar(run, baseline, ids: list[str]) -> dict:
    """A*'s accuracy on `ids` (the questions every A* run of the table answered) and a paired test
    against the baseline on them."""
    ours, theirs = run.correct_by_id(), baseline.correct_by_id()
    missing = [i for i in ids if i not in theirs]
    if missing:
        raise QstarError(
            f"the baseline {baseline.path} did not answer {len(missing)} of A*'s questions (e.g. {missing[0]})"
        )
    a, b = [float(ours[i]) for i in ids], [float(theirs[i]) for i in ids]
    delta, delta_ci, wins, losses, p = paired_stats(a, b)
    keep = set(ids)
    tokens = [r["usage"]["generated_tokens"] for r in run.records if r["id"] in keep]
    return {
        "run": str(run.path),
        "questions": len(ids),
        "accuracy": sum(a) / len(ids),
        "accuracy_ci95": list(bootstrap_ci(a)),
        "tokens_per_question": sum(tokens) / len(tokens),
        "baseline_accuracy_same_questions": sum(b) / len(ids),
        "delta": delta,
        "delta_ci95": list(delta_ci),
        "wins": wins,
        "losses": losses,
        "p_mcnemar": p,
    }


def _fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def _delta(x):
    return "–" if x is None else f"{x:+.3f}"


def _ci(c, digits=2):
    return "" if not c else f" [{c[0]:.{digits}f}, {c[1]:.{digits}f}]"


def markdown(rows: list[dict], reference: str, yardsticks: list[str], baseline: str) -> str:
    """The labels side by side on the same states; each QVM scored on each yardstick's held-out
    labels; each QVM's own held-out AUC and A* with it."""
    lines = [
        f"| labels | questions | (s, a) pairs | share positive | questions with a positive | "
        f"agree with {reference} (shared pairs) | {reference}'s positives missed | positives {reference} lacks |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lab, ag = r["labels"], r["agreement"]
        lines.append(
            f"| {r['name']} | {lab['questions']} | {lab['nodes']} | {lab['share_positive']:.1%} | "
            f"{lab['questions_with_positive']} | "
            + (
                "– | – | –"
                if ag["agree"] is None
                else f"{ag['agree']:.1%} ({ag['shared']}) | {ag['missed']} of {ag['reference_positives']} | "
                f"{ag['extra']}"
            )
            + " |"
        )
    for y in yardsticks:
        first = rows[0]["heldout_vs"][y]
        lines += [
            "",
            f"| QVM on | held-out AUC vs {y}'s labels ({first['questions']} q, {first['examples']} pairs) | "
            f"minus {reference}'s QVM (paired by question) | within a question |",
            "|---|--:|--:|--:|",
        ]
        for r in rows:
            v = r["heldout_vs"][y]
            lines.append(
                f"| {r['name']} | {_fmt(v['roc_auc'])}{_ci(v['roc_auc_ci95'])} | "
                f"{_delta(v['delta_vs_reference_qvm'])}{_ci(v['delta_ci95'])} | {_fmt(v['within_question_auc'])} |"
            )
    lines += [
        "",
        f"| QVM on | held-out AUC, own labels (questions) | A\\* accuracy | tokens/q | vs {baseline} (same q) | p |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        own, a = r["heldout_own"], r.get("astar")
        astar = (
            ("–",) * 4
            if a is None
            else (
                f"{a['accuracy']:.1%}{_ci([c * 100 for c in a['accuracy_ci95']], 1)} ({a['questions']} q)",
                f"{a['tokens_per_question']:.0f}",
                f"{a['delta'] * 100:+.1f}{_ci([c * 100 for c in a['delta_ci95']], 1)} "
                f"(greedy {a['baseline_accuracy_same_questions']:.1%})",
                f"{a['p_mcnemar']:.2f}",
            )
        )
        lines.append(
            f"| {r['name']} | {_fmt(own.get('roc_auc'))}{_ci(own.get('roc_auc_ci95'))} ({own.get('questions')}) | "
            + " | ".join(astar)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="+", help="NAME=QVM_RUN[,ASTAR_RUN]")
    parser.add_argument(
        "--reference",
        required=True,
        help="the NAME whose labels the others are compared with, and whose QVM every QVM is paired with",
    )
    parser.add_argument(
        "--yardstick",
        action="append",
        default=[],
        help="held-out labels every QVM is also scored on: a row's NAME, or NAME=LABEL_RUN[,LABEL_RUN...] "
        "(label runs; repeatable; the reference's labels always are)",
    )
    parser.add_argument("--baseline", required=True, help="an eval run (e.g. greedy) A* is paired with")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    methods = {}
    for item in args.methods:
        name, _, rest = item.partition("=")
        if not name or not rest:
            raise QstarError(f"{item!r}: give NAME=QVM_RUN[,ASTAR_RUN]")
        qvm_run, _, astar = rest.partition(",")
        methods[name] = (Path(qvm_run), astar or None)
    specs = yardstick_specs(args.reference, args.yardstick, list(methods))
    yardsticks = list(specs)
    configs = {name: _train_config(run) for name, (run, _) in methods.items()}
    # split_by_question hashes (seed, question id): one seed and one fraction hold out the same
    # questions in any question set, so every QVM here has never trained on any yardstick's
    # held-out states (a label run of 700 questions holds out these 128's held-out ones too)
    splits = {(c.get("seed", 0), c.get("heldout_fraction", 0.2)) for c in configs.values()}
    if len(splits) > 1:
        raise QstarError(
            f"the QVMs hold out different questions (train seed, heldout_fraction: {sorted(splits)}); "
            "train them with one seed and one fraction"
        )
    seed, fraction = splits.pop()
    baseline = load_run(args.baseline)
    astars = {name: load_run(a) for name, (_, a) in methods.items() if a}
    # every A* run on the same questions: those all of them answered (a run of 300 beside runs of 100)
    common = sorted(set.intersection(*(set(r.correct_by_id()) for r in astars.values()))) if astars else []
    examples = {name: _examples(configs[name]) for name in methods}
    held_out = {
        y: split_by_question(examples[y] if dirs is None else _examples({"labels": dirs}), fraction, seed)[1]
        for y, dirs in specs.items()
    }

    scored = {name: {} for name in methods}
    for y in yardsticks:
        states = held_out[y]
        # the reference QVM's scores of these states: every other QVM is paired with them
        ref = _scored_against(methods[args.reference][0], states, None)
        ref_scores = ref.pop("scores")
        for name, (run, _) in methods.items():
            scored[name][y] = ref if name == args.reference else _scored_against(run, states, ref_scores)
            scored[name][y].pop("scores", None)
        print(f"scored on {y}'s held-out labels", flush=True)
    rows = []
    for name, (run, astar) in methods.items():
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        rows.append(
            {
                "name": name,
                "qvm": str(run),
                "labels": _label_stats(examples[name]),
                "agreement": agreement(examples[name], examples[args.reference]),
                "heldout_own": {
                    k: metrics.get("heldout", {}).get(k)
                    for k in ("roc_auc", "roc_auc_ci95", "within_question_auc", "questions")
                },
                "heldout_vs": scored[name],
                "astar": _astar(astars[name], baseline, common) if astar else None,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_methods.json").write_text(
        json.dumps(
            {"reference": args.reference, "yardsticks": yardsticks, "baseline": str(baseline.path), "rows": rows},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    table = markdown(rows, args.reference, yardsticks, baseline.path.name)
    (args.out / "label_methods.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    try:
        main()
    except QstarError as exc:  # a bad argument or run folder: one line, no traceback
        raise SystemExit(f"error: {exc}") from None
