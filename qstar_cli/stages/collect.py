"""`qstar collect-rollouts`: M complete solutions per question from the frozen policy.

Questions go to the backend in batches (`collect.batch_questions` prompts x M samples in one
call). Each solution is cut into steps (the dataset's step format) with per-step token counts and
logprob sums, graded, and the question's record is appended and flushed before the next one, so
an interrupted run resumes where it stopped. The engine is seeded once (`policy.seed`); a resumed
run continues with fresh samples rather than replaying the same ones.
"""

from __future__ import annotations

from pathlib import Path

from qstar_cli import ui
from qstar_cli.artifacts import records as R
from qstar_cli.config import CollectConfig, to_yaml
from qstar_cli.config.sections import STAGES
from qstar_cli.stages.common import Plan, chunks, default_out, open_run, question_inputs, run_settings, select_problems
from qstar_cli.steps import StepFormat

ME = STAGES["collect"]
STAGE, RECORDS = ME.command, ME.records


def plan(config: CollectConfig) -> Plan:
    """Every check a user's input can fail that loads no model, and what the run will be."""
    from qstar_cli.backends import choose_backend, model_reference

    dataset, problems, total = select_problems(config.data, config.execution)
    fmt = StepFormat.parse(config.data.step_format or dataset.default_step_format)
    choose_backend(config.policy.backend)
    out = Path(config.collect.out) if config.collect.out else default_out("rollouts", config.data)
    return Plan(
        out,
        problems,
        total,
        run_inputs(config, problems),
        fmt=fmt,
        dataset=dataset,
        model=model_reference(config.policy),
    )


def prepare(config: CollectConfig):
    """Everything that needs no model: the checks, then the run dir.

    The model is resolved before the run dir exists: a typo in --model must not leave behind a
    run whose config names a model that was never loaded (the corrected rerun would be refused).
    """
    p = plan(config)
    config.collect.out = str(p.out)
    return p.dataset, p.items, p.fmt, p.model, open_run(ME, p, config)


def run_inputs(config: CollectConfig, problems) -> dict:
    """What the run is made from besides its config (see RunDir.open)."""
    return question_inputs(config.data, problems)


def run(config: CollectConfig) -> Path:
    dataset, problems, fmt, model_path, rundir = prepare(config)  # a user's error stops here, before the config
    ui.header(
        STAGE,
        rundir.path,
        run_settings(config, "collect.num_rollouts", "sampling.temperature", "sampling.max_tokens"),
        to_yaml(config),
    )
    todo = rundir.todo(problems)
    with rundir.session() as session:
        if todo:
            _generate(config, model_path, dataset, todo, fmt, rundir, session, len(problems) - len(todo), len(problems))
    metrics = rundir.complete(lambda records, sessions: {**compute_metrics(records, sessions), **describe(config)})
    show_summary(metrics, rundir.path)
    return rundir.path


def describe(config: CollectConfig) -> dict:
    """What a report shows beside the numbers, recorded with them."""
    from qstar_cli.stages.common import describe_questions

    return {
        **describe_questions(config),
        "num_rollouts": config.collect.num_rollouts,
        "temperature": config.sampling.temperature,
        "max_tokens": config.sampling.max_tokens,
    }


def _generate(config, model_path, dataset, todo, fmt, rundir, session, done: int, total: int) -> None:
    from qstar_cli.backends import load_backend
    from qstar_cli.environment import Policy

    ui.info("loading the policy ...")
    session.update(generated_tokens=0, generation_seconds=0.0)
    correct = trajectories = 0
    with Policy(load_backend(config.policy, model_path), fmt) as policy, ui.progress() as bar:
        backend, usage = policy.backend, policy.usage
        task = bar.add_task("collect", total=total, completed=done, stats="")
        batches = list(chunks(todo, config.collect.batch_questions))
        prompt_lists = [
            [policy.render(dataset.messages(p, num_shots=config.data.num_shots)) for p in batch] for batch in batches
        ]
        before = (usage.generated_tokens, usage.seconds)
        sampling = config.sampling
        outputs_of = policy.complete_batches(
            ((prompts, [p.id for p in batch]) for prompts, batch in zip(prompt_lists, batches)),
            config.collect.num_rollouts,
            sampling.temperature,
            sampling.max_tokens,
            sampling.top_p,
            logprobs=0,
        )
        for batch, prompts, outputs in zip(batches, prompt_lists, outputs_of):
            session["generated_tokens"] += usage.generated_tokens - before[0]
            session["generation_seconds"] += usage.seconds - before[1]
            session["retries"] = backend.retries  # this session's backend: a server's failed requests sent again
            before = (usage.generated_tokens, usage.seconds)
            # one grading call per batch: code datasets run all its programs in parallel
            grades = iter(
                dataset.grade_batch(
                    [g.text for gens in outputs for g in gens], [p for p, gens in zip(batch, outputs) for _ in gens]
                )
            )
            for problem, prompt, gens in zip(batch, prompts, outputs):
                trajs = [_trajectory(backend, dataset, g, fmt, next(grades)) for g in gens]
                rundir.append(
                    R.rollout_record(
                        problem=problem,
                        dataset=config.data.name,
                        split=config.data.split,
                        prompt=prompt,
                        step_format=str(fmt),
                        trajectories=trajs,
                    )
                )
                session["generated_questions"] += 1
                correct += sum(t["reward"] for t in trajs)
                trajectories += len(trajs)
                tps = session["generated_tokens"] / max(session["generation_seconds"], 1e-9)
                bar.update(task, advance=1, stats=f"{tps:,.0f} tok/s  acc {correct / trajectories:.1%}")


def _trajectory(backend, dataset, gen, fmt: StepFormat, grade) -> dict:
    steps = [R.step(s.text, s.tokens, s.logprob) for s in backend.split_steps(gen, fmt)]
    answer = dataset.extract_answer(gen.text)
    reward = 1.0 if answer is not None and grade.correct else 0.0
    traj = R.trajectory(
        text=gen.text,
        steps=steps,
        answer=answer,
        reward=reward,
        finish_reason=gen.finish_reason,
        tokens=gen.num_tokens,
        logprob=gen.logprob,
    )
    if grade.status is not None:  # code: why it failed (assertion, timeout, syntax, ...)
        traj["status"] = grade.status
    return traj


def compute_metrics(records: list[dict], sessions: list[dict]) -> dict:
    trajs = [t for r in records for t in r["trajectories"]]
    tokens = sum(t["tokens"] for t in trajs)
    gen_tokens = sum(s.get("generated_tokens", 0) for s in sessions)
    gen_seconds = sum(s.get("generation_seconds", 0.0) for s in sessions)
    finish: dict[str, int] = {}
    for t in trajs:
        finish[t["finish_reason"]] = finish.get(t["finish_reason"], 0) + 1
    return {
        "questions": len(records),
        "trajectories": len(trajs),
        "mean_sample_accuracy": sum(t["reward"] for t in trajs) / len(trajs) if trajs else 0.0,
        "pass_at_m": sum(any(t["reward"] > 0 for t in r["trajectories"]) for r in records) / len(records)
        if records
        else 0.0,
        "tokens": tokens,
        "tokens_per_trajectory": tokens / len(trajs) if trajs else 0.0,
        "mean_steps": sum(len(t["steps"]) for t in trajs) / len(trajs) if trajs else 0.0,
        "finish_reasons": finish,
        "wall_seconds": round(sum(s.get("seconds", 0.0) for s in sessions), 3),
        "generation_tokens_per_second": gen_tokens / gen_seconds if gen_seconds else None,
        "backend_retries": sum(s.get("retries", 0) for s in sessions),
    }


def show_summary(metrics: dict, path: Path) -> None:
    m = metrics
    tps = m["generation_tokens_per_second"]
    ui.summary(
        f"collect-rollouts -> {path}",
        [
            ("questions", str(m["questions"])),
            ("trajectories", str(m["trajectories"])),
            ("mean sample accuracy", f"{m['mean_sample_accuracy']:.1%}"),
            ("pass@M", f"{m['pass_at_m']:.1%}"),
            ("tokens", f"{m['tokens']:,}"),
            ("tokens / trajectory", f"{m['tokens_per_trajectory']:.1f}"),
            ("steps / trajectory", f"{m['mean_steps']:.1f}"),
            ("generation tokens/s", f"{tps:,.1f}" if tps else "-"),
            ("wall time", f"{m['wall_seconds']:.1f} s"),
        ],
    )
