"""`GET /healthz` (alive), `GET /readyz` (store reachable, models loaded), `GET /metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragrec.api.deps import ServicesDep
from ragrec.api.errors import problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep):
    if not svc.ready:
        return problem(503, "Service unavailable", "starting: loading models")
    try:
        collections = await svc.run(svc.rec.store.collections)
    except Exception as exc:  # noqa: BLE001 - not ready, whatever the cause; the reason is in the answer
        return problem(503, "Service unavailable", f"vector store: {exc}")
    return {"status": "ready", "collections": {c.name: c.count for c in collections}}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
