"""``POST /predict``: score rows with the loaded model.

A plain ASGI handler, called by ``ServingApp`` before FastAPI's middleware and routing: for one row those layers
(error and telemetry middleware, route matching, the request object, dependency solving) cost about as much as
the whole rest of an answer. The operation is still described in the OpenAPI schema (``OPERATION``), and each
answer is counted in the Prometheus metrics as the middleware would.

Every 200 answer says in a ``Server-Timing`` header how long the model's own ``predict`` took (``predict;dur=<ms>``)
and the whole answer in the server (``server;dur=<ms>``: reading, validating, scoring, encoding), so a client (or
``bench/serving/``) can tell the model's time from the server's and from the network's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from pydantic_core import to_json

from ..capture.sink import Prediction
from ..models.base import BadInput, boolean_in
from .schemas import PredictRequest, one_line

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: The paths answered here (a trailing slash as well: FastAPI would redirect it).
PATHS = frozenset({"/predict", "/predict/"})

#: Requests of at most this many rows are scored on the event loop when the model is free: for them the hop to
#: the thread pool and back costs about as much as the scoring. Larger ones go to the thread pool, so that
#: /health and small requests keep answering while they are scored.
INLINE_ROWS = 16

#: The OpenAPI operation of ``POST /predict`` (added to the schema by ``ServingApp.openapi``).
OPERATION: dict[str, Any] = {
    "summary": "Predict",
    "description": 'Score rows: `{"rows": [[...], ...]}` (or rows as `{"feature": value}` objects) -> `{"predictions": '
                   '[...], "inference_ids": [...], "model_version": N}`. Every row\'s prediction gets an inference id '
                   "(the client's own from `inference_ids`, else a new one), the key that feedback joins labels on.",
    "operationId": "predict",
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}},
    "responses": {
        "200": {"description": '`{"predictions": [...], "inference_ids": [...], "model_version": N}` (and '
                               "`probabilities` for classifiers that have them); `Server-Timing: predict;dur=<ms>, "
                               "server;dur=<ms>`"},
        "405": {"description": "Not a POST"},
        "413": {"description": "The body is larger than `MLOPS_PREDICT_MAX_MB` (10 MB) or has more rows than "
                               "`MLOPS_PREDICT_MAX_ROWS` (10,000): `detail` says which"},
        "422": {"description": "The rows do not fit the model (a value that is not a number, `true` and `false` "
                               "included): `detail` says why, in one line"},
        "503": {"description": "The model is still loading"}},
}

_JSON = (b"content-type", b"application/json")


async def answer(state: Any, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """Answer one HTTP request to ``/predict`` (ASGI), with the app's ``state``: its model, sink and metrics."""
    start = time.perf_counter()
    status = 500
    try:
        settings = state.settings
        if scope["method"] != "POST":
            status, content, predict_s, scored = 405, _detail("Method Not Allowed"), None, None
        else:
            raw = None if _declared(scope) > settings.max_body else await _body(receive, settings.max_body)
            if raw is _GONE:  # the client went away before it finished sending
                status = 499
                return
            if not isinstance(raw, bytes):
                status, content, predict_s, scored = 413, _too_large(settings.max_body), None, None
            else:
                status, content, predict_s, scored = await _answer(state, raw, start)
        headers = [_JSON, (b"content-length", b"%d" % len(content))]
        if status == 405:
            headers.append((b"allow", b"POST"))
        if predict_s is not None:
            server_ms = (time.perf_counter() - start) * 1000
            headers.append((b"server-timing", b"predict;dur=%.3f, server;dur=%.3f" % (predict_s * 1000, server_ms)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        if scored is not None:  # counted and captured once the answer is on its way
            state.metrics.rows.inc(len(scored.inference_ids))
            state.sink.record(scored)
    finally:
        state.metrics.observe("/predict", status, time.perf_counter() - start)


class _Gone:
    """What ``_body`` returns when the client went away before it finished sending."""


_GONE = _Gone()


def _declared(scope: MutableMapping[str, Any]) -> int:
    """The body's size that the request's ``Content-Length`` header announces (0 without one)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # the server has refused a malformed one already
    return 0


async def _body(receive: Receive, limit: int) -> bytes | _Gone | None:
    """The whole request body; ``None`` once it grows beyond ``limit`` bytes (the rest is not read), ``_GONE`` if
    the client disconnected."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _too_large(limit: int) -> bytes:
    return _detail(f"the body is larger than {limit / 1e6:g} MB, the server's limit (MLOPS_PREDICT_MAX_MB); "
                   "send fewer rows per request")


Answer = tuple[int, bytes, float | None, Prediction | None]


async def _answer(state: Any, raw: bytes, start: float) -> Answer:
    """Status, JSON body, the model's predict time in seconds and the prediction to capture (both ``None`` when
    the model was not called)."""
    try:  # parsed and validated by pydantic in one pass, whatever the Content-Type (``curl -d`` says form-encoded)
        body = PredictRequest.model_validate_json(raw)
    except ValidationError as e:
        return 422, _detail(one_line(e.errors())), None, None
    limit = state.settings.max_rows
    if len(body.rows) > limit:
        return 413, _detail(f"{len(body.rows)} rows in one request, more than the server's limit of {limit} "
                            "(MLOPS_PREDICT_MAX_ROWS); send them in several requests"), None, None
    if (b"true" in raw or b"false" in raw) and (why := boolean_in(body.rows)) is not None:
        return 422, _detail(why), None, None
    model = state.slot.model
    if model is None:
        return 503, _detail("the model is still loading"), None, None
    if len(body.rows) <= INLINE_ROWS and model.lock.acquire(blocking=False):
        try:
            return _score(state, model, body, start, nullcontext())  # the lock is held already
        finally:
            model.lock.release()
    return await run_in_threadpool(_score, state, model, body, start, model.lock)


def _score(state: Any, model: Any, body: PredictRequest, start: float, hold: AbstractContextManager[Any]) -> Answer:
    """Score ``body``, holding ``hold`` (the model's lock) only around ``predict``."""
    ids = body.inference_ids
    if ids is not None and (len(ids) != len(body.rows) or len(set(ids)) != len(ids)):
        why = "the same id twice" if len(ids) == len(body.rows) else f"{len(ids)} ids for {len(body.rows)} rows"
        return 422, _detail(f"inference_ids: send one different id per row (got {why})"), None, None
    try:
        x = model.to_array(body.rows)
        with hold:
            began = time.perf_counter()
            result = model.predict(x)
        predict_s = time.perf_counter() - began
    except BadInput as e:
        return 422, _detail(str(e)), None, None
    except Exception as e:  # the model refused these rows: the client's problem to fix, not a 500
        return 422, _detail(f"the model could not score these rows: {type(e).__name__}: {e}"), None, None
    ids = tuple(ids) if ids is not None else new_ids(len(x))
    content = to_json({**result, "inference_ids": ids, "model_version": model.version})
    scored = Prediction(model.project, model.version, x, result, time.perf_counter() - start, ids, time.time())
    return 200, content, predict_s, scored


def new_ids(n: int) -> tuple[str, ...]:
    """``n`` version-7 UUIDs (RFC 9562) as 32 hex digits each: the time in milliseconds, then random bits from one
    call to the OS. Ids in the order they were made are in the order of their time, so each capture store adds
    them at the end of its index rather than at random places in it (4-5x less writer CPU per row once the SQLite
    spool holds 150,000 rows, ``python -m bench.capture_writes``)."""
    raw = bytearray(os.urandom(16 * n))
    for i, byte in enumerate((time.time_ns() // 1_000_000).to_bytes(6, "big")):
        raw[i::16] = bytes((byte,)) * n
    raw[6::16] = bytes(b & 0x0F | 0x70 for b in raw[6::16])  # version 7
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 9562 variant
    digits = raw.hex()
    return tuple(digits[i:i + 32] for i in range(0, 32 * n, 32))


def _detail(reason: str) -> bytes:
    return json.dumps({"detail": reason}, ensure_ascii=False, separators=(",", ":")).encode()
