"""The report's tables as rows of text: the run comparison and the paired tests.

One function builds each table's header and rows; markdown, the terminal (rich) and HTML render
the same rows, so the three outputs never disagree.
"""

from __future__ import annotations

from qstar_cli.report.paired import Paired
from qstar_cli.report.runs import EvalRun
from qstar_cli.search.answers import choose, group_answers
from qstar_cli.stats import bootstrap_ci

COMPARISON = (
    "run",
    "method",
    "dataset",
    "split",
    "model",
    "QVM",
    "questions",
    "accuracy (95% CI)",
    "strict (95% CI)",
    "tokens/q",
    "policy calls/q",
    "QVM calls/q",
    "terminal AUC",
    "wall s",
)
# the QVMs behind the runs, from their train-q metrics: does f rank steps, and better than what is free?
QVMS = (
    "QVM",
    "train questions (examples)",
    "held-out questions (examples)",
    "held-out ROC-AUC (95% CI)",
    "depth baseline",
    "log-prob baseline",
    "within-question AUC (log-prob)",
    "sibling AUC",
    "final-step AUC",
    "ROC-AUC at depth 0 / 1 / 2 / 3",
    "calibration error",
    "held-out share positive",
)
PAIRED = (
    "run",
    "baseline",
    "questions",
    "Δ accuracy (95% paired-bootstrap CI)",
    "only run / only baseline",
    "McNemar p",
)
# runs of one method with the same settings on the same questions but other QVMs (e.g. QVM seeds)
REPEATS = ("method", "dataset", "runs (QVMs)", "mean accuracy", "min - max", "tokens/q (mean)")
# each way of choosing among a run's recorded terminals (eval.answer), and the ceiling: any terminal right
CHOICES = (("best_f", "best-scored"), ("vote", "majority vote"), ("weighted", "weighted vote"))
ANSWER_CHOICE = (
    "run",
    "method",
    "questions",
    *(f"{label} (95% CI)" for _, label in CHOICES),
    "pass@terminals (95% CI)",
)
# self-consistency and best-of-N at n samples, from one run's pool of N per question (report.scaling)
SCALING = ("run", "method", "n", "tokens/q", *(f"{label}@n (95% CI)" for _, label in CHOICES))
# a guided search's accuracy against its heuristic's terminal AUC, and where it beats a reference
# (report.threshold)
CURVE = (
    "method",
    "heuristic",
    "run",
    "terminal AUC (95% CI)",
    "accuracy (95% CI)",
    "curve's accuracy at its AUC",
    "pass@terminals",
    "tokens/q",
)
THRESHOLDS = (
    "method",
    "reference",
    "reference accuracy",
    "questions",
    "points on the curve",
    "threshold terminal AUC (95% CI)",
    "trained heuristics (terminal AUC)",
)
# columns rendered left-aligned; the rest are numbers
TEXT_COLUMNS = {
    *COMPARISON[: COMPARISON.index("QVM") + 1],  # run, method, dataset, split, model, QVM
    "baseline",
    "runs (QVMs)",
    "heuristic",
    "reference",
    "trained heuristics (terminal AUC)",
}


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def signed_pct(x: float) -> str:
    return f"{100 * x:+.1f}"


def with_ci(value: float | None, ci: list[float] | None, percent: bool = True) -> str:
    """ "41.0% [31.0, 51.0]" (or "0.81 [0.74, 0.88]" for a non-percentage); "-" for a metric the run
    did not record (strict accuracy before it existed)."""
    if value is None or ci is None:
        return "-"
    if not percent:
        return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return f"{pct(value)}% [{pct(ci[0])}, {pct(ci[1])}]"


def comparison_rows(runs: list[EvalRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        m = r.metrics
        rows.append(
            [
                r.name,
                r.method,
                r.data_label,
                r.split,
                r.model,
                r.qvm,
                str(m["questions"]),
                with_ci(m["accuracy"], m["accuracy_ci95"]),
                with_ci(m.get("accuracy_strict"), m.get("accuracy_strict_ci95")),
                f"{m['tokens_per_question']:.0f}",
                f"{m.get('policy_calls_per_question', 0):.1f}",
                f"{m.get('qvm_calls_per_question', 0):.1f}",
                num(m.get("terminal_auc"), 2),
                f"{m.get('wall_seconds', 0):.0f}",
            ]
        )
    return rows


def repeat_rows(runs: list[EvalRun]) -> list[list[str]]:
    """Mean and spread of accuracy over runs that differ only in their QVM (same method and
    settings, dataset, split, policy and questions): how much a result owes to one QVM's seed."""
    groups: dict[tuple, list[EvalRun]] = {}
    for r in runs:
        key = (r.method, r.data_label, r.split, r.model, tuple(sorted(r.correct_by_id())))
        groups.setdefault(key, []).append(r)
    rows = []
    for (method, data, _, _, _), group in groups.items():
        if len({r.qvm_path for r in group}) < 2:
            continue
        accs = [r.metrics["accuracy"] for r in group]
        tokens = [r.metrics["tokens_per_question"] for r in group]
        rows.append(
            [
                method,
                data,
                f"{len(group)} ({', '.join(r.name for r in group)})",
                f"{pct(sum(accs) / len(accs))}%",
                f"{pct(min(accs))} - {pct(max(accs))}",
                f"{sum(tokens) / len(tokens):.0f}",
            ]
        )
    return rows


def answer_choice_rows(runs: list[EvalRun], resamples: int = 1000) -> list[list[str]]:
    """Each run's accuracy had it answered with its best-scored terminal, the majority answer or the
    weighted vote over its terminals, all three from the same recorded terminals by the rule the
    searches use (`search.answers.choose`), with 95% bootstrap CIs; pass@terminals is the ceiling.
    Runs that never found two terminals for a question (greedy) have nothing to choose from."""
    rows = []
    for r in runs:
        records = r.records
        if not any(len(rec["terminals"]) > 1 for rec in records):
            continue
        right: dict[str, list[float]] = {how: [] for how, _ in CHOICES}
        for rec in records:
            ts = rec["terminals"]
            scores, groups = [t["score"] for t in ts], recorded_groups(ts)
            finished = [t.get("finish", "eos") == "eos" for t in ts]
            for how, _ in CHOICES:
                i = choose(scores, finished, groups, how)
                right[how].append(float(i is not None and bool(ts[i]["correct"])))
        ceiling = [float(any(t["correct"] for t in rec["terminals"])) for rec in records]
        rows.append(
            [r.name, r.method, str(len(records))]
            + [with_ci(sum(v) / len(v), list(bootstrap_ci(v, resamples))) for v in [*right.values(), ceiling]]
        )
    return rows


def scaling_rows(curves: list[tuple[EvalRun, list]]) -> list[list[str]]:
    """One row per (run, n) of each run's scaling curve (`report.scaling.curve`); "-" for a choice
    its pool cannot measure (self-consistency's samples carry no reranker score)."""
    rows = []
    for run, points in curves:
        for p in points:
            rows.append(
                [run.name, run.method, str(p.n), f"{p.tokens:.0f}"]
                + [with_ci(p.accuracy.get(how), p.ci.get(how)) for how, _ in CHOICES]
            )
    return rows


def curve_rows(found: list) -> list[list[str]]:
    """The points of each threshold curve (`report.threshold`), once per curve, by terminal AUC."""
    rows, seen = [], set()
    for t in found:
        for p in t.points:
            if id(p.run) not in seen:
                seen.add(id(p.run))
                m = p.run.metrics
                curve = "on it" if p.on_curve else ("-" if p.expected is None else f"{pct(p.expected)}%")
                rows.append(
                    [
                        t.curve,
                        p.run.qvm,
                        p.run.name,
                        with_ci(p.auc, list(p.auc_ci), percent=False),
                        with_ci(m["accuracy"], m["accuracy_ci95"]),
                        curve,
                        f"{pct(m.get('pass_at_terminals', 0))}%",
                        f"{m['tokens_per_question']:.0f}",
                    ]
                )
    return rows


def threshold_rows(found: list) -> list[list[str]]:
    rows = []
    for t in found:
        ref = t.reference.metrics
        ci = f"[{t.show(t.ci[0])}, {t.show(t.ci[1])}]" if t.resamples else ""
        trained = [f"{p.run.qvm} {p.auc:.2f}" for p in t.points if p.run.oracle is None]
        rows.append(
            [
                t.curve,
                f"{t.reference.method} ({t.reference.name})",
                pct(ref["accuracy"]),
                str(len(t.reference.records)),
                str(sum(p.on_curve for p in t.points)),
                f"{t.show(t.value)} {ci}".strip(),
                "; ".join(trained) or "-",
            ]
        )
    return rows


def recorded_groups(terminals: list[dict]) -> list[int | None]:
    """Each recorded terminal's answer group: as `qstar eval` recorded it (the grader's equivalence),
    or, in records written before it kept groups, by the answer as written."""
    if all("group" in t for t in terminals):
        return [t["group"] for t in terminals]
    return group_answers([t.get("answer") for t in terminals], lambda a, b: False)


def qvm_rows(runs: list[EvalRun]) -> list[list[str]]:
    """One row per distinct QVM the runs used whose train-q run is still on disk."""
    from qstar_cli.report.runs import qvm_training
    from qstar_cli.value.metrics import calibration_error

    rows, seen = [], set()
    for r in runs:
        path = r.qvm_path
        if not path or path in seen:
            continue
        seen.add(path)
        m = qvm_training(path)
        if m is None:
            continue
        held = m.get("heldout", {})
        auc, ci = held.get("roc_auc"), held.get("roc_auc_ci95")
        shown = (
            num(auc)
            + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
            + (" (too small)" if held.get("too_small") else "")
        )
        by_depth = {str(d["depth"]): d["roc_auc"] for d in held.get("auc_by_depth") or []}
        rows.append(
            [
                r.qvm,
                f"{m['train_questions']} ({m['train_examples']:,})",
                f"{held.get('questions', 0)} ({held.get('examples', 0):,})",
                shown,
                num(held.get("baseline_position_auc")),
                num(held.get("baseline_logprob_auc")),
                f"{num(held.get('within_question_auc'))} ({num(held.get('baseline_logprob_within_question_auc'))})",
                num(held.get("sibling_auc")),
                num(held.get("final_step_auc")),
                " / ".join(num(by_depth.get(k), 2) for k in ("0", "1", "2", "3")),
                num(calibration_error(held.get("calibration") or [])),
                num(held.get("positive_rate")),
            ]
        )
    return rows


def paired_rows(pairs: list[Paired]) -> list[list[str]]:
    rows = []
    for p in pairs:
        lo, hi = p.delta_ci95
        rows.append(
            [
                p.run.name,
                p.baseline.name,
                str(p.questions),
                f"{signed_pct(p.delta)} pts [{signed_pct(lo)}, {signed_pct(hi)}]",
                f"{p.wins} / {p.losses}",
                f"{p.p_mcnemar:.3g}",
            ]
        )
    return rows


def markdown_table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    align = ["---" if h in TEXT_COLUMNS else "--:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
