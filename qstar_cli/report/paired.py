"""Paired significance tests: every run against its dataset's baseline, on the same questions.

Runs are grouped by (dataset, subset, split). In each group one run is the baseline (the first
given, or the first whose name or method matches `--baseline`; several `--baseline`s each get
their own comparisons, e.g. greedy and best-of-N); every other run of the group is compared with
it question by question: the accuracy difference with a 95% paired-bootstrap CI,
and the exact McNemar test on the questions only one of the two solved. Two runs of one group
on different questions cannot be paired, and saying so is better than testing a subset silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from qstar_cli.errors import QstarError
from qstar_cli.report.runs import EvalRun
from qstar_cli.stats import mcnemar_exact, paired_bootstrap_ci


@dataclass
class Paired:
    run: EvalRun
    baseline: EvalRun
    questions: int
    delta: float  # accuracy(run) - accuracy(baseline)
    delta_ci95: tuple[float, float]
    wins: int  # solved by the run only
    losses: int  # solved by the baseline only
    p_mcnemar: float


def groups(runs: list[EvalRun]) -> dict[tuple, list[EvalRun]]:
    out: dict[tuple, list[EvalRun]] = {}
    for run in runs:
        out.setdefault((run.dataset, run.subset, run.split), []).append(run)
    return out


def matches(run: EvalRun, wanted: str) -> bool:
    """`--baseline` names a run (its directory or report name) or a search method."""
    return wanted in (run.name, run.path.name, str(run.path)) or run.search == wanted.replace("-", "_")


def pick_baseline(group: list[EvalRun], wanted: str | None) -> EvalRun:
    return next((run for run in group if wanted and matches(run, wanted)), group[0])


def compare(run: EvalRun, baseline: EvalRun, resamples: int = 1000) -> Paired:
    ours, theirs = run.correct_by_id(), baseline.correct_by_id()
    if set(ours) != set(theirs):
        common = len(set(ours) & set(theirs))
        raise QstarError(
            f"{run.name} and {baseline.name} are on different questions ({len(ours)} vs {len(theirs)}, "
            f"{common} in common): a paired test needs the same questions (same --limit, "
            f"data.offset, --shard); rerun one, or report them without --paired"
        )
    ids = sorted(ours)
    return Paired(
        run,
        baseline,
        len(ids),
        *paired_stats([float(ours[i]) for i in ids], [float(theirs[i]) for i in ids], resamples),
    )


def paired_stats(a: list[float], b: list[float], resamples: int = 1000) -> tuple:
    """(mean(a) - mean(b), its paired-bootstrap 95% CI, wins, losses, exact McNemar p) of two
    methods' 0/1 results on the same questions, in the same order."""
    wins = sum(x > y for x, y in zip(a, b))
    losses = sum(y > x for x, y in zip(a, b))
    return (
        (sum(a) - sum(b)) / len(a) if a else 0.0,
        paired_bootstrap_ci(a, b, resamples),
        wins,
        losses,
        mcnemar_exact(wins, losses),
    )


def compare_all(runs: list[EvalRun], baseline: str | list[str] | None = None, resamples: int = 1000) -> list[Paired]:
    wanted = [baseline] if isinstance(baseline, str) or baseline is None else list(baseline)
    for name in wanted:
        if name and not any(matches(r, name) for r in runs):
            raise QstarError(
                f"--baseline {name!r} names none of the runs (give a run directory, its name, "
                f"or a search method such as greedy)"
            )
    out, done = [], set()
    for name in wanted:
        for group in groups(runs).values():
            if name and len(wanted) > 1 and not any(matches(r, name) for r in group):
                continue  # this dataset has no such run; the other baselines still compare it
            base = pick_baseline(group, name)
            for run in group:
                # a pair already tested the other way round (baseline against baseline) is not repeated
                if run is not base and frozenset((id(run), id(base))) not in done:
                    done.add(frozenset((id(run), id(base))))
                    out.append(compare(run, base, resamples))
    return out
