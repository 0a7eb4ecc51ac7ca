"""``GET /health``: 503 while the model loads, then 200 with what the model expects."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..schemas import Health

router = APIRouter()


@router.get("/health", response_model=Health, responses={503: {"description": "The model is still loading"}})
async def health(request: Request) -> JSONResponse | Health:
    """200 with the model version, input shape and features once every worker has loaded the model; 503 before."""
    slot = request.app.state.slot
    model = slot.model
    if model is None or not slot.ready():
        return JSONResponse({"status": "loading"}, status_code=503)
    return Health(status="ok", project=model.meta.get("project"), model_version=model.version,
                  input_shape=list(model.shape), features=model.feature_names)
