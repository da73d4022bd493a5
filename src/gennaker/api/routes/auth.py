"""Users, API tokens and the audit log over HTTP (admin only, except a caller's own tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gennaker.api.deps import Caller, CallerDep
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.auth.service import AuthError, AuthService

router = APIRouter(responses=ERROR_RESPONSES, tags=["auth"])


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=255)
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    roles: list[str] = Field(default_factory=list)
    admin: bool = False


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    user: str | None = None
    expiresInDays: int | None = Field(default=None, ge=1, le=3650)


def _auth(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


def _admin(who: Caller) -> None:
    if not who.is_admin:
        raise ApiError(403, f"{who.username} is not an administrator")


@router.get("/auth/users")
def list_users(request: Request, who: CallerDep) -> list[dict[str, Any]]:
    _admin(who)
    return _auth(request).list_users()


@router.post("/auth/users", status_code=201)
def add_user(body: NewUser, request: Request, who: CallerDep) -> dict[str, Any]:
    _admin(who)
    try:
        _auth(request).add_user(body.username, body.password, body.roles, body.admin)
    except AuthError as exc:
        raise ApiError(400, str(exc), [{"field": "username", "problem": str(exc)}]) from None
    return {"username": body.username, "roles": sorted({r.lower() for r in body.roles}), "admin": body.admin}


@router.get("/auth/tokens")
def list_tokens(request: Request, who: CallerDep) -> list[dict[str, Any]]:
    return _auth(request).list_tokens(None if who.is_admin else who.username)


@router.post("/auth/tokens", status_code=201)
def create_token(body: NewToken, request: Request, who: CallerDep) -> dict[str, Any]:
    """A new API token; the token itself is in this answer only."""
    owner = body.user or who.username
    if owner != who.username:
        _admin(who)
    ttl = body.expiresInDays * 24 * 3600 * 1000 if body.expiresInDays else None
    try:
        issued = _auth(request).create_token(owner, body.name, ttl)
    except AuthError as exc:
        raise ApiError(400, str(exc), [{"field": "user", "problem": str(exc)}]) from None
    return {"id": issued.id, "name": body.name, "user": owner, "token": issued.token}


@router.delete("/auth/tokens/{token_id}", status_code=204, response_model=None)
def revoke_token(token_id: str, request: Request, who: CallerDep) -> None:
    if not _auth(request).revoke_token(token_id, None if who.is_admin else who.username):
        raise ApiError(404, f"token {token_id} not found")


@router.get("/audit")
def audit(
    request: Request, who: CallerDep, user: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    _admin(who)
    return _auth(request).audit(user, limit)
