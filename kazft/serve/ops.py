"""GET /health and GET /metrics (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from kazft.serve.limits import require_key

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Unhealthy (503) when requests are in flight and no token or prefill step has
    come for --stall-seconds: a wedged decoder must not look healthy."""
    state = request.app.state
    sch = state.scheduler
    stalled = sch.stalled_for()
    ok = stalled <= state.settings.stall_s and sch.alive
    body = {
        "status": "ok" if ok else "unhealthy",
        "in_flight": sch.pending,
        "queued": sch.queued,
        "stalled_seconds": round(stalled, 3),
        "decoder_alive": sch.alive,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", dependencies=[Depends(require_key)])
async def metrics(request: Request) -> Response:
    state = request.app.state
    return Response(state.metrics.render(state.scheduler), media_type=CONTENT_TYPE_LATEST)
