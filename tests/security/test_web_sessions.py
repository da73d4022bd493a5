"""Browser sessions and password checks: the CSRF token is bound to the session, changes from another
origin or site are refused (signing out too), failed sign-ins are throttled per user name and per address,
and successful Basic checks are remembered briefly without outliving a password change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.auth import service as auth_module
from gennaker.auth.config import auth_service
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from tests.integration.auth.conftest import basic as basic_header

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new password"
SESSION, CSRF = "gennaker_session", "gennaker_csrf"
CREATE_APP = {"job": [{"type": "createApplication", "application": {"name": "shop"}}]}
CREATE_OTHER = {"job": [{"type": "createApplication", "application": {"name": "other"}}]}
Build = Callable[[dict[str, Any]], tuple[TestClient, AuthService]]


@pytest.fixture
def build(app_with: Build) -> Build:
    """The API and UI with the given configuration file content; users `dev` and `ops` (role `dev`)."""

    def make(config: dict[str, Any]) -> tuple[TestClient, AuthService]:
        client, auth = app_with(config)
        for name in ("dev", "ops"):
            auth.add_user(name, PASSWORD, ["dev"], is_admin=True)
        return client, auth

    return make


@pytest.fixture
def client(build: Build) -> TestClient:
    return build({})[0]


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return basic_header(user, password)


def sign_in(client: TestClient, user: str = "dev") -> str:
    """Signs in through the login form; returns the session's CSRF token, as the pages carry it."""
    answer = client.post("/ui/login", data={"username": user, "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get("/ui/applications/new")
    token = client.cookies[CSRF]
    assert f'name="csrf" value="{token}"' in page.text
    return token


def application_exists(client: TestClient, name: str) -> bool:
    return client.get(f"/applications/{name}", headers=basic("ops")).status_code == 200


def plant(client: TestClient, csrf: str) -> None:
    """What another site or port of the host can do: set the CSRF cookie (not read the session cookie)."""
    session = client.cookies[SESSION]
    client.cookies.clear()
    client.cookies.set(SESSION, session)
    client.cookies.set(CSRF, csrf)


def test_a_planted_csrf_cookie_does_not_pass_for_the_victims_session(client: TestClient) -> None:
    token = sign_in(client)
    plant(client, "planted-by-the-attacker")
    forged = client.post("/ui/applications/new", data={"csrf": "planted-by-the-attacker", "name": "forged"})
    assert forged.status_code == 403 and not application_exists(client, "forged")
    api = client.post("/tasks", json=CREATE_APP, headers={"X-CSRF-Token": "planted-by-the-attacker"})
    assert api.status_code == 403 and not application_exists(client, "shop")
    # The session's own token still works, whatever the cookie says.
    made = client.post("/ui/applications/new", data={"csrf": token, "name": "real"}, follow_redirects=False)
    assert made.status_code == 303 and application_exists(client, "real")
    assert client.post("/tasks", json=CREATE_APP, headers={"X-CSRF-Token": token}).status_code == 200
    # Basic and Bearer callers have no session, so nothing to forge and no token to send.
    assert client.post("/tasks", json=CREATE_OTHER, headers=basic("ops")).status_code == 200


def test_a_token_from_another_session_does_not_pass(client: TestClient) -> None:
    other = TestClient(client.app)
    stolen = sign_in(other, "ops")
    sign_in(client)
    assert client.post("/tasks", json=CREATE_APP, headers={"X-CSRF-Token": stolen}).status_code == 403


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://testserver:8085", "https://testserver", "null", "not a url"]
)
def test_a_change_from_another_origin_is_refused(client: TestClient, origin: str) -> None:
    token = sign_in(client)
    headers = {"X-CSRF-Token": token, "Origin": origin}
    assert client.post("/tasks", json=CREATE_APP, headers=headers).status_code == 403
    form = client.post("/ui/applications/new", data={"csrf": token, "name": "forged"}, headers={"Origin": origin})
    assert form.status_code == 403 and not application_exists(client, "forged")
    own = {"X-CSRF-Token": token, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/tasks", json=CREATE_APP, headers=own).status_code == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_change_another_site_sends_is_refused(client: TestClient, site: str) -> None:
    token = sign_in(client)
    api = client.post("/tasks", json=CREATE_APP, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": site})
    assert api.status_code == 403 and not application_exists(client, "shop")
    form = client.post("/ui/applications/new", data={"csrf": token, "name": "x"}, headers={"Sec-Fetch-Site": site})
    assert form.status_code == 403 and not application_exists(client, "x")


def test_signing_out_needs_the_token_and_the_own_origin(client: TestClient) -> None:
    token = sign_in(client)
    assert client.post("/ui/logout", follow_redirects=False).status_code == 403
    crossed = client.post("/ui/logout", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert crossed.status_code == 403
    assert client.get("/ui/applications", follow_redirects=False).status_code == 200  # still signed in
    assert client.post("/ui/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/ui/applications", follow_redirects=False).status_code == 303


def test_failed_passwords_for_one_user_are_throttled(build: Build) -> None:
    client, _ = build({"auth": {"throttle": {"maxFailuresPerUser": 3, "maxFailuresPerAddress": 0}}})
    for _ in range(3):
        assert client.get("/auth/user", headers=basic("dev", "wrong-password")).status_code == 401
    refused = client.get("/auth/user", headers=basic("dev"))  # even the right password, while throttled
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 300
    assert client.get("/auth/user", headers=basic("DEV", "wrong-password")).status_code == 429
    form = client.post("/ui/login", data={"username": "dev", "password": PASSWORD})
    assert form.status_code == 429 and "Too many failed sign-ins" in form.text and form.headers["Retry-After"]
    assert client.get("/auth/user", headers=basic("ops")).status_code == 200  # another user is not


def test_a_success_clears_only_its_own_users_count(build: Build) -> None:
    client, _ = build({"auth": {"throttle": {"maxFailuresPerUser": 3, "maxFailuresPerAddress": 0}}})
    for user in ("dev", "dev", "ops", "ops"):
        assert client.get("/auth/user", headers=basic(user, "wrong-password")).status_code == 401
    assert client.get("/auth/user", headers=basic("dev")).status_code == 200
    assert client.get("/auth/user", headers=basic("ops", "wrong-password")).status_code == 401
    assert client.get("/auth/user", headers=basic("ops")).status_code == 429
    assert client.get("/auth/user", headers=basic("dev", "wrong-password")).status_code == 401


def test_failures_from_one_address_are_throttled(build: Build) -> None:
    client, auth = build({"auth": {"throttle": {"maxFailuresPerUser": 0, "maxFailuresPerAddress": 4}}})
    token = auth.create_token("dev", "ci").token
    for user in ("a1", "a2", "dev"):
        assert client.get("/auth/user", headers=basic(user, "wrong-password")).status_code == 401
    assert client.get("/auth/user", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    for headers in (basic("ops"), {"Authorization": f"Bearer {token}"}):
        refused = client.get("/auth/user", headers=headers)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    form = client.post("/ui/login", data={"username": "ops", "password": PASSWORD})
    assert form.status_code == 429


def test_the_throttle_ends_with_its_window(build: Build) -> None:
    client, auth = build({})
    now = [1000.0]
    auth.throttle = auth_module.LoginThrottle(per_user=2, per_address=0, window_s=60, clock=lambda: now[0])
    for _ in range(2):
        assert client.get("/auth/user", headers=basic("dev", "wrong-password")).status_code == 401
    now[0] += 20
    refused = client.get("/auth/user", headers=basic("dev"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "40"
    now[0] += 40
    assert client.get("/auth/user", headers=basic("dev")).status_code == 200


class CountingHasher:
    """Wraps the argon2 hasher, counting verifications."""

    def __init__(self, hasher: Any):
        self.hasher, self.verified = hasher, 0

    def verify(self, stored: str, password: str) -> bool:
        self.verified += 1
        return bool(self.hasher.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self.hasher.hash(password))


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(auth_module._hasher)
    monkeypatch.setattr(auth_module, "_hasher", counting)
    return counting


def test_a_successful_basic_check_is_remembered(client: TestClient, hasher: CountingHasher) -> None:
    for _ in range(3):
        assert client.get("/applications", headers=basic("dev")).status_code == 200
    assert hasher.verified == 1
    assert client.get("/applications", headers=basic("dev", "wrong-password")).status_code == 401
    assert client.get("/applications", headers=basic("dev", "wrong-password")).status_code == 401
    assert hasher.verified == 3  # failures are never remembered


def test_a_password_change_ends_the_remembered_check_in_every_process(
    build: Build, runtime: Runtime, hasher: CountingHasher
) -> None:
    client, auth = build({})
    other_process = auth_service(runtime.db, {})
    for _ in range(2):
        assert client.get("/auth/user", headers=basic("dev")).status_code == 200
    assert hasher.verified == 1
    other_process.add_user("dev", NEW_PASSWORD, ["dev"])
    assert client.get("/auth/user", headers=basic("dev")).status_code == 401
    assert client.get("/auth/user", headers=basic("dev", NEW_PASSWORD)).status_code == 200
    auth.add_user("dev", NEW_PASSWORD, ["qa"])  # same password, new roles: seen at once too
    assert client.get("/auth/user", headers=basic("dev", NEW_PASSWORD)).json()["roles"] == ["qa"]
