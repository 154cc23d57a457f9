"""The report in plain words: what its numbers say, for a reader who does not read tables.

Every sentence is built from the same records as the tables (the runs' metrics, the paired tests,
the QVMs' train-q metrics), with its interval, and says "not significant" where the interval holds
no difference: nothing here is typed in or rounded into a claim the numbers do not make.
"""

from __future__ import annotations

from qstar_cli.report.paired import Paired
from qstar_cli.report.runs import EvalRun, qvm_training

SIGNIFICANT = 0.05  # McNemar's p below which a paired difference is called significant


def sentences(runs: list[EvalRun], pairs: list[Paired], found: list | None = None) -> list[str]:
    return [
        *_qvm_sentences(runs),
        *(_paired_sentence(p) for p in pairs),
        *(_threshold_sentence(t) for t in found or []),
    ]


def _qvm_sentences(runs: list[EvalRun]) -> list[str]:
    out, seen = [], set()
    for run in runs:
        if not run.qvm_path or run.qvm_path in seen:
            continue
        seen.add(run.qvm_path)
        metrics = qvm_training(run.qvm_path)
        held = (metrics or {}).get("heldout") or {}
        if held.get("roc_auc") is None:
            continue
        auc, ci = held["roc_auc"], held.get("roc_auc_ci95")
        free = {
            name: held.get(key)
            for name, key in (
                ("the step's depth", "baseline_position_auc"),
                ("the policy's log-prob of the step", "baseline_logprob_auc"),
            )
            if held.get(key) is not None
        }
        text = (
            f"The QVM {run.qvm} ranks held-out steps (of {held.get('questions', 0)} questions it did not train "
            f"on) with ROC-AUC {auc:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + " (0.5 is chance)"
        )
        if free:
            text += "; free scores give " + " and ".join(f"{v:.2f} ({k})" for k, v in free.items())
        best_free = max(free.values(), default=0.5)
        if held.get("too_small") or not ci:
            verdict = "too few held-out questions to tell how well it ranks"
        elif ci[0] > best_free:
            verdict = "it ranks better than chance and than the free scores"
        elif ci[0] > 0.5:
            verdict = "it ranks better than chance, but not clearly better than the free scores"
        else:
            verdict = "its interval includes chance: not clearly better than a coin"
        out.append(f"{text}: {verdict}.")
    return out


def _paired_sentence(p: Paired) -> str:
    lo, hi = p.delta_ci95
    tokens = (p.run.metrics.get("tokens_per_question", 0), p.baseline.metrics.get("tokens_per_question", 0))
    verdict = (
        f"significant (McNemar p = {p.p_mcnemar:.2g})"
        if p.p_mcnemar < SIGNIFICANT
        else f"not significant (McNemar p = {p.p_mcnemar:.2g})"
    )
    return (
        f"{p.run.method} ({100 * p.run.metrics['accuracy']:.1f}%, {tokens[0]:.0f} tokens per question) against "
        f"{p.baseline.method} ({100 * p.baseline.metrics['accuracy']:.1f}%, {tokens[1]:.0f} tokens): "
        f"{100 * p.delta:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] on {p.questions} questions, {verdict}."
    )


def _threshold_sentence(t) -> str:
    """Where a guided search starts to beat a reference (`report.threshold`), and where the
    trained heuristics sit against that."""
    ref = f"{t.reference.method} ({100 * t.reference.metrics['accuracy']:.1f}%)"
    oracle = (
        " (its points include the oracle, which reads the reference answers)"
        if any(p.run.oracle is not None for p in t.points)
        else ""
    )
    if t.value == float("inf"):
        text = (
            f"{t.curve} does not beat {ref} even with its best-ranking heuristic (terminal AUC {t.highest:.2f}){oracle}"
        )
    elif t.value == float("-inf"):
        text = f"{t.curve} beats {ref} with every heuristic tried, down to terminal AUC {t.lowest:.2f}{oracle}"
    else:
        lo, hi = (t.show(x) for x in t.ci)
        text = f"{t.curve} stays at or above {ref} while its terminal AUC is above {t.value:.2f} [{lo}, {hi}]{oracle}"
    trained = [p for p in t.points if p.run.oracle is None]
    if trained and t.resamples:
        where = []
        for p in trained:
            side = (
                "above the threshold's interval" if p.auc > t.ci[1] else "below it" if p.auc < t.ci[0] else "inside it"
            )
            against = (
                ""
                if p.on_curve or p.expected is None
                else f" (accuracy {100 * p.accuracy:.1f}% where the oracle curve gives {100 * p.expected:.1f}%)"
            )
            where.append(f"{p.run.qvm} at {p.auc:.2f}, {side}{against}")
        text += "; the trained heuristics sit at " + "; ".join(where)
    return text + "."
