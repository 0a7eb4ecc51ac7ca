"""The app factory: routers, error answers, metrics, and the model loaded in the lifespan into ``app.state``."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..capture import CaptureUnavailable, open_capture
from ..capture.sink import CaptureSink, NullSink, PredictionSink
from ..models import load_model
from ..settings import Settings
from . import predict
from .gauges import LiveValues
from .metrics import LiveCollector, MetricsMiddleware, ServingMetrics
from .routers import feedback, health, metrics, review
from .schemas import one_line
from .state import ModelSlot

#: Exit code of a server whose model cannot be loaded (the watchdog sees the unit fail).
EXIT_MODEL_UNLOADABLE = 3


def create_app(settings: Settings | None = None, sink: PredictionSink | None = None) -> FastAPI:
    """A model server for the model in ``settings.model_dir``.

    The model is loaded in the background once the app starts, so ``/health`` answers (503) at once; a
    model that cannot be loaded ends the process with exit code 3.

    Args:
        settings: Where the model is and how the process is supervised (default: from the environment).
        sink: Called after each answered prediction (default: the capture store the settings name, else none).
    """
    settings = settings or Settings.from_env()
    serving_metrics = ServingMetrics(settings.multiprocess_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.supervisor_pid is not None:
            _end_with_supervisor(settings.supervisor_pid)
        if sink is None:  # made here, in the worker: its writer thread must not be forked or pickled
            app.state.sink = _capture_sink(settings, serving_metrics)
        threading.Thread(target=_load, args=(app, settings), name="load-model", daemon=True).start()
        yield
        app.state.sink.close()

    app = ServingApp(title="mlops model server", lifespan=lifespan)
    app.state.settings = settings
    app.state.slot = ModelSlot(settings.ready_dir, settings.workers)
    app.state.metrics = serving_metrics
    app.state.sink = sink or NullSink()
    serving_metrics.add_shared(LiveCollector(LiveValues(app.state)))
    app.add_middleware(MetricsMiddleware, metrics=serving_metrics)
    app.add_exception_handler(RequestValidationError, _one_line_422)
    for router in (feedback.router, review.router, health.router, metrics.router):
        app.include_router(router)
    return app


class ServingApp(FastAPI):
    """FastAPI, with ``/predict`` answered by a plain ASGI handler before the middleware stack and routing (see
    ``predict``), and described in the OpenAPI schema all the same."""

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in predict.PATHS:
            await predict.answer(self.state, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The schema of the routes, and of ``POST /predict``."""
        if self.openapi_schema is None:
            schema = super().openapi()
            schema["paths"] = {"/predict": {"post": predict.OPERATION}, **schema.get("paths", {})}
        return self.openapi_schema  # type: ignore[return-value]


def _capture_sink(settings: Settings, serving_metrics: ServingMetrics) -> PredictionSink:
    """A ``CaptureSink`` into MongoDB or the spool the settings name, or a ``NullSink`` when capture is off."""
    store = open_capture(settings.mongodb_uri, settings.capture_dir) if settings.capture else None
    if store is None:
        return NullSink()
    print(f"mlops serve: capturing predictions into {store.description} (keeping {settings.retention} per project, "
          f"the first {settings.capture_rows} rows of a request)", file=sys.stderr, flush=True)
    return CaptureSink(store, settings.retention, on_written=serving_metrics.captured.inc,
                       on_dropped=serving_metrics.capture_dropped.inc, per_call=settings.capture_rows)


def _load(app: FastAPI, settings: Settings) -> None:
    """Load the model into ``app.state.slot``; on failure end the process with code 3 (the supervisor then
    stops the other workers and ends with code 3 too)."""
    try:
        model = load_model(settings.model_dir)
    except Exception as e:
        reason = f"cannot load the model in {settings.model_dir}: {type(e).__name__}: {e}"
        print(f"mlops serve: {reason}", file=sys.stderr, flush=True)
        os._exit(EXIT_MODEL_UNLOADABLE)
    app.state.metrics.version.labels(project=model.project).set(model.version or 0)
    store = app.state.sink.store
    if store is not None:
        try:
            store.put_model(model.project, model.version, model.feature_names, model.classes, model.task)
        except CaptureUnavailable as e:  # the monitor reads rows by position until a worker manages to say it
            print(f"mlops serve: {e}", file=sys.stderr, flush=True)
    _out_of_the_collectors_sight()
    app.state.slot.loaded(model)
    print(f"mlops serve: model v{model.version} of {model.project} loaded from {settings.model_dir} "
          f"(pid {os.getpid()})", flush=True)


def _out_of_the_collectors_sight() -> None:
    """Freeze every object there is now (the framework, the model) out of the garbage collector's full
    collections. Those walk every tracked object: with TensorFlow loaded, 0.2-0.3 s in the middle of some
    request, about every 15 s here while prediction capture allocates."""
    gc.collect()
    gc.freeze()


def _end_with_supervisor(pid: int) -> None:
    """Have Linux stop this worker when its supervisor dies (even by SIGKILL), so no orphan keeps the port."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != pid:  # the supervisor died before the call above
        os.kill(os.getpid(), signal.SIGTERM)


async def _one_line_422(request: Request, exc: Exception) -> JSONResponse:
    """A request that FastAPI could not validate: 422 with one line that says what to send."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": one_line(exc.errors())}, status_code=422)
