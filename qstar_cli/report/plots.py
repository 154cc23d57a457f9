"""Accuracy against generated tokens per question: one point per run, error bars = its 95% CI.

Drawn with matplotlib's Agg backend (no display needed) and saved as PNG and SVG. One panel per
dataset (shared accuracy axis); colour stands for the search method, with one legend for all
panels. Points are labelled with their run names only where the legend cannot tell them apart:
two runs of one method in a panel, or points that coincide (a dozen labels of distinct methods
would only overlap each other). A
panel's x axis turns logarithmic when its runs' costs span more than a factor of 20, as they do
between greedy decoding and tree search. The SVG is written reproducibly (fixed ids, no date),
so an unchanged report gives an unchanged file.

A self-consistency or best-of-N run also draws its scaling curve (`report.scaling`): its accuracy at
n = 1, 2, 4, ..., N samples from its one pool, by its own answer rule, against n samples' tokens,
as a dashed line in its method's colour with its 95% CI as a band; the curve ends at the run's point.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from qstar_cli.report.runs import EvalRun
from qstar_cli.search import SEARCHERS

COLORS = {name: m.color for name, m in SEARCHERS.items()}  # in registry order: cheapest method first


def accuracy_vs_tokens(runs: list[EvalRun], out_stem: Path, curves: dict | None = None) -> tuple[Path, Path]:
    """Write OUT_STEM.png and OUT_STEM.svg; returns both paths. `curves`: {id(run): [(tokens,
    accuracy, (low, high)) for each n]}, the scaling curves of the runs that have one."""
    curves = curves or {}
    panels: dict[str, list[EvalRun]] = {}
    for r in runs:
        panels.setdefault(f"{r.data_label}/{r.split}", []).append(r)
    plt, fig, axes = _figure(len(panels), 4.6, 4.6)
    from matplotlib import ticker

    top = max(100 * r.metrics["accuracy_ci95"][1] for r in runs)
    methods: list[str] = []
    for ax, (title, group) in zip(axes[0], panels.items()):
        labelled = _needs_label(group)
        for i, r in enumerate(group):
            m = r.metrics
            x, y = m["tokens_per_question"], 100 * m["accuracy"]
            lo, hi = (100 * v for v in m["accuracy_ci95"])
            color = COLORS.get(r.search, "#111827")
            if id(r) in curves:
                cx = [t for t, _, _ in curves[id(r)]]
                ax.plot(
                    cx,
                    [100 * a for _, a, _ in curves[id(r)]],
                    linestyle="--",
                    marker=".",
                    color=color,
                    linewidth=1.1,
                    markersize=5,
                    zorder=2,
                )
                ax.fill_between(
                    cx,
                    [100 * ci[0] for _, _, ci in curves[id(r)]],
                    [100 * ci[1] for _, _, ci in curves[id(r)]],
                    color=color,
                    alpha=0.12,
                    linewidth=0,
                    zorder=1,
                )
            _point(ax, x, y, (lo, hi), color, elinewidth=1.2, capsize=4, markersize=7)
            if i in labelled:  # stacked, so labels of coinciding points do not cover each other
                ax.annotate(
                    r.name,
                    (x, y),
                    textcoords="offset points",
                    xytext=(7, 5 + 10 * labelled[i]),
                    fontsize=7,
                    color=color,
                )
            if r.search not in methods:
                methods.append(r.search)
        xs = [max(r.metrics["tokens_per_question"], 1e-9) for r in group]
        xs += [max(t, 1e-9) for r in group for t, _, _ in curves.get(id(r), [])]
        if max(xs) / min(xs) > 20:
            ax.set_xscale("log")
            # plain numbers at 1, 2, 5 x 10^k read better than bare powers of ten
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.margins(x=0.15)
        ax.set_ylim(-2, min(102, top + 8))  # accuracy starts at 0; room above the highest error bar
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("generated tokens per question")
        ax.grid(True, which="major", color="#e5e7eb", zorder=0)
    axes[0][0].set_ylabel("accuracy (%), 95% CI")
    methods.sort(key=lambda s: list(COLORS).index(s) if s in COLORS else len(COLORS))  # cheapest method first
    handles = [
        plt.Line2D(
            [],
            [],
            color=COLORS.get(s, "#111827"),
            marker="o",
            linestyle="",
            label=SEARCHERS[s].label if s in SEARCHERS else s,
        )
        for s in methods
    ]
    fig.legend(handles=handles, fontsize=8, loc="center right", frameon=False)
    fig.suptitle("Accuracy vs. compute", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.15 / (1.5 + 4.6 * len(panels)), 1))  # room for the legend
    return _save(plt, fig, out_stem)


def _figure(panels: int, width: float, height: float):
    """(pyplot, figure, its row of axes): `panels` panels of `width` inches side by side, sharing
    the accuracy axis, drawn with the Agg backend and set to write reproducible SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "qstar-report", "svg.fonttype": "none"})
    fig, axes = plt.subplots(1, panels, figsize=(1.5 + width * panels, height), dpi=150, sharey=True, squeeze=False)
    return plt, fig, axes


def _point(ax, x: float, y: float, ci: tuple[float, float], color: str, **style) -> None:
    """A run's point at (x, y) with its accuracy's 95% CI as a vertical error bar; `style`: the
    errorbar's sizes, and anything else it takes (an xerr, a marker face)."""
    lo, hi = ci
    ax.errorbar(
        [x], [y], yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], fmt="o", color=color, ecolor=color, zorder=3, **style
    )


def _save(plt, fig, out_stem: Path) -> tuple[Path, Path]:
    """OUT_STEM.png and OUT_STEM.svg (no date in it: an unchanged figure gives an unchanged file)."""
    png, svg = out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")
    fig.savefig(png)
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return png, svg


def _needs_label(group: list[EvalRun]) -> dict[int, int]:
    """Runs the legend cannot tell apart, each with its rank in its cluster: a method that repeats,
    or points that (nearly) coincide and hide one another."""
    xs = [r.metrics["tokens_per_question"] for r in group]
    ys = [100 * r.metrics["accuracy"] for r in group]
    out: dict[int, int] = {}
    for i, r in enumerate(group):
        near = [
            j
            for j in range(len(group))
            if j != i and abs(ys[j] - ys[i]) < 1.0 and abs(xs[j] - xs[i]) <= 0.03 * max(xs[i], xs[j], 1e-9)
        ]
        if near or sum(o.search == r.search for o in group) > 1:
            out[i] = sum(1 for j in near if j < i)
    return out


def inline_svg(svg_path: Path) -> str:
    """The <svg> element of a saved SVG file for embedding in HTML: no XML prolog, no doctype and
    no RDF metadata block (its namespace URLs look like references to a reader of the page)."""
    text = svg_path.read_text(encoding="utf-8")
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)


def accuracy_vs_auc(found: list, out_stem: Path) -> tuple[Path, Path]:
    """The threshold curves (`report.threshold`): each guided method's accuracy against its terminal
    AUC, one point per heuristic (hollow: the oracle, which reads the reference answers, joined into
    the curve; filled: a trained one, set against it), 95% CIs both ways; each reference's accuracy
    as a dotted line, and on it each threshold as a diamond with its interval as a bar. One panel
    per dataset and split."""
    panels: dict[str, list] = {}
    for t in found:
        panels.setdefault(f"{t.reference.data_label}/{t.reference.split}", []).append(t)
    plt, fig, axes = _figure(len(panels), 5.2, 4.8)
    for ax, (title, group) in zip(axes[0], panels.items()):
        drawn, refs = set(), set()
        for t in group:
            color = COLORS.get(t.points[0].run.search, "#111827")
            if t.curve not in drawn:
                drawn.add(t.curve)
                on = [p for p in t.points if p.on_curve]
                ax.plot(
                    [p.auc for p in on],
                    [100 * p.accuracy for p in on],
                    color=color,
                    linewidth=1.2,
                    label=t.curve,
                    zorder=2,
                )
                for p in t.points:
                    lo, hi = (100 * v for v in p.run.metrics["accuracy_ci95"])
                    y = 100 * p.accuracy
                    xerr = (
                        [[max(p.auc - p.auc_ci[0], 0)], [max(p.auc_ci[1] - p.auc, 0)]]
                        if not math.isnan(p.auc_ci[0])
                        else None
                    )
                    _point(
                        ax,
                        p.auc,
                        y,
                        (lo, hi),
                        color,
                        xerr=xerr,
                        elinewidth=0.9,
                        capsize=3,
                        markersize=6,
                        markerfacecolor="white" if p.run.oracle is not None else color,
                    )
            if t.reference.name not in refs:
                refs.add(t.reference.name)
                y = 100 * t.reference.metrics["accuracy"]
                ref_color = COLORS.get(t.reference.search, "#6b7280")
                ax.axhline(y, color=ref_color, linestyle=":", linewidth=1.2, zorder=1)
                ax.annotate(
                    t.reference.method,
                    (0.99, y),
                    xycoords=("axes fraction", "data"),
                    fontsize=7,
                    color=ref_color,
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="right",
                )
            if math.isfinite(t.value):  # a diamond on the reference's line, its interval as a bar
                y = 100 * t.reference.metrics["accuracy"]
                lo, hi = (t.lowest if v == -math.inf else t.highest if v == math.inf else v for v in t.ci)
                ax.errorbar(
                    [t.value],
                    [y],
                    xerr=[[max(t.value - lo, 0)], [max(hi - t.value, 0)]],
                    fmt="D",
                    color=color,
                    ecolor=color,
                    elinewidth=2.2,
                    capsize=0,
                    markersize=6,
                    alpha=0.7,
                    zorder=4,
                )
        ax.set_xlim(0.3, 1.02)
        ax.set_ylim(-2, 102)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("terminal AUC (within question) of the score the search answers by")
        ax.grid(True, color="#e5e7eb", zorder=0)
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    axes[0][0].set_ylabel("accuracy (%), 95% CI")
    fig.suptitle("When does the search pay? Accuracy against heuristic quality (hollow: oracle)", fontsize=11)
    fig.tight_layout()
    return _save(plt, fig, out_stem)
