"""Self-contained HTML pages: the report and one page per search tree.

Each page carries its CSS and pictures inline (the plot and the trees as SVG markup), loads
nothing from the network and runs no script, so it can be mailed, archived or opened offline.
"""

from __future__ import annotations

from html import escape

from qstar_cli.report.tables import TEXT_COLUMNS

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #111827; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d1d5db; padding: 0.3rem 0.55rem; }
th { background: #f3f4f6; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note, li.note { color: #4b5563; font-size: 0.85rem; } .figure { max-width: 900px; }
.figure svg { width: 100%; height: auto; } .tree { overflow: auto; border: 1px solid #e5e7eb; }
code { background: #f3f4f6; padding: 0 0.2rem; }
"""


def table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{'' if h in TEXT_COLUMNS else ' class=num'}>{escape(c)}</td>" for h, c in zip(header, row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def report_page(
    comparison: str,
    paired: str,
    paired_notes: list[str],
    plot_svg: str,
    tree_links: list[tuple[str, str]],
    notes: list[str],
    extra: str = "",
) -> str:
    parts = [
        "<h1>qstar report</h1>",
        "<h2>Runs</h2>",
        comparison,
        '<p class="note">Accuracy CIs are the 95% bootstrap intervals recorded by <code>qstar eval</code>; '
        "tokens, calls and wall time are per question as recorded.</p>",
        "<h2>Paired tests</h2>",
        paired or "<p>No two runs on the same questions.</p>",
    ]
    parts += [f'<p class="note">{escape(n)}</p>' for n in paired_notes]
    if extra:  # more tables, already rendered with their headings
        parts.append(extra)
    parts += [
        "<h2>Accuracy vs. generated tokens</h2>",
        f'<div class="figure">{plot_svg}</div>',
        "<h2>Search trees</h2>",
    ]
    if tree_links:
        parts.append(
            "<ul>"
            + "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for label, href in tree_links)
            + "</ul>"
        )
    else:
        parts.append("<p>No run saved search trees (<code>qstar eval --trees</code> with A*, beam or MCTS).</p>")
    parts += [f'<p class="note">{escape(n)}</p>' for n in notes]
    return page("qstar report", "\n".join(parts))


def tree_page(run_name: str, method: str, record: dict, svg: str) -> str:
    verdict = "correct" if record.get("correct") else "incorrect"
    facts = [
        ("run", run_name),
        ("method", method),
        ("question id", record["id"]),
        ("reference", str(record.get("reference"))),
        ("answer", f"{record.get('answer')} ({verdict})"),
        ("nodes", str(len(record.get("tree") or []))),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    body = (
        f"<h1>Search tree: {escape(record['id'])} ({escape(run_name)})</h1>"
        f"<table>{rows}</table><p>{escape(record.get('question', ''))}</p>"
        f'<div class="tree">{svg}</div>'
    )
    return page(f"qstar tree {record['id']} {run_name}", body)
