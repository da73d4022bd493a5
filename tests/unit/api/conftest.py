from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.api.deps import Caller, Security
from gennaker.runtime import Runtime


@dataclass(frozen=True)
class TestCaller:
    username: str
    roles: frozenset[str]
    is_admin: bool = False


CALLERS = {
    "admin": TestCaller("admin", frozenset(), is_admin=True),
    "dev": TestCaller("dev", frozenset({"dev"})),
    "viewer": TestCaller("viewer", frozenset({"viewer"})),
}


def by_header(request: Request) -> Caller | None:
    """Test authentication: the `X-Test-User` header names one of CALLERS."""
    return CALLERS.get(request.headers.get("X-Test-User", ""))


def by_role(who: Caller, attributes: dict[str, Any] | None, permission: str) -> bool:
    """Test authorization: admins, or a role listed under the permission in the app's `permissions`."""
    if who.is_admin:
        return True
    allowed = ((attributes or {}).get("permissions") or {}).get(permission) or []
    return bool(set(allowed) & getattr(who, "roles", frozenset()))


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, Security(authenticate=by_header, application_allows=by_role))
    with TestClient(app) as client:
        yield client


def as_user(name: str) -> dict[str, str]:
    return {"X-Test-User": name}
