"""Health, metrics and accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from gennaker.api.deps import ActorDep, CallerDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES, tags=["system"])


@router.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    rt.service.system.check_database()
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
def credentials(rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    """The provider accounts the caller may read, without secrets (Gate's `/credentials`)."""
    return [account.public() for account in rt.service.infrastructure.accounts(who)]


@router.get("/artifacts/credentials")
def artifact_credentials(rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    """Artifact accounts and the artifact types each handles, without secrets (Gate's `/artifacts/credentials`)."""
    return rt.artifact_accounts.public()


@router.get("/credentials/{account}")
def credential(account: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    return rt.service.infrastructure.account(account, who).public()
