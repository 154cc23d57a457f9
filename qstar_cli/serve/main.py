"""`qstar serve`: check what needs no model, load the models once, serve until SIGTERM or Ctrl-C
(requests in flight finish within the grace period), then print what was served."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import time
from dataclasses import dataclass
from types import SimpleNamespace

from qstar_cli import ui
from qstar_cli.config import EvalConfig
from qstar_cli.errors import QstarError

API_KEY_ENV = "QSTAR_API_KEY"


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    name: str = "qstar"  # the model id clients name
    api_key: str | None = None  # else $QSTAR_API_KEY; None: no key asked
    max_queue: int = 256  # questions queued or in flight; more is a 429
    grace: float = 30.0  # seconds the requests in flight get to finish after SIGTERM
    lockstep_below: int = 0  # questions in flight below which a round waits for all; 0: always streamed (engine.py)
    raw: bool = False  # no dataset: prompts go to the policy as they are
    qvm: str | None = None  # the models of the requests whose method uses them (else the recipe's)
    prm: str | None = None


class RawText:
    """Prompts without a dataset: the policy continues the prompt (or the chat) as given; an
    answer, for votes, is the solution's last non-empty line."""

    name = "raw"
    default_step_format = "line"

    def extract_answer(self, completion: str) -> str | None:
        lines = [line.strip() for line in completion.splitlines() if line.strip()]
        return lines[-1] if lines else None

    def same_answer(self, a: str, b: str) -> bool:
        return a == b


def raw_prompts(dataset: str | None, recipe) -> bool:
    """--dataset none, or no --dataset and no recipe that names one: prompts go to the policy as they are."""
    if dataset is not None:
        return dataset == "none"
    if recipe is None:
        return True
    from qstar_cli.config.resolve import recipe_layers

    return not any("name" in (layer.get("data") or {}) for _, layer in recipe_layers(recipe, "eval"))


def check(config: EvalConfig, options: ServeOptions):
    """Every check that loads nothing: the search's models, the dataset, the address. Returns the
    dataset (None: raw prompts), the step format and the server's socket, already bound."""
    from qstar_cli.backends import choose_backend
    from qstar_cli.datasets.registry import get_dataset
    from qstar_cli.stages.common import dataset_options
    from qstar_cli.stages.eval import _check_qvm, check_search, uses_oracle
    from qstar_cli.steps import StepFormat

    missing = [
        m for m in ("fastapi", "uvicorn", "sse_starlette", "prometheus_client") if not importlib.util.find_spec(m)
    ]
    if missing:
        raise QstarError(f"qstar serve needs {', '.join(missing)}: pip install 'qstar[serve]' (make install has them)")
    if uses_oracle(config):
        raise QstarError("--qvm oracle grades against reference answers, and a server's questions have none")
    if config.policy.sample_cache:
        raise QstarError("a server draws fresh samples: drop --sample-cache")
    if config.ray.address or config.data.shard:
        raise QstarError("qstar serve runs on one machine: drop --ray and --shard (run one server per machine)")
    for key, value, lo, hi in (
        ("--port", options.port, 1, 65535),
        ("--max-queue", options.max_queue, 1, None),
        ("--lockstep-below", options.lockstep_below, 0, None),
    ):
        if value < lo or (hi is not None and value > hi):
            raise QstarError(f"{key} {value} is out of range")
    if options.grace < 0:
        raise QstarError(f"--grace must be >= 0 seconds, got {options.grace}")
    check_search(config)
    dataset = None if options.raw else get_dataset(config.data.name, **dataset_options(config.data))
    if dataset is not None and dataset.executes_code:
        raise QstarError(
            f"{dataset.name} is graded by running code; qstar serve answers, it does not grade: use --dataset none"
        )
    fmt = StepFormat.parse(config.data.step_format or (dataset or RawText).default_step_format)
    if config.eval.qvm:
        _check_qvm(config.eval.qvm, fmt, config)
    choose_backend(config.policy.backend)
    return dataset, fmt, _listen(options.host, options.port)


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound now: a taken port is an error before any model loads, and no
    other process can take it between this check and the server's start."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise QstarError(f"--host {host!r} is not an address this machine knows: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise QstarError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port or --host") from None
    return sock


def serve(config: EvalConfig, options: ServeOptions, dry_run: bool = False) -> None:
    import uvicorn
    from sse_starlette.sse import AppStatus

    from qstar_cli.backends import load_backend, model_reference
    from qstar_cli.serve.app import create_app
    from qstar_cli.serve.engine import Engine
    from qstar_cli.serve.metrics import Metrics
    from qstar_cli.serve.requests import Served
    from qstar_cli.stages.eval import load_prm, load_qvm, search_env

    # the models serve every request's method: set after the default method's checks, which would
    # refuse a QVM that greedy does not read
    config.eval.qvm = options.qvm or config.eval.qvm
    config.eval.prm = options.prm or config.eval.prm
    dataset, fmt, sock = check(config, options)
    if dry_run:
        sock.close()
        from qstar_cli.config import to_yaml

        ui.out.print(to_yaml(config), end="", highlight=False)
        ui.info(f"would serve on http://{options.host}:{options.port}/v1 ({describe_prompts(config, dataset)})")
        return
    api_key = options.api_key or os.environ.get(API_KEY_ENV) or None
    model = model_reference(config.policy)
    qvm = load_qvm(config.eval.qvm, fmt, config) if config.eval.qvm else None
    prm = load_prm(config.eval) if config.eval.prm else None
    ui.info("loading the policy ...")
    with load_backend(config.policy, model) as backend:
        env = search_env(config, backend, dataset or RawText(), fmt, qvm, prm)
        engine = Engine(
            env,
            backend,
            window=config.eval.batch_questions,
            max_queue=options.max_queue,
            max_model_len=config.policy.max_model_len,
            lockstep_below=options.lockstep_below,
        )
        metrics = Metrics(engine)
        served = Served(options.name, config, dataset, backend.render, config.policy.max_model_len)
        state = SimpleNamespace(draining=False)
        app = create_app(served, engine, metrics, api_key=api_key, state=state)

        class Server(uvicorn.Server):
            def handle_exit(self, sig, frame):  # SIGTERM / Ctrl-C: take no more, finish what is in flight
                state.draining = True
                super().handle_exit(sig, frame)

        verbose = ui.verbose()
        server = Server(
            uvicorn.Config(
                app,
                host=options.host,
                port=options.port,
                log_level="info" if verbose else "warning",
                access_log=verbose,
                timeout_graceful_shutdown=options.grace,
                lifespan="off",
            )
        )
        AppStatus.disable_automatic_graceful_drain()  # streams in flight finish within the grace period too
        engine.start()
        started = time.monotonic()
        ui.out.print(
            f"[bold]qstar serve[/bold]: {config.eval.search.replace('_', '-')} "
            f"({'QVM ' + config.eval.qvm if config.eval.qvm else 'no QVM'}; "
            f"{describe_prompts(config, dataset)}) as model "
            f"{options.name!r} at http://{options.host}:{options.port}/v1"
            f"{' (API key required)' if api_key else ''}; Ctrl-C or SIGTERM stops it",
            highlight=False,
        )
        # uvicorn handles SIGINT/SIGTERM itself while it runs and raises them again when it is done;
        # by then the requests are answered, so they end the server quietly
        previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[sock])
        finally:
            AppStatus.should_exit = True
            engine.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        summary(metrics, engine, time.monotonic() - started)


def describe_prompts(config: EvalConfig, dataset) -> str:
    return "raw prompts" if dataset is None else f"{config.data.name}'s prompt and answer format"


def summary(metrics, engine, seconds: float) -> None:
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(metrics.statuses.items()))
    rounds = engine.env.rounds
    ui.summary(
        "qstar serve",
        [
            ("requests", f"{sum(metrics.statuses.values()):,}" + (f" ({statuses})" if statuses else "")),
            ("questions answered", f"{metrics.questions:,}"),
            (
                "generated tokens",
                f"{metrics.generated:,} ({metrics.generated / max(seconds, 1e-9):,.1f}/s over {seconds:,.0f} s)",
            ),
            ("engine rounds", f"{rounds['lockstep']:,} lockstep, {rounds['streamed']:,} streamed"),
        ],
    )
