"""``POST /feedback``: users' labels for captured predictions, joined by inference id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ..feedback import FeedbackRefused, check_token, record_feedback
from ..schemas import FeedbackRequest

router = APIRouter()

_ANSWERS = {200: {"description": '`{"recorded": N, "replaced": K}`: K of them replaced an earlier label'},
            401: {"description": "No `Authorization: Bearer <token>` header"},
            403: {"description": "Wrong token, or feedback is off (no MLOPS_FEEDBACK_TOKEN on the server)"},
            404: {"description": "An inference id has no prediction; nothing was recorded"},
            413: {"description": "More than 1000 labels in one request"},
            422: {"description": "A label that is not one of the model's classes (or not a number for a "
                                 "regressor), or a body that does not fit"},
            503: {"description": "The model is loading, capture is off, or the store cannot be reached"}}
_BODY = {"requestBody": {"required": True,
                         "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}}}}


async def raw_body(request: Request) -> bytes:
    """The request's body as sent (read on the event loop, so the handler itself can block)."""
    return await request.body()


@router.post("/feedback", response_class=Response, responses=_ANSWERS, openapi_extra=_BODY)
def feedback(request: Request, body: bytes = Depends(raw_body)) -> Response:
    """Record the correct label of predictions: ``{"inference_id": ..., "label": ...}`` or
    ``{"labels": [{"inference_id": ..., "label": ...}, ...]}`` with ``Authorization: Bearer <token>``.

    All or nothing: one unknown id or one label of the wrong type and none is recorded. A second label for a
    prediction replaces the first; both are kept in the label history.
    """
    state = request.app.state
    try:
        check_token(state.settings.feedback_token, request.headers.get("authorization"))
        try:
            parsed = FeedbackRequest.model_validate_json(body)
        except ValidationError as e:
            raise FeedbackRefused(422, _one_line(e)) from e
        result = record_feedback(state, parsed.items(), parsed.source)
    except FeedbackRefused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status, headers=e.headers)
    return JSONResponse({"recorded": result.recorded, "replaced": result.replaced})


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":
        return "the body is not JSON"
    where = ".".join(str(x) for x in first.get("loc", ()))
    return (f"{where}: {first.get('msg', 'invalid')}; " if where else "") + \
        'send {"inference_id": ..., "label": ...} or {"labels": [{"inference_id": ..., "label": ...}, ...]}'
