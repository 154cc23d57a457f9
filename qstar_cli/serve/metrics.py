"""The server's Prometheus metrics (GET /metrics), on a registry of its own, and the totals the
console summary prints when the server stops."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500)


class Metrics:
    def __init__(self, engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qstar_requests", "Requests answered, by endpoint, search method and HTTP status",
            ["endpoint", "method", "status"], registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "qstar_generated_tokens", "Tokens the searches generated (every sample, not only the answers)",
            ["method"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "qstar_request_latency_seconds", "Time from a request's arrival to its answer",
            ["method"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.active = Gauge("qstar_requests_in_flight", "Requests being answered", registry=self.registry)
        Gauge(
            "qstar_queue_length", "Questions waiting to join the engine's batch", registry=self.registry
        ).set_function(lambda: engine.queued)
        Gauge("qstar_questions_in_flight", "Questions the engine is searching", registry=self.registry).set_function(
            lambda: engine.in_flight
        )
        self.statuses: Tally = Tally()  # for the summary
        self.questions = 0
        self.generated = 0

    def answered(self, endpoint: str, method: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.statuses[status] += 1
        if seconds is not None:
            self.latency.labels(method).observe(seconds)

    def searched(self, method: str, generated_tokens: int) -> None:
        self.tokens.labels(method).inc(generated_tokens)
        self.questions += 1
        self.generated += generated_tokens

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
