"""Prometheus metrics of one server, correct across worker processes.

With several workers (``python -m serving`` sets ``PROMETHEUS_MULTIPROC_DIR``), every worker writes its
values to files in that folder and ``/metrics`` sums them, so a scrape sees the whole server whichever
worker answers it. A single process without that folder keeps its values in its own registry.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths counted under their own name; any other path is counted as ``other``.
ENDPOINTS = frozenset({"/predict", "/health", "/metrics"})


class ServingMetrics:
    """Requests by endpoint and code, prediction errors, ``/predict`` latency, rows scored, model version."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        # Multi-process values live in files, not in a registry: a registry of this process would count twice.
        registry = None if multiprocess_dir else CollectorRegistry()
        self.registry = registry
        self.requests = Counter("mlops_requests_total", "Requests by endpoint and status code",
                                ["endpoint", "code"], registry=registry)
        self.errors = Counter("mlops_prediction_errors_total", "Predictions refused or failed", registry=registry)
        self.latency = Histogram("mlops_predict_latency_seconds", "Time to answer /predict", registry=registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.rows = Counter("mlops_predicted_rows_total", "Rows scored", registry=registry)
        self.version = Gauge("mlops_model_version", "Version of the loaded model", ["project"], registry=registry,
                             multiprocess_mode="mostrecent")

    def render(self) -> bytes:
        """The Prometheus text exposition of every worker's values."""
        if self.multiprocess_dir is None:
            assert self.registry is not None
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.multiprocess_dir))
        return generate_latest(registry)

    def observe(self, endpoint: str, code: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(endpoint, str(code)).inc()
        if endpoint == "/predict":
            self.latency.observe(seconds)
            if code >= 400 and code != 503:  # 503: still loading, not a refused prediction
                self.errors.inc()


class MetricsMiddleware:
    """Pure ASGI middleware that counts every HTTP response (cheaper than Starlette's ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.observe(endpoint, status, time.perf_counter() - start)
