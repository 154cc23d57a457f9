"""The report's tables as rows of text: the run comparison and the paired tests.

One function builds each table's header and rows; markdown, the terminal (rich) and HTML render
the same rows, so the three outputs never disagree.
"""

from __future__ import annotations

from qstar_cli.report.paired import Paired
from qstar_cli.report.runs import EvalRun

COMPARISON = ("run", "method", "dataset", "split", "model", "QVM", "questions", "accuracy (95% CI)",
              "strict (95% CI)", "tokens/q", "policy calls/q", "QVM calls/q", "wall s")
PAIRED = ("run", "baseline", "questions", "Δ accuracy (95% paired-bootstrap CI)", "only run / only baseline",
          "McNemar p")
# columns rendered left-aligned; the rest are numbers
TEXT_COLUMNS = {"run", "method", "dataset", "split", "model", "QVM", "baseline"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def signed_pct(x: float) -> str:
    return f"{100 * x:+.1f}"


def with_ci(value: float | None, ci: list[float] | None) -> str:
    """"41.0% [31.0, 51.0]"; "-" for a metric the run did not record (strict accuracy before it existed)."""
    if value is None or ci is None:
        return "-"
    return f"{pct(value)}% [{pct(ci[0])}, {pct(ci[1])}]"


def comparison_rows(runs: list[EvalRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        m = r.metrics
        rows.append([r.name, r.method, r.data_label, r.split, r.model, r.qvm, str(m["questions"]),
                     with_ci(m["accuracy"], m["accuracy_ci95"]),
                     with_ci(m.get("accuracy_strict"), m.get("accuracy_strict_ci95")),
                     f"{m['tokens_per_question']:.0f}",
                     f"{m.get('policy_calls_per_question', 0):.1f}", f"{m.get('qvm_calls_per_question', 0):.1f}",
                     f"{m.get('wall_seconds', 0):.0f}"])
    return rows


def paired_rows(pairs: list[Paired]) -> list[list[str]]:
    rows = []
    for p in pairs:
        lo, hi = p.delta_ci95
        rows.append([p.run.name, p.baseline.name, str(p.questions),
                     f"{signed_pct(p.delta)} pts [{signed_pct(lo)}, {signed_pct(hi)}]",
                     f"{p.wins} / {p.losses}", f"{p.p_mcnemar:.3g}"])
    return rows


def markdown_table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    align = ["---" if h in TEXT_COLUMNS else "--:" for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
