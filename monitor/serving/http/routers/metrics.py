"""``GET /metrics``: Prometheus text of all workers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter()


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Requests by endpoint and code, prediction errors, ``/predict`` latency, rows scored, model version."""
    serving_metrics = request.app.state.metrics
    return Response(serving_metrics.render(), media_type=serving_metrics.content_type)
