"""Health, metrics and accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from gennaker.api.deps import CallerDep, RuntimeDep, identity_of
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.auth.identity import account_allows
from gennaker.providers.kubernetes import UnknownAccountError

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
def credentials(rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    """The provider accounts the caller may read, without secrets (Gate's `/credentials`)."""
    return [
        account.public()
        for account in rt.kubernetes.accounts
        if account_allows(identity_of(who), account.permissions, "READ")
    ]


@router.get("/artifacts/credentials")
def artifact_credentials(rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    """Artifact accounts and the artifact types each handles, without secrets (Gate's `/artifacts/credentials`)."""
    return rt.artifact_accounts.public()


@router.get("/credentials/{account}")
def credential(account: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    try:
        found = rt.kubernetes.accounts.get(account)
    except UnknownAccountError:
        raise ApiError(404, f"account '{account}' not found") from None
    if not account_allows(identity_of(who), found.permissions, "READ"):
        raise ApiError(404, f"account '{account}' not found")
    return found.public()

