"""The eval section, built from the search registry: the keys every search shares, the PRM's and the
oracle heuristic's keys, and each search method's own keys, with their checks."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from qstar_cli.config.fields import check_fields
from qstar_cli.errors import QstarError
from qstar_cli.steps import MAX_STEP_TOKENS


# The eval section: the keys every search shares, then each search method's own keys, derived
# from its config in the search registry (qstar_cli/search/__init__.py) so that a method's settings
# are declared once, where the method is. The PRM keys are PRMConfig's fields with a `prm_` prefix,
# the oracle heuristic's (eval.qvm=oracle) OracleConfig's with an `oracle_` prefix.
@dataclass
class _EvalShared:
    search: str = "astar"  # a name in qstar_cli.search.SEARCHERS (dashes allowed: best-of-n)
    qvm: str | None = None  # a train-q run dir (or its qvm/ folder)
    qvm_batch_size: int = field(default=32, metadata={"min": 1})  # QVM inputs scored per forward pass
    prm: str | None = None  # a Hugging Face PRM (see qstar_cli/value/prm.py for the modes)
    max_step_tokens: int = field(default=MAX_STEP_TOKENS, metadata={"min": 1})  # token limit of one step
    trees: bool = False  # save every question's search tree in the predictions
    batch_questions: int = field(default=64, metadata={"min": 1})  # questions in flight; a new one joins as one ends
    bootstrap: int = field(default=1000, metadata={"min": 1})  # resamples for the accuracy CI
    out: str | None = None


def _eval_fields() -> list[tuple[str, Any, Any]]:
    from qstar_cli.search import method_fields
    from qstar_cli.search.oracle import OracleConfig
    from qstar_cli.value.prm import PRMConfig

    out = []
    for cls, prefix in ((_EvalShared, ""), (PRMConfig, "prm_"), (OracleConfig, "oracle_")):
        hints = typing.get_type_hints(cls)
        out += [
            (prefix + f.name, hints[f.name], field(default=f.default, metadata=f.metadata))
            for f in dataclasses.fields(cls)
            if f.name != "model"
        ]
    out += [
        (key, hint, field(default=default, metadata=f.metadata)) for key, (hint, default, f) in method_fields().items()
    ]
    return out


def _validate_eval(self) -> None:
    from qstar_cli.search import SEARCHERS

    self.search = self.search.replace("-", "_")
    if self.search not in SEARCHERS:
        raise QstarError(f"unknown search {self.search!r}; choose one of: {', '.join(SEARCHERS)}")
    check_fields(self, "eval.")
    method = SEARCHERS[self.search]
    defaults = type(self)()
    for key in sorted(set().union(*SEARCH_KEYS.values()) - SEARCH_KEYS[self.search]):
        if getattr(self, key) != getattr(defaults, key):
            raise QstarError(
                f"--search {self.search} does not use eval.{key} (set to {getattr(self, key)!r}); "
                f"drop it, or pick a search that does"
            )
    # the method's own cross-field checks; sampling keys play no part in them, so None stands in
    method_cfg = method.configure(types.SimpleNamespace(eval=self, sampling=_NoSampling()))
    problems = method.problems(method_cfg, self)
    if problems:
        raise QstarError(problems[0])
    _check_oracle(self, defaults, method.needs_qvm(method_cfg))


def _check_oracle(self, defaults, needs_qvm: bool) -> None:
    """The oracle heuristic's keys are set only with it, and it stands only where a QVM is used."""
    from qstar_cli.search.oracle import ORACLE, OracleConfig

    if self.qvm != ORACLE:
        for f in dataclasses.fields(OracleConfig):
            key = f"oracle_{f.name}"
            if getattr(self, key) != getattr(defaults, key):
                raise QstarError(
                    f"eval.{key} (set to {getattr(self, key)!r}) is a setting of the oracle heuristic; "
                    f"use it with --qvm oracle, or drop it"
                )
    elif not needs_qvm:
        raise QstarError(
            f"--qvm oracle stands in for a Q-value model, and --search {self.search} with these settings "
            f"uses none (A* with --heuristic zero, best-of-N ranked by a PRM, MCTS without "
            f"eval.mcts_reward=qvm); pick settings that use the QVM, or drop --qvm oracle"
        )


def build_eval_section() -> type:
    """The section's class from the registry as it is now (a test that registers a toy method rebuilds it)."""
    cls = dataclasses.make_dataclass("EvalSection", _eval_fields(), namespace={"validate": _validate_eval})
    cls.__module__ = __name__
    cls.__doc__ = "The eval section: shared search keys, PRM keys, and every search method's own keys."
    return cls


def search_keys() -> dict[str, set[str]]:
    """The eval keys each method reads, from the registry as it is now."""
    from qstar_cli.search import SEARCHERS

    return {name: m.eval_keys() for name, m in SEARCHERS.items()}


EvalSection = build_eval_section()
SEARCH_KEYS = search_keys()  # the eval keys each method reads


class _NoSampling:
    """The sampling section as the eval checks see it: every key None (they read none)."""

    def __getattr__(self, name: str) -> None:
        return None
