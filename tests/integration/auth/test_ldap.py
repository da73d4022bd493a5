"""LDAP password sign-in against a real OpenLDAP server (slapd) started for these tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from tests.integration.auth import slapd
from tests.integration.auth.conftest import AppFactory, add_application, basic
from tests.integration.auth.slapd import BASE_DN, MANAGER_DN, MANAGER_PASSWORD, PASSWORDS, Slapd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not slapd.available(), reason="slapd is not installed (make system-packages)"),
]


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with Slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def ldap_config(url: str, **overrides: Any) -> dict[str, Any]:
    section = {
        "enabled": True,
        "url": f"{url}/{BASE_DN}",
        "userDnPattern": "uid={0},ou=people",
        "groupSearchBase": "ou=groups",
        "groupSearchFilter": "(|(uniqueMember={0})(member={0}))",
        "roleMapping": {"Developers": "devs"},
        "adminGroups": ["SRE-Admins"],
        "timeoutSeconds": 2,
        **overrides,
    }
    return {"auth": {"ldap": section}}


@pytest.fixture
def app(app_with: AppFactory, directory: Slapd, runtime: Runtime) -> tuple[TestClient, AuthService]:
    add_application(runtime, "shop", {"permissions": {"READ": ["devs"], "WRITE": ["devs"]}})
    add_application(runtime, "quality", {"permissions": {"READ": ["qa"]}})
    return app_with(ldap_config(directory.url))


def alice() -> dict[str, str]:
    return basic("alice", PASSWORDS["alice"])


def test_basic_auth_with_an_ldap_user_and_group_roles(app: tuple[TestClient, AuthService]) -> None:
    client, auth = app
    me = client.get("/auth/user", headers=alice())
    assert me.status_code == 200, me.text
    assert me.json() == {"username": "alice", "email": None, "roles": ["devs"], "admin": False}
    assert client.get("/applications/shop", headers=alice()).status_code == 200
    assert client.get("/applications/quality", headers=alice()).status_code == 404
    # groupOfNames (`member`) groups count too; unmapped groups keep their name, lower-cased.
    bob = basic("bob", PASSWORDS["bob"])
    assert client.get("/auth/user", headers=bob).json()["roles"] == ["qa"]
    assert client.get("/applications/quality", headers=bob).status_code == 200
    assert client.get("/applications/shop", headers=bob).status_code == 404
    assert {u["username"]: u["source"] for u in auth.list_users()} == {"admin": "local", "alice": "ldap", "bob": "ldap"}


def test_admin_group_makes_administrators(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    carol = basic("carol", PASSWORDS["carol"])
    assert client.get("/auth/user", headers=carol).json() == {
        "username": "carol",
        "email": None,
        "roles": ["devs", "sre-admins"],
        "admin": True,
    }
    assert client.get("/auth/users", headers=carol).status_code == 200
    assert client.get("/auth/users", headers=alice()).status_code == 403


def test_wrong_password_and_unknown_user_are_401(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    assert client.get("/auth/user", headers=basic("alice", "not-her-password")).status_code == 401
    assert client.get("/auth/user", headers=basic("nobody", "whatever-password")).status_code == 401
    assert client.get("/auth/user", headers=basic("alice", "")).status_code == 401  # never an anonymous bind
    assert client.get("/auth/user", headers=basic("*", "x")).status_code == 401


def test_local_users_come_first_and_keep_working(app: tuple[TestClient, AuthService]) -> None:
    client, auth = app
    assert client.get("/auth/user", headers=basic("admin", "local-admin-password")).json()["admin"] is True
    auth.add_user("alice", "a-local-password", ["local-role"])
    # The name is a local user now: the directory's password no longer signs in as that user.
    assert client.get("/auth/user", headers=alice()).status_code == 401
    assert client.get("/auth/user", headers=basic("alice", "a-local-password")).json()["roles"] == ["local-role"]


def test_successful_binds_are_cached_briefly(app: tuple[TestClient, AuthService], directory: Slapd) -> None:
    client, auth = app
    backend = auth.password_backends[0]
    calls: list[str] = []
    original = backend.authenticate

    def counting(username: str, password: str) -> Any:
        calls.append(username)
        return original(username, password)

    backend.authenticate = counting  # type: ignore[method-assign]
    for _ in range(3):
        assert client.get("/auth/user", headers=alice()).status_code == 200
    assert calls == ["alice"]
    assert client.get("/auth/user", headers=basic("alice", "wrong-password")).status_code == 401
    assert calls == ["alice", "alice"]
    auth.cache.clear()
    assert client.get("/auth/user", headers=alice()).status_code == 200
    assert calls == ["alice", "alice", "alice"]


def test_user_search_with_a_manager_bind(app_with: AppFactory, directory: Slapd) -> None:
    config = ldap_config(
        directory.url,
        userDnPattern=None,
        userSearchBase="ou=people",
        userSearchFilter="(uid={0})",
        managerDn=MANAGER_DN,
        managerPassword=MANAGER_PASSWORD,
        groupSearchFilter="(uniqueMember={0})",
    )
    client, _ = app_with(config)
    assert client.get("/auth/user", headers=alice()).json()["roles"] == ["devs"]
    assert client.get("/auth/user", headers=basic("bob", PASSWORDS["bob"])).json()["roles"] == []  # `member` only
    assert client.get("/auth/user", headers=basic("nobody", "x-password")).status_code == 401
    assert client.get("/auth/user", headers=basic("a*", PASSWORDS["alice"])).status_code == 401


def test_ui_login_session_and_token_for_an_ldap_user(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    wrong = client.post("/ui/login", data={"username": "alice", "password": "nope", "next": "/ui/applications"})
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    signed_in = client.post(
        "/ui/login",
        data={"username": "alice", "password": PASSWORDS["alice"], "next": "/ui/applications/shop"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/applications/shop"
    assert client.get("/auth/user").json()["roles"] == ["devs"]
    assert client.get("/applications/shop").status_code == 200
    assert client.get("/applications/quality").status_code == 404
    # An API token of her own, created with her session (as `gennaker token create` does over the API).
    created = client.post(
        "/auth/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": client.cookies["gennaker_csrf"]}
    )
    assert created.status_code == 201, created.text
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {created.json()['token']}"}
    assert client.get("/auth/user", headers=bearer).json()["username"] == "alice"
    assert client.get("/applications/shop", headers=bearer).status_code == 200
    # ... and with Basic directly.
    assert client.post("/auth/tokens", json={"name": "ci"}, headers=alice()).status_code == 201


def test_directory_down_is_401_with_a_warning(
    app_with: AppFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Slapd(tmp_path / "short-lived") as server:
        client, auth = app_with(ldap_config(server.url))
        assert client.get("/auth/user", headers=alice()).status_code == 200
    auth.cache.clear()
    caplog.set_level(logging.INFO, logger="gennaker.auth")
    answer = client.get("/auth/user", headers=alice())
    assert answer.status_code == 401
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("gennaker.auth")]
    assert warnings and "unavailable" in warnings[0].getMessage()
    assert all(PASSWORDS["alice"] not in r.getMessage() for r in caplog.records)
    # A session made while it was up keeps working (roles as of that sign-in).
    session = auth.create_session("alice")
    client.cookies.set("gennaker_session", session)
    assert client.get("/auth/user").json() == {"username": "alice", "email": None, "roles": ["devs"], "admin": False}
