"""The ASGI app of `qstar serve` (FastAPI): the OpenAI endpoints, /health and /metrics.

Every error a client can cause is an OpenAI-style body with its 4xx status, and the server goes on
serving; a full queue is a 429; a client that goes away (a closed connection, a dropped stream)
cancels its questions in the engine. Each answer carries `usage` (every token the search
generated, not only the returned text) and, per choice, `qstar`: the search's record.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import asdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from qstar_cli.search.base import Question
from qstar_cli.serve import requests
from qstar_cli.serve.engine import Engine, Job, QueueFull, TooLong
from qstar_cli.serve.metrics import Metrics
from qstar_cli.serve.requests import ApiError, Ask, Served

PROGRESS_SECONDS = 0.5  # how often a stream reports a search's progress
POLL_SECONDS = 0.2  # how often a waiting request checks that its client is still there


class ClientGone(Exception):
    pass


def create_app(served: Served, engine: Engine, metrics: Metrics, *, api_key: str | None = None, state=None) -> FastAPI:
    """`state.draining` (set on SIGTERM) makes new requests a 503 while those in flight finish."""
    app = FastAPI(title="qstar serve", docs_url=None, redoc_url=None, openapi_url=None)

    def authorize(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "a valid API key is required: Authorization: Bearer <key>", code="invalid_api_key")

    def refuse_if_draining() -> None:
        if state is not None and state.draining:
            raise ApiError(503, "the server is shutting down; it answers the requests it has and takes no more")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        endpoint = request.url.path
        metrics.answered(endpoint, getattr(request.state, "search", "-"), exc.status)
        headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
        return await api_error(request, ApiError(exc.status_code, message.get(exc.status_code, str(exc.detail))))

    @app.get("/health")
    async def health():
        refuse_if_draining()
        return {"status": "ok", "queued": engine.queued, "in_flight": engine.in_flight}

    @app.get("/metrics")
    async def prometheus():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    async def models(request: Request):
        authorize(request)
        cfg = served.config
        return {
            "object": "list",
            "data": [
                {
                    "id": served.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "qstar",
                    "qstar": {
                        "search": cfg.eval.search,
                        "qvm": cfg.eval.qvm,
                        "dataset": cfg.data.name if served.dataset is not None else None,
                        "policy": cfg.policy.model or "embedded",
                    },
                }
            ],
        }

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await answer(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await answer(request, chat=True)

    async def answer(request: Request, chat: bool):
        start = time.monotonic()
        authorize(request)
        refuse_if_draining()
        try:
            body = await request.body()
        except ClientDisconnect:
            metrics.answered(request.url.path, "-", 499)
            return Response(status_code=499)  # gone while sending its request: nobody to answer
        ask = requests.parse(body, served, chat)
        request.state.search = ask.search
        jobs = make_jobs(ask)
        try:
            engine.submit(jobs)
        except QueueFull:
            raise ApiError(429, f"the server holds {engine.max_queue} questions (--max-queue); retry later") from None
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        metrics.active.inc()
        if ask.stream:
            from sse_starlette import EventSourceResponse

            return EventSourceResponse(stream(request, ask, jobs, rid, start), sep="\n", ping=15)
        try:
            results = await wait(request, ask, jobs)
        except ClientGone:
            metrics.answered(request.url.path, ask.search, 499)
            return Response(status_code=499)  # nobody reads it
        finally:
            metrics.active.dec()
        body = response(ask, jobs, results, rid)
        metrics.answered(request.url.path, ask.search, 200, time.monotonic() - start)
        return JSONResponse(body)

    def make_jobs(ask: Ask) -> list[Job]:
        from qstar_cli.search import SEARCHERS

        method = SEARCHERS[ask.search]
        cfg = method.configure(ask.config)
        limit = ask.config.sampling.max_tokens
        return [
            Job(
                Question(f"q{i}", text, prompt, max_tokens=limit),
                ask.search,
                cfg,
                ask.config.eval.trees,
                asked_limit=ask.asked_limit,
            )
            for i, (text, prompt) in enumerate(ask.questions)
        ]

    async def wait(request: Request, ask: Ask, jobs: list[Job]) -> list:
        """Each job's result; a client that closes its connection cancels what is left."""
        futures = [asyncio.wrap_future(job.future) for job in jobs]
        try:
            while True:
                _, pending = await asyncio.wait(futures, timeout=POLL_SECONDS)
                if not pending:
                    break
                if await request.is_disconnected():
                    raise ClientGone
            return [outcome(f, ask) for f in futures]
        finally:
            for job in jobs:
                if not job.future.done():
                    engine.cancel(job)

    def outcome(future, ask: Ask):
        """A job's result; a prompt too long for the context is the request's 400."""
        try:
            return future.result()
        except TooLong as exc:
            raise ApiError(400, str(exc), "messages" if ask.chat else "prompt") from None

    def response(ask: Ask, jobs: list[Job], results: list, rid: str) -> dict:
        choices = [choice(ask, i, job, result) for i, (job, result) in enumerate(zip(jobs, results))]
        return {
            "id": rid,
            "object": "chat.completion" if ask.chat else "text_completion",
            "created": int(time.time()),
            "model": served.model,
            "choices": choices,
            "usage": usage(jobs),
        }

    def usage(jobs: list[Job]) -> dict:
        prompt = sum(job.prompt_tokens for job in jobs)
        generated = sum(job.usage.generated_tokens for job in jobs)
        return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}

    def choice(ask: Ask, index: int, job: Job, result) -> dict:
        metrics.searched(ask.search, job.usage.generated_tokens)
        text, finish = solution(ask, result)
        out = {"index": index, "finish_reason": finish, "qstar": record(ask, job, result)}
        if ask.chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out.update(text=text, logprobs=None)
        return out

    def solution(ask: Ask, result) -> tuple[str, str]:
        if result.answer is None:
            return "", "length"
        text = result.answer.text
        for stop in ask.stop:
            if stop in text:
                return text[: text.index(stop)], "stop"
        return text, "stop" if result.answer.finished else "length"

    def record(ask: Ask, job: Job, result) -> dict:
        """The search's record of one question, as `qstar eval` writes it (predictions.jsonl)."""
        from qstar_cli.config import SEARCH_KEYS

        env = engine.env
        answer = result.answer
        out = {
            "search": ask.search,
            "settings": {k: getattr(ask.config.eval, k) for k in sorted(SEARCH_KEYS[ask.search])},
            "question": job.question.text if served.dataset is not None else None,
            "answer": env.extract_answer(job.question, answer.text) if answer is not None else None,
            "usage": asdict(result.usage),
            "terminals": [
                {
                    "text": t.text,
                    "score": t.score,
                    "answer": env.extract_answer(job.question, t.text),
                    "finish": t.finish,
                }
                for t in result.terminals
            ],
            "seconds": {
                "queued": round((job.admitted or job.submitted) - job.submitted, 3),
                "searched": round(time.monotonic() - (job.admitted or job.submitted), 3),
            },
        }
        if result.tree is not None:
            out["tree"] = result.tree
        return out

    async def stream(request: Request, ask: Ask, jobs: list[Job], rid: str, start: float):
        """Server-Sent Events in OpenAI's chunk format: the search's progress while it runs, each
        answer as it is ready, then the usage, then [DONE]. A dropped stream cancels the rest."""
        import json

        kind = "chat.completion.chunk" if ask.chat else "text_completion"
        created = int(time.time())

        def chunk(choices: list, **extra) -> dict:
            body = {"id": rid, "object": kind, "created": created, "model": served.model, "choices": choices, **extra}
            return {"data": json.dumps(body)}

        def part(index: int, text: str | None, finish: str | None, **extra) -> dict:
            if ask.chat:
                delta = {} if text is None else {"content": text}
                return {"index": index, "delta": delta, "finish_reason": finish, **extra}
            return {"index": index, "text": text or "", "finish_reason": finish, "logprobs": None, **extra}

        futures = {asyncio.wrap_future(job.future): i for i, job in enumerate(jobs)}
        shown: dict[int, tuple] = {}
        status = 200
        try:
            if ask.chat:
                yield chunk(
                    [
                        {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                        for i in range(len(jobs))
                    ]
                )
            while futures:
                done, _ = await asyncio.wait(futures, timeout=PROGRESS_SECONDS)
                for future in done:
                    i = futures.pop(future)
                    try:
                        result = outcome(future, ask)
                    except ApiError as exc:
                        status = exc.status
                        yield {"data": json.dumps(exc.body())}
                        return
                    text, finish = solution(ask, result)
                    metrics.searched(ask.search, jobs[i].usage.generated_tokens)
                    yield chunk([part(i, text, finish, qstar=record(ask, jobs[i], result))])
                for i in futures.values():
                    u = jobs[i].usage
                    now = (u.policy_calls, u.expansions, u.generated_tokens)
                    if now != shown.get(i):
                        shown[i] = now
                        progress = {"policy_calls": now[0], "expansions": now[1], "generated_tokens": now[2]}
                        yield chunk([part(i, None, None, qstar={"progress": progress})])
            yield chunk([], usage=usage(jobs))
            yield {"data": "[DONE]"}
        except asyncio.CancelledError:
            status = 499
            raise
        finally:
            for job in jobs:
                if not job.future.done():
                    engine.cancel(job)
            metrics.active.dec()
            metrics.answered(request.url.path, ask.search, status, time.monotonic() - start)

    return app
