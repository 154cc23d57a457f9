"""`qstar eval`: answer a dataset's questions with one search method; predictions + metrics.

Questions are searched together in batches of `eval.batch_questions`: within a batch every round
of every method is ONE policy call and ONE QVM call for all questions. Each question's record
(answer, correct, chosen path with f/g/h per step, all terminals, compute spent, optionally the
whole tree) is appended as soon as its batch finishes, so an interrupted eval resumes. Metrics:
accuracy with a 95% bootstrap CI (and strict accuracy: only answers stated in the final-answer
format count, as lm-evaluation-harness's strict-match), pass@terminals, tokens and calls per
question, wall time. What each method is and reads comes from the search registry
(`qstar_cli.search.SEARCHERS`); its config is built from the resolved sections generically.

`--qvm oracle` replaces the QVM by the oracle heuristic (qstar_cli/search/oracle.py), which grades
the policy's continuations against the reference answers: its tokens are counted apart
(`oracle_tokens_per_question`), and the manifest, metrics.json and the summary say that the run
used the reference answers.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from qstar_cli import ui
from qstar_cli.config import SEARCH_KEYS, EvalConfig, to_yaml
from qstar_cli.config.sections import STAGES
from qstar_cli.errors import QstarError
from qstar_cli.search.base import Question
from qstar_cli.stages.common import Plan, default_out, open_run, question_inputs, run_settings, select_problems
from qstar_cli.stages.eval_records import eval_metrics, prediction_record, show_summary
from qstar_cli.steps import StepFormat

ME = STAGES["eval"]
STAGE, RECORDS = ME.command, ME.records


def load_qvm(path: str, fmt: StepFormat, config: EvalConfig):
    from qstar_cli.value.model import QVM, qvm_folder

    qvm = QVM.load(qvm_folder(path), batch_size=config.eval.qvm_batch_size)
    qvm.check_compatible(str(fmt))
    return qvm


def _check_qvm(path: str, fmt: StepFormat, config: EvalConfig) -> None:
    """The QVM's own record, read before anything loads: a wrong folder or step format stops here."""
    from qstar_cli.value.model import check_compatible, qvm_folder, read_meta

    meta = read_meta(qvm_folder(path))
    check_compatible(meta, str(fmt))
    policy = config.policy.model or "embedded"
    if meta.policy and meta.policy != policy:
        ui.warn(f"the QVM was trained on rollouts of {meta.policy!r}, but the policy is {policy!r}")
    if meta.datasets and config.data.name not in meta.datasets:
        ui.warn(f"the QVM was trained on {', '.join(meta.datasets)}, not {config.data.name}")


def load_prm(cfg):
    """The PRM of eval section `cfg`: PRMConfig's fields are the section's `prm_*` keys."""
    from dataclasses import fields

    from qstar_cli.value.prm import PRM, PRMConfig

    options = {f.name: getattr(cfg, f"prm_{f.name}") for f in fields(PRMConfig) if f.name != "model"}
    try:
        return PRM.load(PRMConfig(model=cfg.prm, **options))
    except QstarError as exc:
        message = str(exc)
        raise QstarError(message if "PRM" in message else f"cannot load the PRM {cfg.prm!r}: {message}") from None


def plan(config: EvalConfig) -> Plan:
    """Every check a user's input can fail that loads nothing, and what the run will be. Runs before
    the config is printed, so an error is the last thing on screen."""
    from qstar_cli.backends import choose_backend, model_reference
    from qstar_cli.backends.models import check_reference

    check_search(config)
    dataset, problems, total = select_problems(config.data, config.execution)
    fmt = StepFormat.parse(config.data.step_format or dataset.default_step_format)
    if uses_oracle(config):
        check_references(problems)
    elif config.eval.qvm:
        _check_qvm(config.eval.qvm, fmt, config)
    if config.eval.prm:
        check_reference(config.eval.prm, "PRM")
    choose_backend(config.policy.backend)
    out = Path(config.eval.out) if config.eval.out else default_out(f"eval-{config.eval.search}", config.data)
    # the searches sample at eval.temperature; sampling.temperature (the rollouts') is read only by the oracle
    unused = () if uses_oracle(config) else ("sampling.temperature",)
    return Plan(
        out,
        problems,
        total,
        run_inputs(config, problems),
        unused,
        fmt=fmt,
        dataset=dataset,
        model=model_reference(config.policy),
    )


def uses_oracle(config: EvalConfig) -> bool:
    from qstar_cli.search.oracle import ORACLE

    return config.eval.qvm == ORACLE


def check_references(problems) -> None:
    """The oracle grades continuations against the reference answers: every question needs one."""
    missing = [p.id for p in problems if not str(p.reference or "").strip()]
    if missing:
        raise QstarError(
            f"--qvm oracle grades continuations against the reference answers, and {len(missing)} of "
            f"the {len(problems)} selected questions have none (e.g. {missing[0]!r}); pick a dataset "
            f"or questions with answers"
        )


def oracle_config(cfg):
    """The OracleConfig of eval section `cfg`: its fields are the section's `oracle_*` keys."""
    from dataclasses import fields

    from qstar_cli.search.oracle import OracleConfig

    return OracleConfig(**{f.name: getattr(cfg, f"oracle_{f.name}") for f in fields(OracleConfig)})


def check_search(config: EvalConfig) -> None:
    """The models the chosen search needs are given."""
    from qstar_cli.search import SEARCHERS

    method = SEARCHERS[config.eval.search]
    if method.needs_qvm(method.configure(config)) and not config.eval.qvm:
        raise QstarError(
            f"--search {config.eval.search.replace('_', '-')} needs a Q-value model: --qvm DIR (from qstar train-q)"
        )


def prepare(config: EvalConfig, p: Plan):
    """The value models (which can still fail to load), then the run dir."""
    cfg = config.eval
    qvm = load_qvm(cfg.qvm, p.fmt, config) if cfg.qvm and not uses_oracle(config) else None
    prm = load_prm(cfg) if cfg.prm else None
    return qvm, prm, open_run(ME, p, config)


def run_inputs(config: EvalConfig, problems) -> dict:
    """What the run is made from besides its config (see RunDir.open): the questions and the QVM's
    weights (a QVM retrained into the same folder makes another run); an oracle run says that it
    read the reference answers."""
    inputs = question_inputs(config.data, problems)
    if uses_oracle(config):
        from qstar_cli.search.oracle import LABEL

        inputs["heuristic"] = LABEL
    elif config.eval.qvm:
        from qstar_cli.artifacts.rundir import sha256_file
        from qstar_cli.value.model import qvm_folder

        weights = qvm_folder(config.eval.qvm) / "model.safetensors"
        inputs["qvm_sha256"] = sha256_file(weights) if weights.exists() else None
    return inputs


def run(config: EvalConfig) -> Path:
    p = plan(config)
    cfg = config.eval
    cfg.out = str(p.out)
    method = [f"eval.{key}" for key in sorted(SEARCH_KEYS[cfg.search])]
    if uses_oracle(config):
        method += ["eval.oracle_rollouts", "eval.oracle_noise"]
    ui.header(STAGE, cfg.out, run_settings(config, "eval.search", *method), to_yaml(config))
    qvm, prm, rundir = prepare(config, p)
    todo = rundir.todo(p.items)
    with rundir.session() as session:
        if todo:
            _search(config, p, todo, qvm, prm, rundir, session)
    metrics = rundir.complete(
        lambda records, sessions: {**eval_metrics(records, sessions, config.eval.bootstrap), **describe(config, qvm)}
    )
    show_summary(metrics, rundir.path)
    return rundir.path


def describe(config: EvalConfig, qvm) -> dict:
    """What a report shows beside the numbers, recorded with them so no report re-derives it."""
    from qstar_cli.config import SEARCH_KEYS
    from qstar_cli.search.oracle import LABEL
    from qstar_cli.stages.common import describe_questions

    cfg = config.eval
    return {
        "search": cfg.search,
        **describe_questions(config),
        # the method's own settings: exactly the eval keys its search reads
        "settings": {k: getattr(cfg, k) for k in sorted(SEARCH_KEYS[cfg.search])},
        "qvm": cfg.qvm,
        "qvm_backbone": qvm.meta.backbone if qvm is not None else None,
        "qvm_label_method": qvm.meta.label_method if qvm is not None else None,
        "prm": cfg.prm,
        # the oracle heuristic read the reference answers: an upper bound, never a method
        **(
            {"heuristic": LABEL, "uses_reference_answers": True, "oracle": asdict(oracle_config(cfg))}
            if uses_oracle(config)
            else {"uses_reference_answers": False}
        ),
    }


def _search(config: EvalConfig, plan: Plan, todo: list, qvm, prm, rundir, session) -> None:
    """Search the questions not yet done, each prediction appended as soon as it is ready."""
    from qstar_cli import search
    from qstar_cli.backends import load_backend

    cfg = config.eval
    method_cfg = search.SEARCHERS[cfg.search].configure(config)
    ui.info("loading the policy ...")
    dataset = plan.dataset
    with load_backend(config.policy, plan.model) as backend, ui.progress() as bar:
        env = search_env(config, backend, dataset, plan.fmt, qvm, prm)
        if uses_oracle(config):
            env = oracle_env(env, dataset, todo, config)
        questions = [
            Question(q.id, q.question, backend.render(dataset.messages(q, num_shots=config.data.num_shots)))
            for q in todo
        ]
        correct = answered = 0
        task = bar.add_task(
            f"eval {cfg.search}", total=len(plan.items), completed=len(plan.items) - len(todo), stats=""
        )
        try:
            # up to batch_questions searched at once, a new one admitted as one finishes, each result
            # saved as soon as it is ready (a killed run loses only the questions in flight)
            for i, result in search.stream(
                cfg.search, questions, env, method_cfg, trees=cfg.trees, window=cfg.batch_questions
            ):
                record = prediction_record(todo[i], questions[i], result, dataset, cfg.search)
                rundir.append(record)
                session["generated_questions"] += 1
                correct += record["correct"]
                answered += 1
                u = backend.usage
                bar.update(
                    task,
                    advance=1,
                    stats=f"acc {correct / answered:.1%}  {u.generated_tokens / max(u.seconds, 1e-9):,.0f} tok/s",
                )
        finally:  # a stopped session spent tokens too: the manifest counts them
            session.update(**backend.session_usage())


def search_env(config: EvalConfig, backend, dataset, fmt: StepFormat, qvm, prm):
    """What the searches see of the policy, the QVM and the PRM, as the config sets them up."""
    from qstar_cli.environment import PolicySearchEnv

    return PolicySearchEnv(
        backend,
        dataset,
        fmt,
        qvm=qvm,
        prm=prm,
        max_step_tokens=config.eval.max_step_tokens,
        max_tokens=config.sampling.max_tokens,
        top_p=config.sampling.top_p,
    )


def oracle_env(env, dataset, problems, config: EvalConfig):
    """`env` with its QVM calls answered by the oracle: continuations at the sampling temperature,
    graded by the dataset against each question's reference answer."""
    from qstar_cli.search.oracle import OracleEnv
    from qstar_cli.stages.common import reward

    by_id = {p.id: p for p in problems}
    return OracleEnv(
        env,
        reward(dataset, lambda question: by_id[question.id]),
        oracle_config(config.eval),
        config.sampling.temperature,
    )
