"""``POST /predict``: score rows with the loaded model."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..model import BadInput
from ..schemas import PredictRequest, one_line
from ..sink import Prediction

router = APIRouter()

_ANSWERS = {200: {"description": '`{"predictions": [...], "inference_ids": [...], "model_version": N}` (and '
                                 "`probabilities` for classifiers that have them)"},
            422: {"description": "The rows do not fit the model: `detail` says why, in one line"},
            503: {"description": "The model is still loading"}}
_BODY = {"requestBody": {"required": True,
                         "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}}


#: Requests of at most this many rows are scored on the event loop when the model is free: for them the hop to
#: the thread pool and back costs about as much as the scoring. Larger ones go to the thread pool, so that
#: /health and small requests keep answering while they are scored.
INLINE_ROWS = 16


def _parse(raw: bytes) -> PredictRequest:
    """The body, parsed and validated by pydantic in one pass, whatever its Content-Type (``curl -d`` says
    form-encoded).

    Raises:
        HTTPException: 422 with a one-line reason.
    """
    try:
        return PredictRequest.model_validate_json(raw)
    except ValidationError as e:
        raise HTTPException(422, one_line(e.errors())) from e


@router.post("/predict", response_class=Response, responses=_ANSWERS, openapi_extra=_BODY)
async def predict(request: Request) -> Response:
    """Score rows: ``{"rows": [[...], ...]}`` -> ``{"predictions": [...], "inference_ids": [...], "model_version": N}``.

    Every row's prediction gets an inference id (the client's own from ``inference_ids``, else a new one), the key
    that feedback joins labels on.
    """
    start = time.perf_counter()
    body = _parse(await request.body())
    state = request.app.state
    model = state.slot.model
    if model is None:
        return JSONResponse({"detail": "the model is still loading"}, status_code=503)
    if len(body.rows) <= INLINE_ROWS and model.lock.acquire(blocking=False):
        try:
            return _score(state, model, body, start, locked=True)
        finally:
            model.lock.release()
    return await run_in_threadpool(_score, state, model, body, start)


def _score(state: Any, model: Any, body: PredictRequest, start: float, locked: bool = False) -> Response:
    ids = body.inference_ids
    if ids is not None and (len(ids) != len(body.rows) or len(set(ids)) != len(ids)):
        why = "the same id twice" if len(ids) == len(body.rows) else f"{len(ids)} ids for {len(body.rows)} rows"
        return JSONResponse({"detail": f"inference_ids: send one different id per row (got {why})"}, status_code=422)
    try:
        x = model.to_array(body.rows)
        if locked:
            result = model.predict(x)
        else:
            with model.lock:
                result = model.predict(x)
    except BadInput as e:
        return JSONResponse({"detail": str(e)}, status_code=422)
    except Exception as e:  # the model refused these rows: the client's problem to fix, not a 500
        return JSONResponse({"detail": f"the model could not score these rows: {type(e).__name__}: {e}"},
                            status_code=422)
    state.metrics.rows.inc(len(x))
    ids = tuple(ids) if ids is not None else tuple(uuid.uuid4().hex for _ in range(len(x)))
    content = json.dumps({**result, "inference_ids": ids, "model_version": model.version},
                         separators=(",", ":")).encode()
    state.sink.record(Prediction(model.project, model.version, x, result, time.perf_counter() - start, ids,
                                 time.time()))
    return Response(content, media_type="application/json")
