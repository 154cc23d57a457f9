"""Accuracy against generated tokens per question: one point per run, error bars = its 95% CI.

Drawn with matplotlib's Agg backend (no display needed) and saved as PNG and SVG. Colours stand
for search methods and markers for datasets, each with a legend; every point is labelled with its
run name. The x axis turns logarithmic when the runs' costs span more than a factor of 20, as
they do between greedy decoding and tree search. The SVG is written reproducibly (fixed ids, no
date), so an unchanged report gives an unchanged file.
"""

from __future__ import annotations

from pathlib import Path

from qstar_cli.report.runs import METHOD_NAMES, EvalRun

COLORS = {"greedy": "#4b5563", "self_consistency": "#2563eb", "best_of_n": "#7c3aed", "beam": "#0891b2",
          "mcts": "#ea580c", "astar": "#dc2626"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def accuracy_vs_tokens(runs: list[EvalRun], out_stem: Path) -> tuple[Path, Path]:
    """Write OUT_STEM.png and OUT_STEM.svg; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "qstar-report", "svg.fonttype": "none"})
    datasets = list(dict.fromkeys(f"{r.data_label}/{r.split}" for r in runs))
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=150)
    seen_methods: list[str] = []
    for r in runs:
        m = r.metrics
        x, y = m["tokens_per_question"], 100 * m["accuracy"]
        lo, hi = (100 * v for v in m["accuracy_ci95"])
        color = COLORS.get(r.search, "#111827")
        marker = MARKERS[datasets.index(f"{r.data_label}/{r.split}") % len(MARKERS)]
        ax.errorbar([x], [y], yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], fmt=marker, color=color, ecolor=color,
                    elinewidth=1.2, capsize=4, markersize=7, zorder=3)
        ax.annotate(r.name, (x, y), textcoords="offset points", xytext=(7, 5), fontsize=8, color="#111827")
        if r.search not in seen_methods:
            seen_methods.append(r.search)
    xs = [max(r.metrics["tokens_per_question"], 1e-9) for r in runs]
    if max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.margins(x=0.15)
    top = max(100 * r.metrics["accuracy_ci95"][1] for r in runs)
    ax.set_ylim(-2, min(102, top + 8))  # accuracy starts at 0; room above the highest error bar
    ax.set_xlabel("generated tokens per question")
    ax.set_ylabel("accuracy (%), 95% CI")
    ax.set_title("Accuracy vs. compute: " + ", ".join(datasets), fontsize=11)
    ax.grid(True, which="major", color="#e5e7eb", zorder=0)
    handles = [plt.Line2D([], [], color=COLORS.get(s, "#111827"), marker="o", linestyle="",
                          label=METHOD_NAMES.get(s, s)) for s in seen_methods]
    if len(datasets) > 1:
        handles += [plt.Line2D([], [], color="#6b7280", marker=MARKERS[i % len(MARKERS)], linestyle="", label=d)
                    for i, d in enumerate(datasets)]
    ax.legend(handles=handles, fontsize=8, loc="best", frameon=False)
    fig.tight_layout()
    png, svg = out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")
    fig.savefig(png)
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return png, svg


def inline_svg(svg_path: Path) -> str:
    """The <svg> element of a saved SVG file, for embedding in HTML (no XML prolog or doctype)."""
    text = svg_path.read_text(encoding="utf-8")
    return text[text.index("<svg"):]
