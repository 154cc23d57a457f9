"""Labels from continuations: `rollout` (the policy itself) and `completion` (a stronger policy).

For a batch of questions, every non-terminal node's next state s_{t+1} goes to the environment
(the search's `SearchEnv`: `environment.PolicySearchEnv` on a backend, or a toy one in tests) as a
`complete` request with n continuations each, the next batch submitted before this one is waited
for; each continuation is graded on the full solution text (steps so far + continuation) and
counted in steps with the run's step format; `targets.rollout_label` turns the outcomes into y
(max) and the soft mean. rollout also counts the trajectories' own endings; completion uses only
the stronger policy's completions (y = R of its completion).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

from qstar_cli.artifacts import records as R
from qstar_cli.batching import pipelined
from qstar_cli.errors import QstarError
from qstar_cli.labelers.targets import rollout_label
from qstar_cli.labelers.tree import build_tree, open_states, path, tree_to_records
from qstar_cli.steps import StepFormat


def count_steps(candidate, fmt: StepFormat) -> int:
    if fmt.kind == "tokens":
        return math.ceil(candidate.tokens / fmt.tokens)
    return len(fmt.char_spans(candidate.text))


def grade_all(grade, pairs: list[tuple[dict, str]]) -> list[float]:
    """Rewards of many (record, text) pairs: in one call when the grader batches (`grade.many`)."""
    many = getattr(grade, "many", None)
    return many(pairs) if many is not None else [grade(rec, text) for rec, text in pairs]


def label_batch(
    records: list[dict], env, grade: Callable[[dict, str], float], fmt: StepFormat, **options
) -> list[dict]:
    """qlabels records for `records` (collect-rollouts records), one `complete` per state: one
    batch of `label_batches`, whose keywords (`options`) it takes.

    `grade(record, solution_text)` is the 0/1 reward; `prompt_for(record)` the prompt a stronger
    policy continues from (default: the policy's own prompt as recorded).
    """
    return next(label_batches([records], env, grade, fmt, **options))


def label_batches(
    batches: Iterable[list[dict]],
    env,
    grade: Callable[[dict, str], float],
    fmt: StepFormat,
    *,
    n: int,
    temperature: float,
    gamma: float,
    include_own: bool,
    method: str,
    prompt_for: Callable[[dict], str] | None = None,
) -> Iterator[list[dict]]:
    """`label_batch` for each batch in turn, the next batch's states submitted before this batch is
    waited for (on vLLM the engine never drains between batches); yields each batch's records."""
    work = [(records, open_states(records, prompt_for)) for records in batches]
    results = completions(env, (requests for _, (_, requests, _) in work), n, temperature)
    for (records, (trees, _, owners)), outputs in zip(work, results):
        pairs = [
            (records[qi], "".join(path(trees[qi], ni)) + c.text)
            for (qi, ni), cands in zip(owners, outputs)
            for c in cands
        ]
        rewards = iter(grade_all(grade, pairs))
        outcomes: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for (qi, ni), cands in zip(owners, outputs):
            outcomes[(qi, ni)] = [(count_steps(c, fmt), next(rewards)) for c in cands]
        yield _assemble(records, trees, outcomes, gamma, include_own, method)


def completions(env, batches: Iterable[list], n: int, temperature: float) -> Iterator[list[list]]:
    """n continuations of each request of each batch, batch by batch, the next batch submitted
    (`env.submit`) before this one is waited for (`env.collect`)."""

    def submit(requests: list) -> list[int]:
        return [env.submit("complete", question, steps, n, temperature) for question, steps in requests]

    return pipelined(batches, submit, env.collect)


def relabel(
    records: list[dict], reused: dict[str, dict], *, n: int, gamma: float, include_own: bool, method: str
) -> list[dict]:
    """qlabels records for `records` from the continuations another label run sampled from the same
    states (`reused`: its records by question id): the first n of each state's, nothing generated.
    The first n of M independent samples are n independent samples, so this is the label an M = n
    run would give, on exactly the same states (`check_reuse` has checked they are). With n = 0
    nothing is reused (`reused` may be empty): the trajectories' own endings label every node."""
    trees, outcomes = [], {}
    for qi, rec in enumerate(records):
        nodes = build_tree(rec["trajectories"])
        trees.append(nodes)
        if not n:  # no continuations: the trajectories' own endings label every node
            continue
        old = reused[rec["id"]]["nodes"]
        for node in nodes:
            if not node.terminal:
                outcomes[(qi, node.index)] = [(int(k), float(r)) for k, r in old[node.index]["continuations"][:n]]
    return _assemble(records, trees, outcomes, gamma, include_own, method)


def check_reuse(records: list[dict], reused: dict[str, dict], n: int, where: str) -> None:
    """Every question of `records` is in the reused run, with the same step tree, and every state
    has at least n recorded continuations; else one clear error (before any work)."""
    for rec in records:
        old = reused.get(rec["id"])
        if old is None:
            raise QstarError(f"{where} has no labels for question {rec['id']!r}: reuse a run of the same rollouts")
        nodes = build_tree(rec["trajectories"])
        if [n_.step for n_ in nodes] != [o["step"] for o in old["nodes"]]:
            raise QstarError(
                f"{where} labelled other steps for question {rec['id']!r}: reuse a run of the same rollouts"
            )
        for node, o in zip(nodes, old["nodes"]):
            if node.terminal:
                continue
            if "continuations" not in o:
                raise QstarError(f"{where} did not record its continuations (labelled by an older qstar); relabel it")
            if len(o["continuations"]) < n:
                raise QstarError(
                    f"{where} sampled {len(o['continuations'])} continuations per state; "
                    f"{n} asked for: reuse needs at most as many as were sampled"
                )


def _assemble(records, trees, outcomes, gamma, include_own, method) -> list[dict]:
    labelled = []
    for qi, (rec, nodes) in enumerate(zip(records, trees)):
        labels = [rollout_label(node, outcomes.get((qi, node.index), []), gamma, include_own) for node in nodes]
        labelled.append(R.qlabel_record(source=rec, method=method, gamma=gamma, nodes=tree_to_records(nodes, labels)))
    return labelled
