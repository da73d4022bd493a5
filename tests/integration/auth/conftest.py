"""Shared pieces of the LDAP and OIDC sign-in tests: an app built from an `auth` configuration."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.api.security import local_security
from gennaker.auth.config import auth_service
from gennaker.auth.identity import DefaultPolicy
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime

AppFactory = Callable[[dict[str, Any]], tuple[TestClient, AuthService]]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def add_application(runtime: Runtime, name: str, attributes: dict[str, Any]) -> None:
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, name, attributes, "admin")


@pytest.fixture
def app_with(runtime: Runtime) -> Iterator[AppFactory]:
    """Builds the API and UI with `auth` from the given configuration file content; a local admin exists."""
    clients: list[TestClient] = []

    def build(config: dict[str, Any]) -> tuple[TestClient, AuthService]:
        auth = auth_service(runtime.db, config)
        auth.add_user("admin", "local-admin-password", ["admin"], is_admin=True)
        client = TestClient(create_app(runtime, local_security(auth, DefaultPolicy()), auth=auth))
        client.__enter__()
        clients.append(client)
        return client, auth

    yield build
    for client in clients:
        client.__exit__(None, None, None)
