"""Search methods: greedy, self-consistency, best-of-N, beam, MCTS and A*, one file each, and
`SEARCHERS`, the one registry that says what each method is.

A method is its run function, its config dataclass and the facts the rest of qstar derives from
the entry: the eval keys it reads (its config's fields, plus the models it `uses`), the allowed
values (the fields' `Literal` annotations) and bounds (`metadata={"min": ...}`), whether it needs
a QVM, and its report label, colour and shown settings. A config field reads the eval key of its
own name unless `metadata={"key": ...}` names another (`mcts_reward`) or another section's key
(`sampling.max_tokens`). Adding a method: its module, and one entry here.

Search code talks to the policy and value models only through `base.SearchEnv`'s batched calls
and imports neither torch nor vLLM, so it is tested exactly on toy graphs.
"""

from __future__ import annotations

import dataclasses
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from qstar_cli.search import astar, beam, driver, mcts, sampling
from qstar_cli.search.base import Question, SearchEnv, SearchResult, Usage
from qstar_cli.search.driver import Search


@dataclass(frozen=True)
class Method:
    search: Callable[..., Search]  # (env, question, cfg, usage, trees) -> one question's search (driver.py)
    config: type
    label: str  # how reports name it
    color: str  # its colour in the report's plot
    shown: tuple[tuple[str, str], ...] = ()  # (eval key, short label) that tell two runs apart in a report
    uses: tuple[str, ...] = ()  # models it may be given: "qvm", "prm" (eval keys of the same names)
    needs_qvm: Callable[[Any], bool] = lambda cfg: False  # given its config
    # cross-field problems of (its config, the eval section), as messages; the config layer raises them
    problems: Callable[[Any, Any], list[str]] = lambda cfg, section: []
    # what a report reads from the entry:
    guided: bool = False  # its answer comes from a heuristic's score (a point on the threshold curve)
    # its terminals are a pool of independent samples that a report re-chooses from at n = 1, 2, 4, ...
    # by these rules ("best_f", "vote", "weighted"); the first is the method's own when it has no answer key
    pool_rules: tuple[str, ...] = ()
    # more words for a report's name of a run, from its settings (A*: its utility g)
    describe: Callable[[dict], list[str]] = lambda settings: []

    def key(self, f: dataclasses.Field) -> str:
        """The dotted config key a field of this method's config reads."""
        key = f.metadata.get("key", f.name)
        return key if "." in key else f"eval.{key}"

    def eval_keys(self) -> set[str]:
        """The eval-section keys this method reads; setting any other method's key is an error."""
        keys = {self.key(f) for f in dataclasses.fields(self.config)}
        return {k.split(".", 1)[1] for k in keys if k.startswith("eval.")} | set(self.uses)

    def configure(self, sections: Any) -> Any:
        """This method's config from a resolved stage config (an object with `eval`, `sampling`, ...)."""
        values = {}
        for f in dataclasses.fields(self.config):
            section, _, name = self.key(f).partition(".")
            values[f.name] = getattr(getattr(sections, section), name)
        return self.config(**values)


SEARCHERS: dict[str, Method] = {
    "greedy": Method(sampling.greedy_one, sampling.GreedyConfig, "greedy", "#4b5563"),
    "self_consistency": Method(
        sampling.self_consistency_one,
        sampling.SelfConsistencyConfig,
        "self-consistency",
        "#2563eb",
        shown=(("n", "n"),),
        pool_rules=("vote",),  # its terminals carry vote shares, not scores
    ),
    "best_of_n": Method(
        sampling.best_of_n_one,
        sampling.BestOfNConfig,
        "best-of-N",
        "#7c3aed",
        shown=(("n", "n"), ("rank_by", "by")),
        uses=("qvm", "prm"),
        needs_qvm=lambda c: c.rank_by == "qvm",
        problems=lambda c, e: c.problems(e.prm),
        guided=True,
        pool_rules=("best_f", "vote", "weighted"),
    ),
    "beam": Method(
        beam.search_one,
        beam.BeamConfig,
        "beam",
        "#0891b2",
        shown=(("width", "w"), ("k", "K")),
        uses=("qvm",),
        needs_qvm=lambda c: True,
        guided=True,
    ),
    "mcts": Method(
        mcts.search_one,
        mcts.MCTSConfig,
        "MCTS",
        "#ea580c",
        shown=(("iterations", "it"), ("k", "K")),
        uses=("qvm",),
        needs_qvm=lambda c: c.reward == "qvm",
    ),
    "astar": Method(
        astar.search_one,
        astar.AStarConfig,
        "A*",
        "#dc2626",
        shown=(("k", "K"), ("n_terminals", "N"), ("budget", "budget")),
        uses=("qvm", "prm"),
        needs_qvm=lambda c: c.heuristic != "zero",
        problems=lambda c, e: c.problems(e.prm),
        guided=True,
        describe=lambda s: [f"g={s.get('agg', 'min')}({s['utility']})"] if s.get("utility", "none") != "none" else [],
    ),
}


def method_fields() -> dict[str, tuple[Any, Any, dataclasses.Field]]:
    """{eval key: (type, default, field)} over all methods' configs; methods sharing a key share both."""
    out: dict[str, tuple[Any, Any, dataclasses.Field]] = {}
    for method in SEARCHERS.values():
        hints = typing.get_type_hints(method.config)
        for f in dataclasses.fields(method.config):
            section, _, name = method.key(f).partition(".")
            if section == "eval" and name not in out:
                out[name] = (hints[f.name], f.default, f)
    return out


def run(method: str, questions: list[Question], env: SearchEnv, cfg: Any, trees: bool = False) -> list[SearchResult]:
    """Search a batch of questions together; results in question order."""
    results: list[SearchResult] = [None] * len(questions)  # type: ignore[list-item]
    for i, result in stream(method, questions, env, cfg, trees):
        results[i] = result
    return results


def stream(
    method: str, questions: Iterable[Question], env: SearchEnv, cfg: Any, trees: bool = False, window: int | None = None
) -> Iterator[tuple[int, SearchResult]]:
    """Search questions `window` at a time (None: all at once), a new one admitted as one finishes;
    yields (index, result) as each finishes. A result's wall time is the time since the previous
    result, so a run's per-question times add up to its total."""
    one = SEARCHERS[method].search
    usages: list[Usage] = []

    def jobs():
        for q in questions:
            usages.append(Usage())
            yield q, one(env, q, cfg, usages[-1], trees), usages[-1]

    last = time.perf_counter()
    for i, result in driver.stream(env, jobs(), window):
        now = time.perf_counter()
        result.wall_seconds, last = now - last, now
        yield i, result
