"""Test doubles for the API's security: callers named by a header, permissions by role lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from gennaker.api.deps import Caller, Security
from gennaker.auth.identity import Identity, application_allows


@dataclass(frozen=True)
class FakeCaller:
    username: str
    roles: frozenset[str]
    is_admin: bool = False


CALLERS = {
    "admin": FakeCaller("admin", frozenset(), is_admin=True),
    "dev": FakeCaller("dev", frozenset({"dev"})),
    "viewer": FakeCaller("viewer", frozenset({"viewer"})),
}


def by_header(request: Request) -> Caller | None:
    """Test authentication: the `X-Test-User` header names one of CALLERS."""
    return CALLERS.get(request.headers.get("X-Test-User", ""))


def by_role(who: Caller, attributes: dict[str, Any] | None, permission: str) -> bool:
    """Authorization by the product's own rules (Fiat's model, restricted default), for the test callers."""
    identity = Identity(who.username, frozenset(getattr(who, "roles", ())), who.is_admin)
    return application_allows(identity, attributes, permission)


def as_user(name: str) -> dict[str, str]:
    return {"X-Test-User": name}


def header_security() -> Security:
    return Security(authenticate=by_header, application_allows=by_role)
