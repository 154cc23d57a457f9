"""`qstar report`: compare eval runs side by side (method, data, accuracy with its 95% CI,
tokens and calls per question, wall time), read from each run's metrics.json and config.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.artifacts.rundir import read_manifest
from qstar_cli.errors import QstarError

COLUMNS = ("run", "search", "dataset", "model", "questions", "accuracy (95% CI)", "tokens/q", "policy calls/q",
           "QVM calls/q", "wall s")


def rows(run_dirs: list[str]) -> list[dict]:
    out = []
    for d in run_dirs:
        path = Path(d)
        manifest = read_manifest(path)
        if manifest.get("stage") != "eval":
            raise QstarError(f"{d} is a {manifest.get('stage')!r} run; qstar report compares eval runs")
        if not manifest.get("complete"):
            raise QstarError(f"{d} is not complete; rerun its eval to finish it")
        m = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        config = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
        data = config.get("data", {})
        out.append({"run": path.name, "search": m.get("search") or config.get("eval", {}).get("search"),
                    "dataset": f"{data.get('name')}/{data.get('split')}",
                    "model": config.get("policy", {}).get("model") or "embedded", **m})
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in table:
        lo, hi = r["accuracy_ci95"]
        lines.append(f"| {r['run']} | {r['search']} | {r['dataset']} | {r['model']} | {r['questions']} | "
                     f"{r['accuracy']:.1%} ({lo:.1%}-{hi:.1%}) | {r['tokens_per_question']:.0f} | "
                     f"{r['policy_calls_per_question']:.1f} | {r['qvm_calls_per_question']:.1f} | {r['wall_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def run(run_dirs: list[str], out: str | None = None) -> str:
    table = rows(run_dirs)
    text = markdown(table)
    if not ui.out.is_terminal:  # piped or CI: the markdown itself, unwrapped
        ui.out.print(text, end="", highlight=False, soft_wrap=True)
        return _write(text, out)
    from rich.table import Table

    t = Table(title="qstar report", header_style="bold")
    for col in COLUMNS:
        t.add_column(col, justify="left" if col in ("run", "search", "dataset", "model") else "right")
    for line in text.splitlines()[2:]:
        t.add_row(*[c.strip() for c in line.strip("|").split("|")])
    ui.out.print(t)
    return _write(text, out)


def _write(text: str, out: str | None) -> str:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        ui.info(f"wrote {out}")
    return text
