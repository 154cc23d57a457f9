"""Label methods: rollout, completion and fitted Q-iteration, one module each, and `LABELERS`, the
one registry that says what each method is.

A method is its config dataclass (its own `label.*` keys: `Literal` fields for choices,
`metadata={"min": ...}` for bounds, `metadata={"backend": "<its model's key>"}` and
`{"backend_options": True}` for a model's backend and its options, and a `problems()` method for
cross-field checks), its run and the facts the rest of qstar derives from the entry: the label
section's keys and checks, `--method`'s help, the settings a run's header shows, whether it can
be sharded, whether its labels depend on the train section. Adding a method: its module, and one entry here.

A method's run talks to the policy, the dataset and the run folder only through the `job` the
label stage gives it (stages/label.py: `LabelJob`), so nothing here imports a stage, a backend or
a run folder: the label formulas (tree.py, targets.py, continuation.py, fqi.py) are pure and
tested on hand-built step trees, and a method's run can be driven by a toy job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qstar_cli.labelers import completion, fqi_run, rollout


@dataclass(frozen=True)
class LabelMethod:
    run: Callable[[Any], Any]  # (job) -> the run folder; job.cfg is this method's config
    config: type
    help: str  # one line: --method's help, the docs' table
    shown: tuple[str, ...] = ()  # the keys a run's header shows besides input, method, gamma and reuse
    shardable: bool = True  # each question labelled on its own: --shard, launchers
    trains: bool = False  # fits models with the train section, which then counts in its run's identity
    reuses: bool = False  # can relabel from the continuations an earlier run recorded (--reuse)

    def configure(self, section: Any) -> Any:
        """This method's config from the label section's values of its fields."""
        return self.config(**{f.name: getattr(section, f.name) for f in dataclasses.fields(self.config)})


LABELERS: dict[str, LabelMethod] = {
    "rollout": LabelMethod(
        rollout.run,
        rollout.RolloutConfig,
        "y = the best outcome of M policy continuations from s_{t+1}",
        shown=("label.num_rollouts",),
        reuses=True,
    ),
    "fqi": LabelMethod(
        fqi_run.run,
        fqi_run.FQIConfig,
        "fitted Q-iteration: y = R + gamma * max Q_{l-1} over K candidate actions",
        shown=("label.iterations", "label.candidates", "label.init_qvm", "train.backbone"),
        shardable=False,
        trains=True,
    ),
    "completion": LabelMethod(
        completion.run,
        completion.CompletionConfig,
        "y = the outcome of a stronger policy's completion(s) of s_{t+1}",
        shown=("label.strong_model", "label.strong_samples"),
        reuses=True,
    ),
}
