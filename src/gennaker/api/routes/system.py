"""Health, metrics and accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from gennaker.api.deps import CallerDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES, tags=["system"])


@router.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    with rt.db.read() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {"status": "UP"}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
def metrics(request: Request, who: CallerDep) -> PlainTextResponse:
    return PlainTextResponse(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/auth/user")
def auth_user(who: CallerDep) -> dict[str, Any]:
    """The signed-in caller, as Gate's `/auth/user` shows it."""
    roles = sorted(getattr(who, "roles", ()))
    return {"username": who.username, "email": None, "roles": roles, "admin": who.is_admin}


@router.get("/credentials")
def credentials(who: CallerDep) -> list[dict[str, Any]]:
    """Configured accounts, without secrets. No provider accounts exist until the providers land."""
    return []
