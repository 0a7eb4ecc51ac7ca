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
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths counted under their own name; any other path is counted as ``other``.
ENDPOINTS = frozenset({"/predict", "/health", "/metrics", "/feedback", "/review"})


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
        self.captured = Counter("mlops_captured_rows_total", "Predictions written to the capture store",
                                registry=registry)
        self.capture_dropped = Counter("mlops_capture_dropped_rows_total",
                                       "Predictions not captured (the store was unreachable too long)",
                                       registry=registry)
        #: Collectors whose values are read at scrape time from a store all workers share (not summed).
        self.shared: list[Collector] = []

    def add_shared(self, collector: Collector) -> None:
        """Add values that every worker reads from the same place, so any worker's scrape reports them once."""
        self.shared.append(collector)

    def render(self) -> bytes:
        """The Prometheus text exposition of every worker's values."""
        registry = CollectorRegistry()
        if self.multiprocess_dir is None:
            assert self.registry is not None
            text = generate_latest(self.registry)
        else:
            MultiProcessCollector(registry, path=str(self.multiprocess_dir))
            text = generate_latest(registry)
            registry = CollectorRegistry()
        for collector in self.shared:
            registry.register(collector)
        return text + generate_latest(registry) if self.shared else text

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


class LiveCollector(Collector):
    """``mlops_live_accuracy``, ``mlops_labelled_predictions`` and ``mlops_drift_share`` from a function that reads
    them (see ``gauges.live_values``); a value that is not known yet is left out rather than exported as 0."""

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self.read = read

    def collect(self) -> Any:
        values = self.read()
        if not values:
            return
        labels = ["project", "model_version"]
        key = [str(values.get("project") or ""), str(values.get("model_version") or "")]
        specs = (("mlops_live_accuracy", "Share of labelled predictions the model got right, over the monitoring "
                  "window", "accuracy"),
                 ("mlops_labelled_predictions", "Labelled predictions the live accuracy rests on", "labelled"),
                 ("mlops_drift_share", "Share of features whose served values drifted from the training data "
                  "(from the last 'mlops monitor')", "drift_share"))
        for name, doc, field in specs:
            if values.get(field) is not None:
                family = GaugeMetricFamily(name, doc, labels=labels)
                family.add_metric(key, float(values[field]))
                yield family
