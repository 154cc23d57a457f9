"""`qstar report RUN_DIR...`: compare eval runs, test their differences, draw them.

Prints the comparison table (method, dataset, split, model, QVM, accuracy with its 95% CI, tokens,
policy and QVM calls per question, wall time), the paired tests of every run against its
dataset's baseline, each run's accuracy under the three ways of choosing among its terminals
(best-scored, majority vote, weighted vote), each self-consistency or best-of-N run's accuracy at
n = 1, 2, 4, ..., N samples from its one pool of N (`report.scaling`), and what they say in plain
words (`report.plain`).
With `--out DIR` it also writes DIR/report.md, a self-contained
DIR/report.html, the accuracy-vs-tokens plot (DIR/accuracy_vs_tokens.png and .svg) and search-tree
views (DIR/trees/RUN/QUESTION.html and .svg): for the questions named by `--tree` (or every one,
`--tree all`), else for the first question with a saved tree in each run. Every number comes from
what `qstar eval` recorded; nothing is recomputed from logs.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import NamedTuple

from qstar_cli import ui
from qstar_cli.errors import QstarError
from qstar_cli.report import html, paired, plain, plots, scaling, tables, threshold, trees
from qstar_cli.report.runs import load_runs

PLOT = "accuracy_vs_tokens"
THRESHOLD_PLOT = "accuracy_vs_heuristic_auc"
PAIRED_NOTE = (
    "Paired tests: each run against its dataset's baseline (the first run given, or --baseline) on the "
    "same questions. Δ is the run's accuracy minus the baseline's with a 95% paired-bootstrap CI over "
    "questions; McNemar's exact test uses the questions only one of the two solved."
)
QVM_NOTE = (
    "\nFrom each QVM's train-q run: ROC-AUC of its score for y >= 0.5 on questions it did not train on, with a "
    "by-question bootstrap CI, beside two free scores it must beat (the step's depth; the policy's mean token "
    "log-prob of the step). Within-question AUC compares only steps of one question (what A*'s open set does; "
    "the log-prob baseline's in brackets), sibling AUC only the steps taken from one state, final-step AUC "
    "only a question's final steps. The runs' terminal "
    "AUC asks the same of the search's final score: does it rank a question's correct terminals above its "
    "wrong ones?\n"
)
CHOICE_NOTE = (
    "\nAnswer choice: each run's accuracy had it answered, from the same recorded terminals, with its "
    "best-scored terminal, the answer most terminals reach, or the answer whose terminals' scores sum "
    "highest (a score below zero adds nothing), with 95% bootstrap CIs; finished terminals count before "
    "cut-off ones. pass@terminals, a question with any right terminal, is the ceiling of every choice.\n"
)
THRESHOLD_NOTE = (
    "\nWhen does the search pay: each guided search (A*, beam, best-of-N reranking) run with several "
    "heuristics is a curve of accuracy against its terminal AUC, the within-question ROC-AUC of the score "
    "it answers by over the terminals it reached (the search's own final states). The threshold is the "
    "terminal AUC below which the curve, followed from its best-ranking point down, falls under the "
    "reference's accuracy (linear between points; > or < the curve's range where it never crosses), with "
    "a 95% bootstrap CI over questions, every run resampled together. Oracle rows read the reference "
    "answers: upper bounds, not methods.\n"
)
SCALING_NOTE = (
    "\nScaling from one sample pool: a self-consistency or best-of-N run drew N samples per question; its "
    "accuracy at n samples is the expectation over every n of them (the best-scored sample by order "
    "statistics; a vote over every subset, or 1,000 seeded random subsets where there are more), chosen "
    "by the run's own rule, per question, then averaged, with 95% bootstrap CIs over questions. tokens/q "
    "is n times each question's mean tokens per sample. At n = N it is the run's own accuracy.\n"
)
THRESHOLD_SECTION = "When does the search pay?"  # its HTML shows the threshold plot under its tables


class _Section(NamedTuple):
    """A section of the report after the runs and the paired tests, in markdown, HTML and on the
    terminal alike: its title, its tables (each as its title on the terminal, header and rows) and
    the note under them. A section whose tables have no rows is left out."""

    title: str
    tables: list[tuple[str, tuple[str, ...], list[list[str]]]]
    note: str = ""

    @property
    def shown(self) -> bool:
        return any(rows for _, _, rows in self.tables)


def run(
    run_dirs: list[str],
    out: str | None = None,
    baseline: str | list[str] | None = None,
    pair: bool = True,
    tree_ids: list[str] | None = None,
    resamples: int = 1000,
) -> str:
    """Print the tables, write the files when `out` is given; returns the markdown."""
    if tree_ids and not out:
        raise QstarError("--tree writes tree views into the report folder: add --out DIR")
    runs = load_runs(run_dirs)
    pairs = paired.compare_all(runs, baseline, resamples) if pair else []
    comparison = tables.comparison_rows(runs)
    paired_rows = tables.paired_rows(pairs)
    qvm_rows = tables.qvm_rows(runs)
    repeat_rows = tables.repeat_rows(runs)
    choice_rows = tables.answer_choice_rows(runs, resamples)
    curves = [(r, points) for r in runs if (points := scaling.curve(r, resamples))]
    scaling_rows = tables.scaling_rows(curves)
    found = threshold.thresholds(runs, baseline, resamples) if pair else []
    sections = [
        _Section("Repeats over QVMs", [("repeats over QVMs", tables.REPEATS, repeat_rows)]),
        _Section("Answer choice", [("answer choice", tables.ANSWER_CHOICE, choice_rows)], CHOICE_NOTE),
        _Section(
            "Scaling from one sample pool",
            [("scaling from one sample pool", tables.SCALING, scaling_rows)],
            SCALING_NOTE,
        ),
        _Section(
            THRESHOLD_SECTION,
            [
                ("threshold curves", tables.CURVE, tables.curve_rows(found)),
                ("thresholds", tables.THRESHOLDS, tables.threshold_rows(found)),
            ],
            THRESHOLD_NOTE,
        ),
        _Section("Q-value models", [("Q-value models", tables.QVMS, qvm_rows)], QVM_NOTE),
    ]
    text = "## Runs\n\n" + tables.markdown_table(tables.COMPARISON, comparison)
    if paired_rows:
        text += "\n## Paired tests\n\n" + tables.markdown_table(tables.PAIRED, paired_rows)
    for section in sections:
        if section.shown:
            text += f"\n## {section.title}\n\n"
            text += "\n".join(tables.markdown_table(header, rows) for _, header, rows in section.tables) + section.note
    words = plain.sentences(runs, pairs, found)
    if words:
        text += "\n## In plain words\n\n" + "".join(f"- {s}\n" for s in words)
    notes = _unpaired_notes(runs, pairs) if pair else []
    _print(comparison, paired_rows, sections, words, text)
    if out:
        _write(Path(out), runs, comparison, paired_rows, sections, words, notes, text, tree_ids, curves, found)
    return text


def _unpaired_notes(runs, pairs) -> list[str]:
    compared = {id(p.run) for p in pairs} | {id(p.baseline) for p in pairs}
    return [
        f"{r.name} has no other run on {r.data_label}/{r.split} to be paired with."
        for r in runs
        if id(r) not in compared and len(runs) > 1
    ]


def _print(comparison, paired_rows, sections: list[_Section], words, text: str) -> None:
    if not ui.out.is_terminal:  # piped or CI: the markdown itself, unwrapped
        ui.out.print(text, end="", highlight=False, soft_wrap=True)
        return
    from rich.table import Table

    for title, (header, rows) in {
        "qstar report": (tables.COMPARISON, comparison),
        "paired tests": (tables.PAIRED, paired_rows),
        **{title: (header, rows) for section in sections for title, header, rows in section.tables},
    }.items():
        if not rows:
            continue
        t = Table(title=title, header_style="bold")
        for col in header:
            t.add_column(col, justify="left" if col in tables.TEXT_COLUMNS else "right")
        for row in rows:
            t.add_row(*row)
        ui.out.print(t)
    if words:
        ui.out.print("[bold]In plain words[/bold]")
        for sentence in words:
            ui.out.print(f"- {sentence}", highlight=False)


def _write(
    out: Path, runs, comparison, paired_rows, sections: list[_Section], words, notes, text: str, tree_ids, curves, found
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QstarError(f"cannot create the report folder {out}: {exc.strerror}") from None
    chosen = trees.select(runs, tree_ids)  # before writing anything: a bad --tree fails cleanly
    png, svg = plots.accuracy_vs_tokens(
        runs,
        out / PLOT,
        {
            id(r): [(p.tokens, p.accuracy[scaling.own_rule(r)], p.ci[scaling.own_rule(r)]) for p in points]
            for r, points in curves
            if all(scaling.own_rule(r) in p.accuracy for p in points)
        },
    )
    links = []
    for run, record in chosen:
        folder = out / "trees" / _safe(run.name)
        folder.mkdir(parents=True, exist_ok=True)
        tree = trees.tree_svg(record)
        stem = folder / _safe(record["id"])
        stem.with_suffix(".svg").write_text(tree, encoding="utf-8")
        stem.with_suffix(".html").write_text(html.tree_page(run.name, run.method, record, tree), encoding="utf-8")
        links.append(
            (
                f"{run.name}: {record['id']} ({'correct' if record['correct'] else 'incorrect'}, "
                f"{len(record['tree'])} nodes)",
                stem.with_suffix(".html").relative_to(out).as_posix(),
            )
        )
    markdown = "# qstar report\n\n" + text
    markdown += "".join(f"\n{n}\n" for n in ([PAIRED_NOTE] if paired_rows else []) + notes)
    markdown += f"\n## Accuracy vs. generated tokens\n\n![accuracy vs tokens]({png.name})\n"
    figures = {}  # section title -> the HTML of the plot under its tables
    if found:
        threshold_png, threshold_svg = plots.accuracy_vs_auc(list(found), out / THRESHOLD_PLOT)
        markdown += f"\n## Accuracy vs. heuristic quality\n\n![accuracy vs terminal AUC]({threshold_png.name})\n"
        figures[THRESHOLD_SECTION] = plots.inline_svg(threshold_svg)
    if links:
        markdown += "\n## Search trees\n\n" + "".join(f"- [{label}]({href})\n" for label, href in links)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(
        html.report_page(
            html.table(tables.COMPARISON, comparison),
            html.table(tables.PAIRED, paired_rows) if paired_rows else "",
            ([PAIRED_NOTE] if paired_rows else []) + notes,
            plots.inline_svg(svg),
            links,
            [],
            extra=(
                ("<h2>In plain words</h2><ul>" + "".join(f"<li>{escape(w)}</li>" for w in words) + "</ul>")
                if words
                else ""
            )
            + "".join(_html_section(section, figures.get(section.title, "")) for section in sections if section.shown),
        ),
        encoding="utf-8",
    )
    ui.info(
        f"wrote {out / 'report.md'}, {out / 'report.html'}, {png.name}, {svg.name}"
        + (f" and {len(links)} tree views" if links else "")
    )


def _html_section(section: _Section, figure: str) -> str:
    """A section's HTML: its title, its tables, then `figure` (a plot drawn for it) and its note."""
    note = f'<p class="note">{section.note.strip()}</p>' if section.note else ""
    return (
        f"<h2>{section.title}</h2>"
        + "".join(html.table(header, rows) for _, header, rows in section.tables)
        + figure
        + note
    )


def _safe(name: str) -> str:
    """A file name from a run name or question id (which may hold slashes)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"
