"""Search-tree views: one question's tree (A*, beam or MCTS, saved by `qstar eval --trees`) as SVG.

The tree is laid out left to right: depth is the column, leaves take consecutive rows and a parent
sits midway between its first and last child. Each node is a box with its step text (cut to fit;
the full text, with every number, is the node's tooltip through an SVG <title>) and its numbers:
f, g, h for A* and beam, visits N and mean value Q for MCTS. The path to the chosen answer is drawn
thick and orange; terminal nodes are green (correct) or red (incorrect); open nodes that were
never expanded have a dashed border, and a finished solution the search generated but did not
return as one of its terminals (A* never popped it, MCTS never evaluated it) carries a ■. The SVG
is plain markup with no scripts or external references, so it renders anywhere, including inside
the self-contained HTML report.
"""

from __future__ import annotations

from html import escape

from qstar_cli.errors import QstarError
from qstar_cli.report.runs import EvalRun

BOX_W, BOX_H, COL, ROW, PAD, TOP = 250, 38, 290, 48, 16, 44
CHARS = 34  # step text characters that fit in a box at 11px monospace, with room to spare
ORANGE, GREEN, RED, GREY, INK = "#d97706", "#16a34a", "#dc2626", "#9ca3af", "#111827"


def select(runs: list[EvalRun], wanted: list[str] | None) -> list[tuple[EvalRun, dict]]:
    """(run, record) pairs to draw: the questions asked for, every one for "all", or by default the
    first question with a tree in each run that saved trees."""
    with_trees = [r for r in runs if any(rec.get("tree") for rec in r.records)]
    if wanted and not with_trees:
        raise QstarError("no run has saved search trees; rerun an A*, beam or MCTS eval with --trees")
    if not wanted:
        return [(r, next(rec for rec in r.records if rec.get("tree"))) for r in with_trees]
    if "all" in wanted:
        return [(r, rec) for r in with_trees for rec in r.records if rec.get("tree")]
    out = []
    for qid in wanted:
        found = [(r, rec) for r in runs for rec in r.records if rec["id"] == qid]
        if not found:
            raise QstarError(f"no run has a question with id {qid!r}")
        trees = [(r, rec) for r, rec in found if rec.get("tree")]
        if not trees:
            names = ", ".join(r.name for r, _ in found)
            raise QstarError(
                f"question {qid!r} has no saved search tree in {names}; rerun the eval (A*, beam or MCTS) with --trees"
            )
        out += trees
    return out


def layout(nodes: list[dict]) -> dict[int, tuple[int, float]]:
    """node id -> (depth, row): leaves in depth-first order, parents centred on their children."""
    children: dict[int, list[int]] = {}
    for n in nodes:
        if n["parent"] >= 0:
            children.setdefault(n["parent"], []).append(n["id"])
    pos: dict[int, tuple[int, float]] = {}
    next_row = 0.0
    # iterative post-order walk: deep trees must not hit Python's recursion limit
    stack: list[tuple[int, int, bool]] = [(nodes[0]["id"], 0, False)]
    while stack:
        node, depth, done = stack.pop()
        kids = children.get(node, [])
        if not kids:
            pos[node] = (depth, next_row)
            next_row += 1
        elif done:
            pos[node] = (depth, (pos[kids[0]][1] + pos[kids[-1]][1]) / 2)
        else:
            stack.append((node, depth, True))
            stack += [(k, depth + 1, False) for k in reversed(kids)]
    return pos


def numbers(node: dict) -> str:
    if "f" in node:
        return f"f {node['f']:.3f}  g {node['g']:.3f}  h {node['h']:.3f}"
    if "visits" in node:
        return f"N {node['visits']}  Q {node['value']:.3f}"
    return ""


def one_line(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, n: int = CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def tree_svg(record: dict) -> str:
    nodes = record.get("tree")
    if not nodes:
        raise QstarError(f"question {record.get('id')!r} has no saved search tree")
    pos = layout(nodes)
    depth = max(d for d, _ in pos.values())
    rows = max(r for _, r in pos.values()) + 1
    legend, legend_width = _legend()
    width = max(PAD * 2 + depth * COL + BOX_W, legend_width)
    height = TOP + PAD + int(rows * ROW)

    def xy(i: int) -> tuple[float, float]:
        d, r = pos[i]
        return PAD + d * COL, TOP + r * ROW

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    parts += legend
    for n in nodes[1:]:  # edges first, so boxes sit on top of them
        if n["id"] not in pos or n["parent"] not in pos:
            continue
        (px, py), (cx, cy) = xy(n["parent"]), xy(n["id"])
        x0, y0, x1, y1 = px + BOX_W, py + BOX_H / 2, cx, cy + BOX_H / 2
        chosen = n.get("chosen")
        parts.append(
            f'<path d="M{x0},{y0} C{(x0 + x1) / 2},{y0} {(x0 + x1) / 2},{y1} {x1},{y1}" fill="none" '
            f'stroke="{ORANGE if chosen else GREY}" stroke-width="{3 if chosen else 1}"/>'
        )
    for n in nodes:
        parts.append(_node(n, *xy(n["id"]), record))
    parts.append("</svg>")
    return "\n".join(parts)


def _node(n: dict, x: float, y: float, record: dict) -> str:
    root = n["parent"] < 0
    correct = n.get("correct")
    fill = "#eff6ff" if root else "#dcfce7" if correct is True else "#fee2e2" if correct is False else "#ffffff"
    stroke = ORANGE if n.get("chosen") else GREEN if correct is True else RED if correct is False else "#6b7280"
    width = 3 if n.get("chosen") else 1.5 if correct is not None else 1
    dash = ' stroke-dasharray="4 3"' if not root and not n.get("terminal") and not n.get("expanded") else ""
    mark = " ✓" if correct is True else " ✗" if correct is False else " ■" if n.get("terminal") else ""
    text = "Q: " + one_line(record.get("question", "")) if root else one_line(n.get("step", "")) or "(empty step)"
    status = (
        "terminal, correct"
        if correct is True
        else "terminal, incorrect"
        if correct is False
        else "terminal"
        if n.get("terminal")
        else "expanded"
        if n.get("expanded")
        else "open, never expanded"
    )
    title = (
        f"node {n['id']} ({status}{', on the chosen path' if n.get('chosen') else ''})\n"
        f"{numbers(n)}\n\n{record.get('question', '') if root else n.get('step', '')}"
    )
    first = cut(text, CHARS - len(mark)) + mark
    return (
        f"<g><title>{escape(title)}</title>"
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="{width}"{dash}/>'
        f'<text x="{x + 7}" y="{y + 15}" fill="{INK}">{escape(first)}</text>'
        f'<text x="{x + 7}" y="{y + 30}" fill="#4b5563" font-size="10">{escape(numbers(n))}</text></g>'
    )


def _legend() -> tuple[list[str], int]:
    """The legend's markup and the width it needs."""
    items = [
        ("#ffffff", ORANGE, 3, "", "chosen path"),
        ("#dcfce7", GREEN, 1.5, "", "terminal, correct ✓"),
        ("#fee2e2", RED, 1.5, "", "terminal, incorrect ✗"),
        ("#ffffff", "#6b7280", 1, "", "expanded"),
        ("#ffffff", "#6b7280", 1, ' stroke-dasharray="4 3"', "never expanded"),
        ("#ffffff", "#6b7280", 1, "", "■ solution not returned"),
    ]
    out, x = [], PAD
    for fill, stroke, width, dash, label in items:
        out.append(
            f'<rect x="{x}" y="12" width="18" height="14" rx="3" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"{dash}/><text x="{x + 24}" y="23" fill="{INK}">{escape(label)}</text>'
        )
        x += 30 + 7 * len(label) + 20
    hint = "hover a node for its full text"
    out.append(f'<text x="{x}" y="23" fill="#4b5563">{hint}</text>')
    return out, x + 7 * len(hint) + PAD
