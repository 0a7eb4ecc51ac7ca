"""``GET /health``: 503 while the model loads, then 200 with what the model expects."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..schemas import Health

router = APIRouter()


@router.get("/health", response_model=Health, responses={503: {"description": "The model is still loading"}})
async def health(request: Request) -> JSONResponse | Health:
    """200 with the model version, input shape and features once the model is loaded; 503 before."""
    model = request.app.state.slot.model
    if model is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return Health(status="ok", project=model.meta.get("project"), model_version=model.version,
                  input_shape=list(model.shape), features=model.feature_names)
