"""The model server that runs inside the serving image: ``POST /predict``, ``GET /health``, ``GET /metrics``.

It loads the pushed model version mounted at ``$MLOPS_MODEL_DIR`` (``model.json`` plus the model
file) in the background; ``/health`` answers 503 until the model is loaded. A model that cannot be
loaded ends the process (exit code 3), so the watchdog sees the container fail. Bad input is a 422
with a message, never a 500. Depends on FastAPI, prometheus-client and the model's framework only.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MODEL_DIR = Path(os.environ.get("MLOPS_MODEL_DIR", "/model"))
REGISTRY = CollectorRegistry()
REQUESTS = Counter("mlops_requests_total", "Requests by endpoint and status code", ["endpoint", "code"],
                   registry=REGISTRY)
ERRORS = Counter("mlops_prediction_errors_total", "Predictions refused or failed", registry=REGISTRY)
LATENCY = Histogram("mlops_predict_latency_seconds", "Time to answer /predict", registry=REGISTRY,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
ROWS = Counter("mlops_predicted_rows_total", "Rows scored", registry=REGISTRY)
VERSION = Gauge("mlops_model_version", "Version of the loaded model", ["project"], registry=REGISTRY)


class BadInput(ValueError):
    """The request body does not fit the model."""


class LoadedModel:
    """A pushed model and what its input must look like."""

    def __init__(self, folder: Path) -> None:
        self.meta: dict[str, Any] = json.loads((folder / "model.json").read_text())
        self.format = self.meta["format"]
        files = [p for p in folder.iterdir() if p.name.startswith("model.") and p.suffix != ".json"]
        if not files:
            raise FileNotFoundError(f"no model file in {folder}")
        if self.format == "keras":
            import keras

            self.model = keras.saving.load_model(files[0])
            shape = tuple(self.model.input_shape[1:])
            self.shape: tuple[int, ...] = shape
            self.feature_names: list[str] = []
        else:
            import joblib

            self.model = joblib.load(files[0])
            n = getattr(self.model, "n_features_in_", None)
            self.shape = (int(n),) if n is not None else ()
            names = getattr(self.model, "feature_names_in_", None)
            self.feature_names = [str(x) for x in names] if names is not None else []

    @property
    def width(self) -> int:
        """Numbers per row."""
        return math.prod(self.shape) if self.shape else 0

    def rows(self, body: Any) -> list[list[float]]:
        """Validate ``{"rows": [[...], ...]}`` or ``{"rows": [{"feature": value}, ...]}``.

        Raises:
            BadInput: With a message that says what is wrong and what is expected.
        """
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list) or not body["rows"]:
            raise BadInput('send {"rows": [[...], ...]}: a non-empty list of rows')
        out = []
        for i, row in enumerate(body["rows"]):
            if isinstance(row, dict):
                if not self.feature_names:
                    raise BadInput(f"row {i}: this model has no feature names; send a list of {self.width} numbers")
                missing = [f for f in self.feature_names if f not in row]
                if missing:
                    raise BadInput(f"row {i}: missing features {missing[:5]}")
                row = [row[f] for f in self.feature_names]
            if not isinstance(row, list):
                raise BadInput(f"row {i}: expected a list of {self.width} numbers")
            flat = _flatten(row)
            if self.width and len(flat) != self.width:
                raise BadInput(f"row {i}: expected {self.width} numbers (input shape {list(self.shape)}), "
                               f"got {len(flat)}")
            try:
                values = [float(v) for v in flat]
            except (TypeError, ValueError) as e:
                raise BadInput(f"row {i}: every value must be a number ({e})") from e
            if not all(math.isfinite(v) for v in values):
                raise BadInput(f"row {i}: values must be finite numbers")
            out.append(values)
        return out

    def predict(self, rows: list[list[float]]) -> dict[str, Any]:
        """Predictions (and class probabilities for Keras classifiers)."""
        import numpy as np

        x = np.asarray(rows, dtype="float32" if self.format == "keras" else "float64")
        if self.format == "keras":
            x = x.reshape((len(rows), *self.shape))
            # Calling the model directly: predict() sets up a data pipeline per call (tens of ms online).
            raw = np.asarray(self.model(x, training=False))
            if raw.ndim == 2 and raw.shape[1] > 1:
                return {"predictions": raw.argmax(axis=1).tolist(), "probabilities": raw.round(6).tolist()}
            return {"predictions": raw.reshape(len(rows)).tolist()}
        if self.feature_names:
            import pandas as pd

            x = pd.DataFrame(x, columns=self.feature_names)
        return {"predictions": np.asarray(self.model.predict(x)).tolist()}


class State:
    """The model once loaded (``None`` while loading)."""

    model: LoadedModel | None = None
    error: str | None = None


def _flatten(row: list) -> list:
    flat: list = []
    for v in row:
        flat.extend(_flatten(v) if isinstance(v, list) else [v])
    return flat


def _load() -> None:
    try:
        State.model = LoadedModel(MODEL_DIR)
        VERSION.labels(project=State.model.meta.get("project", "")).set(State.model.meta.get("version", 0))
        print(f"mlops serve: model v{State.model.meta.get('version')} of {State.model.meta.get('project')} "
              f"loaded from {MODEL_DIR}", flush=True)
    except Exception as e:
        State.error = f"{type(e).__name__}: {e}"
        print(f"mlops serve: cannot load the model in {MODEL_DIR}: {State.error}", file=sys.stderr, flush=True)
        os._exit(3)


@asynccontextmanager
async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
    threading.Thread(target=_load, daemon=True).start()
    yield


app = FastAPI(title="mlops model server", lifespan=lifespan)


@app.get("/health")
def health() -> JSONResponse:
    """200 once the model is loaded, 503 before."""
    if State.model is None:
        REQUESTS.labels("/health", "503").inc()
        return JSONResponse({"status": "loading"}, status_code=503)
    REQUESTS.labels("/health", "200").inc()
    meta = State.model.meta
    return JSONResponse({"status": "ok", "project": meta.get("project"), "model_version": meta.get("version"),
                         "input_shape": list(State.model.shape), "features": State.model.feature_names})


@app.post("/predict")
async def predict(request: Request) -> JSONResponse:
    """Score rows: ``{"rows": [[...], ...]}`` -> ``{"predictions": [...], "model_version": N}``."""
    start = time.perf_counter()
    code = 200
    try:
        if State.model is None:
            code = 503
            return JSONResponse({"detail": "the model is still loading"}, status_code=503)
        try:
            body = await request.json()
        except ValueError:
            code = 422
            ERRORS.inc()
            return JSONResponse({"detail": "the body is not JSON"}, status_code=422)
        try:
            rows = State.model.rows(body)
            result = State.model.predict(rows)
        except BadInput as e:
            code = 422
            ERRORS.inc()
            return JSONResponse({"detail": str(e)}, status_code=422)
        except Exception as e:  # the model refused these rows: the client's problem to fix, not a 500
            code = 422
            ERRORS.inc()
            return JSONResponse({"detail": f"the model could not score these rows: {type(e).__name__}: {e}"},
                                status_code=422)
        ROWS.inc(len(rows))
        return JSONResponse({**result, "model_version": State.model.meta.get("version")})
    finally:
        REQUESTS.labels("/predict", str(code)).inc()
        LATENCY.observe(time.perf_counter() - start)


@app.get("/metrics")
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
