"""`qstar label --method fqi`: fitted Q-iteration (offline RL) over the collected step trees.

1. Candidates: at every non-terminal s_{t+1} the policy proposes K next actions once (one
   batched call per batch of questions); they are saved in candidates.jsonl and reused by every
   iteration. A candidate that ends the solution is graded, so its reward is known.
2. For l = 1..L: y_l(s_t, a_t) = R + gamma * max_a' Q_{l-1}(s_{t+1}, a') (y = R at the end). The
   actions a' at s_{t+1} are the K candidates and the trajectories' own next steps (the node's
   children in the step tree). An a' that ends the solution is worth its reward R(s_{t+1}, a'),
   which is known, so it is never scored; every other a' is worth Q_{l-1}(s_{t+1}, a'). A fresh
   QVM Q_l is fitted on y_l with the train-q core, and it scores the open a' for the next round.
   Q_0 = 0, or `label.init_qvm`. Each iteration keeps its targets' statistics, its training
   metrics and its model in iter_<l>/; a finished iteration is not redone on resume.
The final targets y_L become the run's qlabels.jsonl, and iter_L/qvm is a QVM ready for search.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from qstar_cli import ui
from qstar_cli.artifacts import records as R
from qstar_cli.artifacts.jsonl import write_jsonl
from qstar_cli.artifacts.rundir import RunDir, write_json_atomic
from qstar_cli.config import to_dict
from qstar_cli.errors import QstarError
from qstar_cli.labelers.continuation import grade_all
from qstar_cli.labelers.targets import fqi_label
from qstar_cli.labelers.tree import Node, build_tree, path, tree_to_records
from qstar_cli.stages.common import chunks
from qstar_cli.value.model import QVMMeta

CANDIDATES = "candidates.jsonl"


def sample_candidates(rundir: RunDir, records: list[dict], backend, grade, fmt, k: int, temperature: float,
                      batch_questions: int, top_p: float = 1.0, max_step_tokens: int = 256) -> None:
    """Append one candidates record per question: for each node, K proposed next actions."""
    from qstar_cli.backends.base import Policy

    policy = Policy(backend, fmt, max_step_tokens)
    todo = [r for r in records if r["id"] not in rundir.finished_ids]
    with ui.progress() as bar:
        task = bar.add_task("fqi candidates", total=len(records), completed=len(records) - len(todo), stats="")
        for batch in chunks(todo, batch_questions):
            trees = [build_tree(r["trajectories"]) for r in batch]
            states, owners = [], []
            for qi, (rec, nodes) in enumerate(zip(batch, trees)):
                for node in nodes:
                    if not node.terminal:
                        states.append(rec["prompt"] + "".join(path(nodes, node.index)))
                        owners.append((qi, node.index))
            proposals = policy.propose_steps(states, k, temperature, top_p) if states else []
            # only EOS ends a solution ("length" is a step cut at its token limit): grade those, in one call
            ends = [(batch[qi], "".join(path(trees[qi], ni)) + g.text) for (qi, ni), gens in zip(owners, proposals)
                    for g in gens if g.finish_reason == "eos"]
            rewards = iter(grade_all(grade, ends))
            per_node: dict[tuple[int, int], list[dict]] = {}
            for (qi, ni), gens in zip(owners, proposals):
                per_node[(qi, ni)] = [{"step": g.text, "terminal": g.finish_reason == "eos",
                                       "reward": next(rewards) if g.finish_reason == "eos" else 0.0} for g in gens]
            for qi, (rec, nodes) in enumerate(zip(batch, trees)):
                rundir.append({"schema": R.schema_tag("candidates"), "id": rec["id"],
                               "nodes": [per_node.get((qi, n.index), []) for n in nodes]})
            bar.update(task, advance=len(batch), stats=f"{backend.usage.generated_tokens:,} tokens")
    rundir.close()


def next_actions(nodes: list[Node], node_candidates: list[list[dict]]) -> list[list[dict]]:
    """Per node, the actions a' at its next state s_{t+1}, each {"step", "terminal", "reward"}: its
    sampled candidates, then the trajectories' own next steps (its children in the tree)."""
    actions = [list(c) for c in node_candidates]
    for child in nodes:
        if child.parent >= 0:
            actions[child.parent].append({"step": child.step, "terminal": child.terminal, "reward": child.reward})
    return actions


def targets(records: list[dict], candidates: dict[str, list[list[dict]]],
            scores: dict[str, list[list[float | None]]] | None, gamma: float) -> list[list[float]]:
    """y_l per node of every record, from `score_candidates`'s Q_{l-1} (None: Q_0 = 0).

    An a' that ends the solution is worth its reward, every other one its Q_{l-1}(s_{t+1}, a').
    """
    out = []
    for rec in records:
        nodes = build_tree(rec["trajectories"])
        ys = []
        for node, actions in zip(nodes, next_actions(nodes, candidates[rec["id"]])):
            q_next = scores[rec["id"]][node.index] if scores is not None else [0.0] * len(actions)
            values = [a["reward"] if a["terminal"] else q for a, q in zip(actions, q_next, strict=True)]
            ys.append(fqi_label(node, values, gamma))
        out.append(ys)
    return out


def score_candidates(qvm, records: list[dict],
                     candidates: dict[str, list[list[dict]]]) -> dict[str, list[list[float | None]]]:
    """Q_l(s_{t+1}, a') per node for each of its `next_actions`, in one batched scoring pass.

    An a' that ends the solution is not scored (None): its reward is its value.
    """
    items, owners = [], []
    scores = {}
    for rec in records:
        nodes = build_tree(rec["trajectories"])
        actions = next_actions(nodes, candidates[rec["id"]])
        scores[rec["id"]] = [[None] * len(a) for a in actions]
        for node in nodes:
            steps = path(nodes, node.index)
            for a_i, action in enumerate(actions[node.index]):
                if not action["terminal"]:
                    items.append((rec["question"], steps, action["step"]))
                    owners.append((rec["id"], node.index, a_i))
    flat = qvm.score(items)
    for (qid, ni, ai), s in zip(owners, flat, strict=True):
        scores[qid][ni][ai] = s
    return scores


def run(config, manifest, records: list[dict], fmt, grade) -> Path:
    from qstar_cli.stages import label as label_stage
    from qstar_cli.value.fit import fit_qvm
    from qstar_cli.value.model import QVM

    cfg = config.label
    out = Path(cfg.out) if cfg.out else Path(cfg.input).parent / f"qlabels-fqi-{Path(cfg.input).name}"
    cfg.out = str(out)
    inputs = {"rollouts": str(Path(cfg.input).resolve()), "rollouts_sha256": manifest.get("records_sha256")}
    rundir = RunDir.open(out, stage=label_stage.STAGE, kind="candidates", records_name=CANDIDATES,
                         config=to_dict(config), inputs=inputs, expected_ids=[r["id"] for r in records],
                         total_questions=len(records), seeds={"policy": config.policy.seed, "train": config.train.seed})
    start = time.perf_counter()
    if len(rundir.finished_ids) < len(records):
        from qstar_cli.backends import load_backend

        ui.info("loading the policy to propose candidate actions ...")
        backend = load_backend(config.policy)
        temperature = cfg.temperature if cfg.temperature is not None else config.sampling.temperature
        sample_candidates(rundir, records, backend, grade, fmt, cfg.candidates, temperature, cfg.batch_questions,
                          config.sampling.top_p)
        backend.close()
    candidates = {c["id"]: c["nodes"] for c in rundir.iter_records()}

    scores = None
    if cfg.init_qvm:
        qvm = QVM.load(cfg.init_qvm, batch_size=config.train.score_batch_size)
        qvm.check_compatible(str(fmt))
        scores = score_candidates(qvm, records, candidates)
    policy_name = config.policy.model or "embedded"
    history = []
    for it in range(1, cfg.iterations + 1):
        it_dir = out / f"iter_{it}"
        ys = targets(records, candidates, scores, cfg.gamma)
        flat = [y for row in ys for y in row]
        stats = {"iteration": it, "labels": len(flat), "mean_y": sum(flat) / len(flat),
                 "positive_rate": sum(y >= 0.5 for y in flat) / len(flat), "max_y": max(flat), "min_y": min(flat)}
        done_file = it_dir / "metrics.json"
        if done_file.exists() and (it_dir / "qvm" / "qstar_qvm.json").exists():
            ui.info(f"fqi iteration {it} already trained; reusing {it_dir / 'qvm'}")
            qvm = QVM.load(it_dir / "qvm", batch_size=config.train.score_batch_size)
            stats = json.loads(done_file.read_text())
        else:
            ui.info(f"fqi iteration {it}/{cfg.iterations}: mean target {stats['mean_y']:.3f}")
            labelled = _label_records(records, ys, cfg.gamma)
            from qstar_cli.value.fit import examples_from_records

            meta = QVMMeta(step_format=str(fmt), datasets=[config.data.name], policy=policy_name, label_method="fqi")
            qvm, train_metrics = fit_qvm(examples_from_records(labelled), config.train, it_dir, meta)
            stats["train"] = train_metrics
            write_json_atomic(done_file, stats)
        history.append(stats)
        if it < cfg.iterations:  # the last model's scores would feed no further target
            scores = score_candidates(qvm, records, candidates)

    labelled = _label_records(records, ys, cfg.gamma)
    write_jsonl(out / label_stage.RECORDS, labelled)
    rundir.kind, rundir.records_path = "qlabels", out / label_stage.RECORDS
    rundir.finished_ids = {r["id"] for r in labelled}
    rundir.update_session(seconds=round(time.perf_counter() - start, 3))
    metrics = label_stage.label_metrics(labelled, rundir.manifest["sessions"])
    metrics["iterations"] = history
    metrics["final_qvm"] = str(out / f"iter_{cfg.iterations}" / "qvm")
    rundir.finish(metrics)
    label_stage.show_summary(metrics, out)
    return out


def _label_records(records: list[dict], ys: list[list[float]], gamma: float) -> list[dict]:
    labelled = []
    for rec, row in zip(records, ys):
        nodes = build_tree(rec["trajectories"])
        if len(row) != len(nodes):
            raise QstarError(f"internal: {len(row)} targets for {len(nodes)} nodes of {rec['id']}")
        labels = [{"y": y} for y in row]
        labelled.append(R.qlabel_record(source=rec, method="fqi", gamma=gamma, nodes=tree_to_records(nodes, labels)))
    return labelled
