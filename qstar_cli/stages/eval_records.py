"""What an eval run writes: one prediction record per question (answer, correctness, chosen path,
terminals, compute, optionally the tree marked with what was found) and the run's metrics over
them (accuracy with its bootstrap CI, strict accuracy, pass@terminals, tokens and calls per
question), and the summary table. The eval stage (eval.py) searches; this module records.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from qstar_cli import ui
from qstar_cli.artifacts import records as R
from qstar_cli.search.answers import group_answers
from qstar_cli.search.base import Question
from qstar_cli.stats import bootstrap_ci
from qstar_cli.value.metrics import within_question_auc


def prediction_record(problem, question: Question, result, dataset, search: str) -> dict:
    chosen = result.answer
    text = chosen.text if chosen else ""
    # every distinct solution graded once, in one call (code: run in parallel in the sandbox)
    texts = list(dict.fromkeys([t.text for t in result.terminals] + ([text] if chosen else [])))
    grades = dict(zip(texts, dataset.grade_batch(texts, [problem] * len(texts))))

    def status(solution: str) -> dict:  # code datasets say why a solution failed
        g = grades[solution]
        return {"status": g.status, "status_detail": g.detail} if g.status is not None else {}

    terminals = [
        {
            "text": t.text,
            "score": t.score,
            "answer": dataset.extract_answer(t.text),
            "correct": grades[t.text].correct,
            "strict": grades[t.text].strict,
            "finish": t.finish,
            **status(t.text),
        }
        for t in result.terminals
    ]
    # the index of the first terminal with the same answer by the grader's equivalence, as the
    # searches' votes group them: `qstar report` recomputes every answer choice from these
    for t, group in zip(terminals, group_answers([t["answer"] for t in terminals], dataset.same_answer)):
        t["group"] = group
    return {
        "schema": R.schema_tag("predictions"),
        "id": problem.id,
        "question": problem.question,
        "reference": problem.reference,
        "search": search,
        "prompt": question.prompt,
        "answer": dataset.extract_answer(text) if chosen else None,
        "correct": grades[text].correct if chosen else False,
        # strict: correct with the answer stated in the final-answer format (not a last-number guess)
        "correct_strict": grades[text].strict if chosen else False,
        "finish": chosen.finish if chosen else None,
        **(status(text) if chosen else {}),
        "solution": text,
        "path": [asdict(s) for s in chosen.path] if chosen else [],
        "terminals": terminals,
        "usage": asdict(result.usage),
        "wall_seconds": round(result.wall_seconds, 4),
        **({"tree": mark_tree(result.tree, result.terminals, terminals, chosen)} if result.tree is not None else {}),
    }


def mark_tree(tree: list[dict], found: list, graded: list[dict], chosen) -> list[dict]:
    """Mark the tree for the tree view: `correct` on terminal nodes, `chosen` on the answer's path.

    Terminals found by a rollout below a tree node (MCTS) mark no node as correct: the node itself
    is not a solution.
    """
    for terminal, record in zip(found, graded):
        if terminal.node is not None and tree[terminal.node].get("terminal"):
            tree[terminal.node]["correct"] = record["correct"]
    i = chosen.node if chosen is not None and chosen.node is not None else -1
    while i >= 0:
        tree[i]["chosen"] = True
        i = tree[i]["parent"]
    return tree


def eval_metrics(records: list[dict], sessions: list[dict], resamples: int = 1000) -> dict:
    n = len(records)
    correct = [float(r["correct"]) for r in records]
    lo, hi = bootstrap_ci(correct, resamples)
    # records written before strict grading existed have no strict verdict: no strict accuracy then
    strict = [float(r["correct_strict"]) for r in records if "correct_strict" in r]
    strict_ok = n > 0 and len(strict) == n
    mean = lambda key: sum(r["usage"][key] for r in records) / n if n else 0.0  # noqa: E731
    gen_tokens = sum(s.get("generated_tokens", 0) for s in sessions)
    gen_seconds = sum(s.get("generation_seconds", 0.0) for s in sessions)
    # does the search's score (A*'s f, beam's Q, ...) rank a question's correct terminals above its wrong ones?
    terminal_auc, terminal_questions = within_question_auc(
        [
            (
                [t["score"] for t in r["terminals"] if t["correct"]],
                [t["score"] for t in r["terminals"] if not t["correct"]],
            )
            for r in records
        ]
    )
    return {
        "questions": n,
        "accuracy": sum(correct) / n if n else 0.0,
        "accuracy_ci95": [lo, hi],
        "accuracy_strict": sum(strict) / n if strict_ok else None,
        "accuracy_strict_ci95": list(bootstrap_ci(strict, resamples)) if strict_ok else None,
        "cut_off_answers": sum(r.get("finish") not in (None, "eos") for r in records),
        "pass_at_terminals": sum(any(t["correct"] for t in r["terminals"]) for r in records) / n if n else 0.0,
        "answered": sum(r["answer"] is not None for r in records),
        "tokens_per_question": mean("generated_tokens"),
        # the oracle heuristic's continuations: never in tokens_per_question (records before it: 0)
        "oracle_tokens_per_question": sum(r["usage"].get("oracle_tokens", 0) for r in records) / n if n else 0.0,
        "policy_calls_per_question": mean("policy_calls"),
        "qvm_calls_per_question": mean("qvm_calls"),
        "prm_calls_per_question": mean("prm_calls"),
        "expansions_per_question": mean("expansions"),
        "terminals_per_question": sum(len(r["terminals"]) for r in records) / n if n else 0.0,
        "terminal_auc": terminal_auc,
        "terminal_auc_questions": terminal_questions,
        "wall_seconds": round(sum(s.get("seconds", 0.0) for s in sessions), 3),
        # samples a policy.sample_cache gave instead of the engine (in tokens_per_question all the same)
        "cached_tokens": sum(s.get("cached_tokens", 0) for s in sessions),
        "generation_tokens_per_second": gen_tokens / gen_seconds if gen_seconds else None,
        "backend_retries": sum(s.get("retries", 0) for s in sessions),
    }


def show_summary(m: dict, path: Path) -> None:
    lo, hi = m["accuracy_ci95"]
    oracle = m.get("oracle") if m.get("uses_reference_answers") else None
    ui.summary(
        f"eval {m['search']} on {m['dataset']} -> {path}",
        [
            *(
                [
                    (
                        "heuristic",
                        f"{m['heuristic']}: an upper bound, not a method (M={oracle['rollouts']}, "
                        f"noise={oracle['noise']})",
                    )
                ]
                if oracle
                else []
            ),
            ("questions", str(m["questions"])),
            ("accuracy (95% CI)", f"{m['accuracy']:.1%} ({lo:.1%} - {hi:.1%})"),
            *(
                [
                    (
                        "strict accuracy (95% CI)",
                        f"{m['accuracy_strict']:.1%} ({m['accuracy_strict_ci95'][0]:.1%} - "
                        f"{m['accuracy_strict_ci95'][1]:.1%})",
                    )
                ]
                if m.get("accuracy_strict") is not None
                else []
            ),
            ("pass@terminals", f"{m['pass_at_terminals']:.1%}"),
            *(
                [
                    (
                        "terminal AUC (within question)",
                        f"{m['terminal_auc']:.3f} over {m['terminal_auc_questions']} questions",
                    )
                ]
                if m.get("terminal_auc") is not None
                else []
            ),
            ("tokens / question", f"{m['tokens_per_question']:.0f}"),
            *(
                [
                    (
                        "from the sample cache",
                        f"{m['cached_tokens'] / max(m['questions'], 1):.0f} tokens / question "
                        f"(counted in tokens / question, not generated)",
                    )
                ]
                if m.get("cached_tokens")
                else []
            ),
            *(
                [("oracle tokens / question", f"{m['oracle_tokens_per_question']:.0f} (not in tokens / question)")]
                if oracle
                else []
            ),
            ("policy calls / question", f"{m['policy_calls_per_question']:.1f}"),
            ("QVM calls / question", f"{m['qvm_calls_per_question']:.1f}"),
            ("expansions / question", f"{m['expansions_per_question']:.1f}"),
            ("wall time", f"{m['wall_seconds']:.1f} s"),
        ],
    )
