"""Record schemas: the one place that says what each artifact's records hold.

Every record carries `schema: "<kind>/<version>"` and an `id` (the question id). Records are
plain dicts on disk (JSONL); `check_record` validates one as it is read, naming the file and line
of anything that does not fit, so a downstream stage never works on a half-understood file.
"""

from __future__ import annotations

from qstar_cli.errors import QstarError

SCHEMA_VERSIONS = {"rollouts": 1, "qlabels": 1, "candidates": 1, "predictions": 1}

# The question a rollouts record is about, carried over to the qlabels record of its labels.
QUESTION_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "dataset": str,
    "split": str,
    "question": str,
    "reference": str,
    "prompt": str,
    "step_format": str,
}

# kind -> {field: expected python type(s)} for the top level of a record
REQUIRED_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "rollouts": {**QUESTION_FIELDS, "trajectories": list},
    "qlabels": {
        **QUESTION_FIELDS,
        "method": str,
        "gamma": (int, float),
        "nodes": list,
    },
    # FQI's candidate actions: for every node of a question's step tree, the K proposed next steps
    "candidates": {"id": str, "nodes": list},
    "predictions": {
        "id": str,
        "question": str,
        "reference": str,
        "search": str,
        "answer": (str, type(None)),
        "correct": bool,
        "solution": str,
        "path": list,
        "terminals": list,
        "usage": dict,
        "wall_seconds": (int, float),
    },
}

# One node of a qlabels record: an (s_t, a_t) pair (the path from the root is a_1..a_t) and its label.
NODE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "parent": int,
    "step": str,
    "depth": int,
    "terminal": bool,
    "y": (int, float),
}

TRAJECTORY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "steps": list,
    "answer": (str, type(None)),
    "reward": (int, float),
    "finish_reason": str,
    "tokens": int,
}
STEP_FIELDS: dict[str, type | tuple[type, ...]] = {"text": str, "tokens": int, "logprob": (int, float, type(None))}


def schema_tag(kind: str) -> str:
    return f"{kind}/{SCHEMA_VERSIONS[kind]}"


def _check_fields(obj: dict, fields: dict, where: str, what: str) -> None:
    for name, typ in fields.items():
        if name not in obj:
            raise QstarError(f"{where}: {what} is missing field {name!r}")
        if not isinstance(obj[name], typ) or (typ is int and isinstance(obj[name], bool)):
            raise QstarError(f"{where}: {what} field {name!r} has the wrong type ({type(obj[name]).__name__})")


def check_record(kind: str, record: dict, where: str) -> dict:
    """Validate a record of `kind`; `where` is "file:line" for the message."""
    tag = record.get("schema")
    if tag != schema_tag(kind):
        if isinstance(tag, str) and tag.split("/")[0] == kind:
            raise QstarError(
                f"{where}: record schema {tag!r} is not the supported {schema_tag(kind)!r}; "
                f"regenerate it with this qstar version"
            )
        raise QstarError(f"{where}: expected a {kind} record (schema {schema_tag(kind)!r}), found {tag!r}")
    _check_fields(record, REQUIRED_FIELDS[kind], where, f"{kind} record")
    if kind == "rollouts":
        for t in record["trajectories"]:
            if not isinstance(t, dict):
                raise QstarError(f"{where}: a trajectory is not an object")
            _check_fields(t, TRAJECTORY_FIELDS, where, "trajectory")
            for s in t["steps"]:
                if not isinstance(s, dict):
                    raise QstarError(f"{where}: a step is not an object")
                _check_fields(s, STEP_FIELDS, where, "step")
    if kind == "qlabels":
        for i, node in enumerate(record["nodes"]):
            if not isinstance(node, dict):
                raise QstarError(f"{where}: a node is not an object")
            _check_fields(node, NODE_FIELDS, where, "node")
            if not -1 <= node["parent"] < i:
                raise QstarError(f"{where}: node {i} has parent {node['parent']}, which does not come before it")
            if not 0 <= node["y"] <= 1:
                raise QstarError(f"{where}: node {i} has label y={node['y']} outside [0, 1]")
    return record


def rollout_record(
    *, problem, dataset: str, split: str, prompt: str, step_format: str, trajectories: list[dict]
) -> dict:
    return {
        "schema": schema_tag("rollouts"),
        "id": problem.id,
        "dataset": dataset,
        "split": split,
        "question": problem.question,
        "reference": problem.reference,
        "prompt": prompt,
        "step_format": step_format,
        "trajectories": trajectories,
    }


def trajectory(
    *,
    text: str,
    steps: list[dict],
    answer: str | None,
    reward: float,
    finish_reason: str,
    tokens: int,
    logprob: float | None,
) -> dict:
    return {
        "text": text,
        "steps": steps,
        "answer": answer,
        "reward": reward,
        "finish_reason": finish_reason,
        "tokens": tokens,
        "logprob": logprob,
    }


def step(text: str, tokens: int, logprob: float | None) -> dict:
    return {"text": text, "tokens": tokens, "logprob": logprob}


def qlabel_record(*, source: dict, method: str, gamma: float, nodes: list[dict]) -> dict:
    """A question's labelled step tree, carrying over the question fields of its rollouts record."""
    return {
        "schema": schema_tag("qlabels"),
        **{k: source[k] for k in QUESTION_FIELDS},
        "method": method,
        "gamma": gamma,
        "nodes": nodes,
    }
