"""The report in plain words: what its numbers say, for a reader who does not read tables.

Every sentence is built from the same records as the tables (the runs' metrics, the paired tests,
the QVMs' train-q metrics), with its interval, and says "not significant" where the interval holds
no difference: nothing here is typed in or rounded into a claim the numbers do not make.
"""

from __future__ import annotations

from qstar_cli.report.paired import Paired
from qstar_cli.report.runs import EvalRun, qvm_training

SIGNIFICANT = 0.05  # McNemar's p below which a paired difference is called significant


def sentences(runs: list[EvalRun], pairs: list[Paired]) -> list[str]:
    return [*_qvm_sentences(runs), *(_paired_sentence(p) for p in pairs)]


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
        free = {name: held.get(key) for name, key in (("the step's depth", "baseline_position_auc"),
                                                       ("the policy's log-prob of the step", "baseline_logprob_auc"))
                if held.get(key) is not None}
        text = (f"The QVM {run.qvm} ranks held-out steps (of {held.get('questions', 0)} questions it did not train "
                f"on) with ROC-AUC {auc:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + " (0.5 is chance)")
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
    verdict = (f"significant (McNemar p = {p.p_mcnemar:.2g})" if p.p_mcnemar < SIGNIFICANT
               else f"not significant (McNemar p = {p.p_mcnemar:.2g})")
    return (f"{p.run.method} ({100 * p.run.metrics['accuracy']:.1f}%, {tokens[0]:.0f} tokens per question) against "
            f"{p.baseline.method} ({100 * p.baseline.metrics['accuracy']:.1f}%, {tokens[1]:.0f} tokens): "
            f"{100 * p.delta:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] on {p.questions} questions, {verdict}.")
