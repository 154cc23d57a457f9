"""How a search answers: grouping its terminals by answer and choosing one (eval.answer).

The searches apply `choose` online (`choose_answer`), and `qstar report` applies it again to the
terminals a run recorded, so both use this one rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from qstar_cli.search.base import Question, SearchEnv, Terminal


def group_answers(answers: list[str | None], same: Callable[[str, str], bool]) -> list[int | None]:
    """For each answer, the index of the first answer equal to it by `same` (None: no answer)."""
    heads: list[int] = []
    groups: list[int | None] = []
    for i, a in enumerate(answers):
        if a is None:
            groups.append(None)
            continue
        head = next((h for h in heads if answers[h] == a or same(answers[h], a)), None)
        if head is None:
            heads.append(i)
            head = i
        groups.append(head)
    return groups


def answer_groups(env: SearchEnv, question: Question, texts: list[str]) -> list[int | None]:
    """For each solution text, the index of the first text whose answer is the same (None: no answer).

    Answers are grouped by the grader's equivalence, not by string, so that votes over MATH answers
    do not split \\frac{1}{2}, \\dfrac{1}{2} and 0.5 three ways.
    """
    return group_answers([env.extract_answer(question, t) for t in texts], lambda a, b: env.same_answer(question, a, b))


def best_terminal(terminals: list[Terminal]) -> Terminal | None:
    """The highest-scored finished solution; cut-off ones only when nothing finished (first of ties)."""
    return max(terminals, key=lambda t: (t.finished, t.score), default=None)


# How A*, beam and best-of-N choose their answer among a question's terminals (eval.answer), by
# each terminal's score (A*'s f, beam's Q, best-of-N's reranker score):
#   best_f    the best-scored terminal;
#   vote      the answer most terminals reach;
#   weighted  the answer whose terminals' scores sum highest (search-and-learn's weighted best-of-N).
# `choose` is the one rule; the searches apply it online and `qstar report` to recorded terminals.
AnswerChoice = Literal["best_f", "vote", "weighted"]


def weight(score: float) -> float:
    """A terminal's share of its answer's weighted vote: its score, or 0 below zero.

    Search-and-learn sums PRM scores, probabilities in [0, 1], and so does this for every QVM or
    PRM score. A score can fall below zero (A*'s f = g + lambda h with a process utility of -1):
    summed as it is, it would make an answer found twice (-2 + -2) lose to one found once (-0.1),
    so a terminal found with a negative score adds nothing to its answer. Scores above 1 (f with a
    positive g or lambda > 1) are summed as they are: any positive scale keeps the sums' order.
    """
    return max(score, 0.0)


def choose(scores: list[float], finished: list[bool], groups: list[int | None], how: str) -> int | None:
    """The index of the terminal `how` (an `AnswerChoice`) answers with; None when there is none.

    `groups[i]` is terminal i's answer group (`answer_groups`: None when it states no answer).
    Finished terminals come before cut-off ones: "best_f" takes the highest score among the
    finished (among all when none finished), and the votes count cut-off terminals only when none
    finished. Ties in a vote go to the group of more terminals (weighted vote only), then to the
    one with the best score, then to the one seen first; the winning group answers with its
    best-scored terminal. A vote among terminals that state no answer falls back to "best_f".
    Ties in score go to the first terminal.
    """
    if not scores:
        return None
    best = max(range(len(scores)), key=lambda i: (finished[i], scores[i]))
    if how == "best_f":
        return best
    pool = [i for i in range(len(scores)) if finished[i]] or list(range(len(scores)))
    members: dict[int, list[int]] = {}
    for i in pool:
        if groups[i] is not None:
            members.setdefault(groups[i], []).append(i)
    if not members:
        return best

    def rank(ids: list[int]) -> tuple:
        top = max(scores[i] for i in ids)
        if how == "vote":
            return (len(ids), top)
        return (sum(weight(scores[i]) for i in ids), len(ids), top)

    winner = max(members.values(), key=rank)
    return max(winner, key=lambda i: scores[i])


def choose_answer(env: SearchEnv, question: Question, terminals: list[Terminal], how: str) -> Terminal | None:
    """`choose` over a search's terminals, grouped by the grader's equivalence."""
    if how == "best_f" or not terminals:
        return best_terminal(terminals)
    groups = answer_groups(env, question, [t.text for t in terminals])
    i = choose([t.score for t in terminals], [t.finished for t in terminals], groups, how)
    return terminals[i] if i is not None else None
