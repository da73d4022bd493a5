"""Health, metrics and accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from gennaker.api.deps import CallerDep, RuntimeDep

router = APIRouter(tags=["system"])


@router.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.read() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "UP"}


@router.get("/metrics")
def metrics(request: Request, who: CallerDep) -> Response:
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/credentials")
def credentials(who: CallerDep) -> list[dict[str, Any]]:
    """Configured accounts, without secrets. No provider accounts exist until the providers land."""
    return []
