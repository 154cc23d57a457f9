"""`qstar train-q`: fit the Q-value model on one or more label runs.

The label runs must agree on the step format and the policy whose rollouts they label (a QVM
estimates that policy's future); mixing datasets needs `train.mixed_datasets=true`. The run dir
holds the QVM (`qvm/`, loadable by search), config.yaml, manifest.json and metrics.json with
held-out MSE, ROC-AUC with a by-question bootstrap interval, ROC-AUC by step depth, the
step-position baseline and a calibration table. A complete run is not retrained on rerun.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from qstar_cli import ui
from qstar_cli.artifacts.rundir import check_run, open_stage_run, read_stage_run, verify_complete
from qstar_cli.config import TrainConfig, to_dict, to_yaml
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.stages.common import run_settings
from qstar_cli.value.metrics import MIN_PER_CLASS, MIN_QUESTIONS
from qstar_cli.value.model import QVMMeta

ME = STAGES["train"]
STAGE = ME.command


def label_sources(label_dirs: list[str], mixed_datasets: bool = False):
    """Records of all label runs, checked to come from one policy and one step format."""
    runs, sources = [], []
    for d in label_dirs:
        manifest, recs = read_stage_run(STAGES["label"], d)
        config = yaml.safe_load((Path(d) / "config.yaml").read_text(encoding="utf-8")) or {}
        sources.append(
            {
                "dir": str(Path(d).resolve()),
                "dataset": config.get("data", {}).get("name"),
                "policy": config.get("policy", {}).get("model") or "embedded",
                "step_format": recs[0]["step_format"] if recs else None,
                "method": config.get("label", {}).get("method"),
                "sha256": manifest.get("records_sha256"),
            }
        )
        runs.append((d, recs))
    for key, what in (("policy", "policies"), ("step_format", "step formats")):
        values = {s[key] for s in sources if s[key] is not None}
        if len(values) > 1:
            raise QstarError(
                f"the label runs come from different {what} ({', '.join(sorted(values))}); "
                f"a QVM estimates one policy's future with one step format: train one per {key}"
            )
    datasets = sorted({s["dataset"] for s in sources})
    if len(datasets) > 1 and not mixed_datasets:
        raise QstarError(
            f"the label runs come from different datasets ({', '.join(datasets)}); "
            f"set train.mixed_datasets=true if that is intended"
        )
    records, seen = [], {}
    for d, recs in runs:
        for rec in recs:
            if rec["id"] in seen:
                raise QstarError(f"question {rec['id']!r} is labelled in both {seen[rec['id']]} and {d}")
            seen[rec["id"]] = d
        records += recs
    if not records:
        raise QstarError("the label runs hold no labelled questions: nothing to train on")
    return records, sources


def run(config: TrainConfig) -> Path:
    cfg = config.train
    if not cfg.labels:
        raise QstarError("qstar train-q needs label runs: --labels DIR (repeatable)")
    records, sources = label_sources(cfg.labels, cfg.mixed_datasets)
    from qstar_cli.value.train import check_processes, processes

    # under `accelerate launch` every process trains its share of each batch; the first one alone
    # speaks, keeps the run folder and saves the model
    check_processes(cfg)
    rank = processes()[0]
    from qstar_cli.backends.models import resolve_model

    # a --backbone that cannot be found fails before the header, as a wrong --model does
    if cfg.backbone == "policy":
        from qstar_cli.value.policy import check_policy

        check_policy(cfg, sources[0]["policy"])  # the policy and its layers, from its config alone
    else:
        resolve_model(None if cfg.backbone in ("", "embedded") else cfg.backbone)
    out = Path(cfg.out) if cfg.out else Path(cfg.labels[0]).parent / f"qvm-{Path(cfg.labels[0]).name}"
    cfg.out = str(out)
    if rank == 0:
        ui.header(
            STAGE,
            out,
            run_settings(
                config,
                "train.labels",
                "train.backbone",
                "train.max_steps" if cfg.max_steps else "train.epochs",
                "train.batch_size",
                "train.learning_rate",
            ),
            to_yaml(config),
        )
    inputs = {"labels": [s["dir"] for s in sources], "labels_sha256": [s["sha256"] for s in sources]}
    found = check_run(out, stage=STAGE, config=to_dict(config), inputs=inputs)
    if found and found.get("complete"):
        verify_complete(out, found, None)
        if rank == 0:
            ui.info(f"{out} is already trained (manifest complete); nothing to do")
        return out
    if rank == 0:
        rundir = open_stage_run(
            ME,
            out,
            config=to_dict(config),
            inputs=inputs,
            expected_ids=[],
            total_questions=len(records),
            seeds={"train": cfg.seed},
        )  # a model, not records: the stage's row has no records file
    from qstar_cli.value.fit import examples_from_records, fit_qvm

    meta = QVMMeta(
        step_format=sources[0]["step_format"],
        datasets=sorted({s["dataset"] for s in sources}),
        policy=sources[0]["policy"],
        label_method=",".join(sorted({s["method"] for s in sources})),
    )
    start = time.perf_counter()
    _, metrics = fit_qvm(examples_from_records(records), cfg, out, meta, resume=True)
    if rank != 0:
        return out
    metrics["labels"] = sources
    rundir.update_session(seconds=round(time.perf_counter() - start, 3))
    rundir.finish(metrics)
    show_summary(metrics, out)
    return out


def _grouped(held: dict, key: str, count: str) -> str:
    """A ranking within groups (questions, sibling states): its AUC, 95% CI by question and groups used."""
    ci = held.get(f"{key}_auc_ci95")
    value = held.get(f"{key}_auc")
    return (
        ("-" if value is None else f"{value:.4f}")
        + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        + f" ({held.get(count, 0)})"
    )


def show_summary(metrics: dict, out: Path) -> None:
    held = metrics["heldout"]
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    ui.summary(
        f"train-q -> {out / 'qvm'}",
        [
            ("train examples (questions)", f"{metrics['train_examples']:,} ({metrics['train_questions']})"),
            ("held-out examples (questions)", f"{held.get('examples', 0):,} ({held.get('questions', 0)})"),
            ("train loss first -> last", f"{fmt(metrics['train_loss_first'])} -> {fmt(metrics['train_loss_last'])}"),
            ("held-out MSE", fmt(held.get("mse"))),
            ("held-out MSE of the mean (baseline)", fmt(held.get("baseline_mse"))),
            ("held-out ROC-AUC (95% CI by question)", _auc_with_ci(held)),
            ("held-out ROC-AUC of step depth (baseline)", fmt(held.get("baseline_position_auc"))),
            ("held-out ROC-AUC of the policy's step log-prob (baseline)", fmt(held.get("baseline_logprob_auc"))),
            (
                "within-question ROC-AUC (questions with both classes)",
                _grouped(held, "within_question", "within_question_questions"),
            ),
            ("  the same for the step log-prob (baseline)", fmt(held.get("baseline_logprob_within_question_auc"))),
            (
                "sibling ROC-AUC (states with both classes)",
                _grouped(held, "sibling", "sibling_states"),
            ),
            (
                "final-step ROC-AUC within a question (questions)",
                _grouped(held, "final_step", "final_step_questions"),
            ),
            ("held-out positive rate", fmt(held.get("positive_rate"))),
            ("train ROC-AUC", fmt(metrics["train_eval"].get("roc_auc"))),
            ("train time", f"{metrics['train_seconds']:.1f} s"),
        ],
    )
    from rich.table import Table

    if held.get("auc_by_depth"):
        table = Table(title="held-out ROC-AUC by depth (steps before the action)", header_style="bold")
        for col in ("depth", "examples", "positive rate", "ROC-AUC"):
            table.add_column(col, justify="right")
        for row in held["auc_by_depth"]:
            table.add_row(str(row["depth"]), f"{row['examples']:,}", f"{row['positive_rate']:.3f}", fmt(row["roc_auc"]))
        ui.out.print(table)
    if held.get("calibration"):
        table = Table(title="held-out calibration", header_style="bold")
        for col in ("bin", "count", "mean prediction", "mean label"):
            table.add_column(col, justify="right")
        for row in held["calibration"]:
            table.add_row(row["bin"], str(row["count"]), f"{row['mean_pred']:.3f}", f"{row['mean_label']:.3f}")
        ui.out.print(table)
    if held.get("too_small"):
        n_pos = round(held["positive_rate"] * held["examples"])
        ui.warn(
            f"the held-out ROC-AUC means little with {held['questions']} question(s), {n_pos:,} positive and "
            f"{held['examples'] - n_pos:,} negative example(s) (it needs {MIN_QUESTIONS} questions and "
            f"{MIN_PER_CLASS} of each class): label more questions or raise train.heldout_fraction"
        )


def _auc_with_ci(held: dict) -> str:
    """'0.6123 [0.55, 0.67]'; the interval left out where there is none (fewer than 2 questions)."""
    auc, ci = held.get("roc_auc"), held.get("roc_auc_ci95")
    if auc is None:
        return "-"
    return f"{auc:.4f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{auc:.4f}"
