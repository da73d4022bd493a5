"""Local users, tokens, sessions, permissions and the audit log (issue 4, items 4-6 and 8)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.api.security import local_security
from gennaker.auth.identity import DefaultPolicy, Identity, application_allows
from gennaker.auth.service import AuthService, LoginThrottle, TooManyFailures
from gennaker.runtime import Runtime
from gennaker.store.tables import users
from tests.support import make_runtime

PASSWORD = "correct horse battery"


@pytest.fixture
def auth(runtime: Runtime) -> AuthService:
    service = AuthService(runtime.db)
    service.add_user("dev", PASSWORD, ["Developers"])
    service.add_user("ops", PASSWORD, ["ops"])
    return service


@pytest.fixture
def client(runtime: Runtime, auth: AuthService) -> Iterator[TestClient]:
    app = create_app(runtime, local_security(auth, DefaultPolicy()), auth=auth)
    with TestClient(app) as test_client:
        yield test_client


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_first_admin_gets_a_generated_password_once_stored_hashed(runtime: Runtime) -> None:
    service = AuthService(runtime.db)
    generated = service.ensure_admin(None)
    assert generated and len(generated) >= 20
    assert service.ensure_admin(None) is None
    with runtime.db.read() as conn:
        stored = conn.execute(users.select().where(users.c.username == "admin")).first()
    assert stored is not None and stored.password_hash.startswith("$argon2") and generated not in stored.password_hash
    assert service.authenticate_basic("admin", generated) == Identity("admin", frozenset({"admin"}), True)
    assert service.authenticate_basic("admin", "wrong-password") is None
    assert service.authenticate_basic("nobody", generated) is None


def test_tokens_expire_and_revoke(auth: AuthService) -> None:
    issued = auth.create_token("dev", "ci")
    assert auth.authenticate_token(issued.token) == Identity("dev", frozenset({"developers"}), False, "token")
    assert auth.authenticate_token(issued.token, kind="session") is None
    assert auth.revoke_token(issued.id)
    assert auth.authenticate_token(issued.token) is None
    expired = auth.create_token("dev", "short", ttl_ms=-1)
    assert auth.authenticate_token(expired.token) is None
    assert [t["name"] for t in auth.list_tokens("dev")] == ["ci", "short"]
    assert "token" not in auth.list_tokens("dev")[0]


@pytest.mark.parametrize(
    ("roles", "admin", "permissions", "permission", "allowed"),
    [
        ({"dev"}, False, {"READ": ["dev"]}, "READ", True),
        ({"dev"}, False, {"READ": ["dev"]}, "WRITE", False),
        ({"dev"}, False, {"READ": ["dev"]}, "EXECUTE", True),  # no EXECUTE list: READ grants it
        ({"dev"}, False, {"READ": ["dev"], "EXECUTE": ["ops"]}, "EXECUTE", False),
        ({"dev"}, False, {"WRITE": ["DEV"]}, "READ", True),  # WRITE implies READ; roles are case-insensitive
        ({"dev"}, False, {}, "READ", False),  # no permissions: restricted by default
        (set(), True, {}, "WRITE", True),
        ({"x"}, False, {"READ": ["dev"]}, "READ", False),
    ],
)
def test_fiat_rules(roles: set[str], admin: bool, permissions: dict, permission: str, allowed: bool) -> None:
    who = Identity("someone", frozenset(roles), admin)
    assert application_allows(who, {"permissions": permissions}, permission) is allowed


def test_default_policy_can_open_unrestricted_applications_to_roles() -> None:
    who = Identity("someone", frozenset({"everyone"}))
    assert application_allows(who, {}, "EXECUTE", DefaultPolicy(frozenset({"everyone"})))


def test_basic_bearer_and_anonymous(client: TestClient, auth: AuthService) -> None:
    assert client.get("/auth/user").status_code == 401
    assert client.get("/auth/user", headers=basic("dev", "nope")).status_code == 401
    assert client.get("/auth/user", headers=basic("dev")).json()["username"] == "dev"
    token = auth.create_token("ops", "cli").token
    assert client.get("/auth/user", headers={"Authorization": f"Bearer {token}"}).json()["roles"] == ["ops"]
    assert client.get("/auth/user", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/auth/users", headers=basic("dev")).status_code == 403


def test_ui_sign_in_session_and_csrf(client: TestClient) -> None:
    refused = client.post("/ui/login", data={"username": "dev", "password": "bad", "next": "/ui/applications"})
    assert refused.status_code == 401 and "Wrong user name or password" in refused.text
    signed_in = client.post(
        "/ui/login",
        data={"username": "dev", "password": PASSWORD, "next": "//evil.example.com"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/applications"
    assert client.get("/ui/applications").status_code == 200
    body = {"job": [{"type": "createApplication", "application": {"name": "shop"}}]}
    assert client.post("/tasks", json=body).status_code == 403  # a cookie alone cannot change things
    csrf = client.cookies.get("gennaker_csrf")
    assert client.post("/tasks", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/ui/applications", follow_redirects=False).status_code == 303


def test_admin_manages_users_and_tokens_and_reads_the_audit(client: TestClient, auth: AuthService) -> None:
    auth.add_user("boss", PASSWORD, [], is_admin=True)
    created = client.post(
        "/auth/users", json={"username": "ann", "password": "s3cret-pass", "roles": ["qa"]}, headers=basic("boss")
    )
    assert created.status_code == 201 and "password" not in created.text
    token = client.post(
        "/auth/tokens", json={"name": "robot", "user": "ann", "expiresInDays": 30}, headers=basic("boss")
    )
    assert token.status_code == 201
    secret = token.json()["token"]
    assert client.get("/auth/user", headers={"Authorization": f"Bearer {secret}"}).json()["username"] == "ann"
    listed = client.get("/auth/tokens", headers=basic("boss")).text
    assert secret not in listed and "robot" in listed
    assert client.post("/auth/tokens", json={"name": "x", "user": "boss"}, headers=basic("dev")).status_code == 403
    entries = client.get("/audit", headers=basic("boss")).json()
    assert {"user": "boss", "action": "POST", "resource": "/auth/users", "status": 201} in [
        {k: e[k] for k in ("user", "action", "resource", "status")} for e in entries
    ]
    everything = str(entries) + listed
    assert secret not in everything and "s3cret-pass" not in everything


def test_secrets_never_reach_responses_or_logs(
    client: TestClient, auth: AuthService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = auth.create_token("dev", "scan").token
    bodies = [
        client.get(path, headers=headers).text
        for path in ("/auth/user", "/auth/tokens", "/applications", "/credentials", "/metrics")
        for headers in (basic("dev"), {"Authorization": f"Bearer {token}"})
    ]
    client.post("/ui/login", data={"username": "dev", "password": PASSWORD})
    text = "\n".join(bodies) + caplog.text
    assert PASSWORD not in text and token not in text and "$argon2" not in text


def test_audit_page_for_admins_only(client: TestClient, auth: AuthService) -> None:
    auth.add_user("boss", PASSWORD, [], is_admin=True)
    client.post(
        "/tasks", json={"job": [{"type": "createApplication", "application": {"name": "shop"}}]}, headers=basic("boss")
    )
    page = client.get("/ui/audit", headers=basic("boss"))
    assert page.status_code == 200 and "/tasks" in page.text and "boss" in page.text
    assert client.get("/ui/audit", headers=basic("dev")).status_code == 403


def test_account_secrets_never_reach_responses_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Kubeconfig contents and artifact account credentials stay out of every listing and log."""
    caplog.set_level(logging.DEBUG)
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "users": [{"name": "u", "user": {"token": "kube-token-zzz"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        }
    )
    config = {
        "providers": {"kubernetes": {"accounts": [{"name": "prod", "kubeconfigContents": kubeconfig}]}},
        "artifacts": {
            "http": {
                "accounts": [{"name": "web", "username": "u", "password": "http-pass-zzz", "hosts": ["h.example"]}]
            },
            "github": {"accounts": [{"name": "gh", "token": "gh-token-zzz"}]},
        },
    }
    rt = make_runtime(tmp_path, config=config)
    service = AuthService(rt.db)
    service.add_user("dev", PASSWORD, ["dev"])
    try:
        with TestClient(create_app(rt, local_security(service, DefaultPolicy()), auth=service)) as client:
            pages = [
                client.get(path, headers=basic("dev")).text
                for path in ("/credentials", "/credentials/prod", "/artifacts/credentials", "/ui/accounts")
            ]
        seen = "\n".join(pages) + caplog.text + repr(rt.kubernetes.accounts.get("prod"))
        assert "prod" in pages[0] and "gh" in pages[2]
        for secret in ("kube-token-zzz", "http-pass-zzz", "gh-token-zzz"):
            assert secret not in seen
    finally:
        rt.close()


def test_the_login_throttle_keeps_a_bounded_number_of_counts() -> None:
    now = [0.0]
    throttle = LoginThrottle(per_user=2, per_address=0, window_s=60, clock=lambda: now[0], max_keys=2)
    throttle.failed("old", None)
    now[0] = 100.0  # "old" has no failure left in the window: dropped first
    for name in ("a", "b", "c"):
        throttle.failed(name, None)
    assert len(throttle._failures) <= 2
    throttle.failed("c", None)
    with pytest.raises(TooManyFailures):
        throttle.check("C", "any address")
