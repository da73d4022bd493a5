"""OpenID Connect sign-in against the provider emulator: the whole browser-less flow, roles, and refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from gennaker.auth.oidc import STATE_COOKIE
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from tests.emulators.oidc.server import OidcEmulator
from tests.integration.auth.conftest import AppFactory, add_application

pytestmark = pytest.mark.slow

CALLBACK = "http://testserver/ui/login/oidc/callback"


class Answer(Protocol):
    """An HTTP response, from httpx or from the TestClient (which may use another httpx package)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


@pytest.fixture
def idp() -> Iterator[OidcEmulator]:
    with OidcEmulator(redirect_uris={CALLBACK}) as emulator:
        yield emulator


def oidc_config(idp: OidcEmulator, **overrides: Any) -> dict[str, Any]:
    section = {
        "enabled": True,
        "name": "Emulator",
        "issuer": idp.issuer,
        "clientId": idp.client_id,
        "clientSecret": idp.client_secret,
        "roleMapping": {"Developers": "devs"},
        "adminGroups": ["platform-admins"],
        **overrides,
    }
    return {"auth": {"oidc": section}}


@pytest.fixture
def app(app_with: AppFactory, idp: OidcEmulator) -> tuple[TestClient, AuthService]:
    return app_with(oidc_config(idp))


def to_provider(client: TestClient, next_page: str = "/ui/applications/shop") -> str:
    """Start the sign-in; returns the provider's authorization URL."""
    started = client.get("/ui/login/oidc", params={"next": next_page}, follow_redirects=False)
    assert started.status_code == 303, started.text
    assert STATE_COOKIE in started.headers["set-cookie"] and "HttpOnly" in started.headers["set-cookie"]
    return started.headers["location"]


def at_provider(url: str) -> str:
    """What the browser would do at the provider (it auto-approves); returns the redirect back to Gennaker."""
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(client: TestClient, next_page: str = "/ui/applications/shop") -> Answer:
    back = at_provider(to_provider(client, next_page))
    return client.get(back, follow_redirects=False)


def test_full_flow_signs_in_with_roles_from_groups(
    app: tuple[TestClient, AuthService], idp: OidcEmulator, runtime: Runtime
) -> None:
    client, auth = app
    add_application(runtime, "shop", {"permissions": {"READ": ["devs"], "WRITE": ["devs"]}})
    add_application(runtime, "vault", {"permissions": {"READ": ["security"]}})

    page = client.get("/ui/login?next=/ui/applications/shop")
    assert "Sign in with Emulator" in page.text and "/ui/login/oidc?next=/ui/applications/shop" in page.text

    authorize = to_provider(client)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    assert query["client_id"] == ["gennaker"] and query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and "openid" in query["scope"][0].split()

    done = client.get(at_provider(authorize), follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/ui/applications/shop"
    assert client.cookies.get("gennaker_session")

    me = client.get("/auth/user").json()
    assert me == {"username": "janedoe", "email": None, "roles": ["devs"], "admin": False}
    assert client.get("/applications/shop").status_code == 200
    assert client.get("/applications/vault").status_code == 404
    assert auth.identity("janedoe") is not None and auth.identity("janedoe").source == "oidc"  # type: ignore[union-attr]
    # The token request carried the PKCE verifier and the client's credentials (checked by the emulator).
    assert any(path == "/token" and params.get("code_verifier") for _, path, params in idp.requests)


def test_admin_group_and_fallback_user_name(app: tuple[TestClient, AuthService], idp: OidcEmulator) -> None:
    client, _ = app
    idp.user = {"sub": "u-42", "email": "root@example.org", "groups": ["Platform-Admins", "Ops"]}
    assert sign_in(client).status_code == 303
    me = client.get("/auth/user").json()
    assert me["username"] == "root@example.org" and me["admin"] is True and me["roles"] == ["ops", "platform-admins"]
    # The session works for changes too (with the CSRF token), and as an admin.
    csrf = client.cookies.get("gennaker_csrf") or ""
    created = client.post("/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    client.cookies.clear()
    bearer = client.get("/auth/user", headers={"Authorization": f"Bearer {token}"})
    assert bearer.json()["username"] == "root@example.org" and bearer.json()["admin"] is True


def test_groups_claim_may_be_nested_and_roles_refresh_at_next_sign_in(app_with: AppFactory, idp: OidcEmulator) -> None:
    client, auth = app_with(oidc_config(idp, groupsClaim="realm_access.roles"))
    idp.user = {"sub": "1", "preferred_username": "kim", "realm_access": {"roles": ["QA"]}}
    assert sign_in(client).status_code == 303
    assert client.get("/auth/user").json()["roles"] == ["qa"]
    idp.user = {"sub": "1", "preferred_username": "kim", "realm_access": {"roles": ["Developers"]}}
    assert sign_in(client).status_code == 303
    assert client.get("/auth/user").json()["roles"] == ["devs"]
    assert auth.identity("kim").roles == frozenset({"devs"})  # type: ignore[union-attr]


def refused(response: Answer, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert "Sign in" in response.text and words in response.text, response.text
    assert "gennaker_session" not in response.headers.get("set-cookie", "")


def test_tampered_state_is_refused(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    back = urlsplit(at_provider(to_provider(client)))
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    params["state"] = params["state"][:-2] + "xx"
    refused(client.get(f"{back.path}?{urlencode(params)}", follow_redirects=False), 401, "(state)")
    assert client.get("/auth/user").status_code == 401


def test_callback_without_the_flow_cookie_is_refused(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    back = at_provider(to_provider(client))
    client.cookies.clear()
    refused(client.get(back, follow_redirects=False), 401, "started in another browser")


def test_forged_flow_cookie_is_refused(app: tuple[TestClient, AuthService]) -> None:
    client, _ = app
    back = at_provider(to_provider(client))
    cookie = client.cookies.get(STATE_COOKIE) or ""
    client.cookies.clear()
    client.cookies.set(STATE_COOKIE, cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))
    refused(client.get(back, follow_redirects=False), 401, "started in another browser")
    client.cookies.clear()
    client.cookies.set(STATE_COOKIE, cookie)  # the genuine one, set the same way, is accepted
    assert client.get(back, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"nonce": "another-nonce"}, "(nonce)"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "has expired"),
        ({"aud": "some-other-client"}, "(aud)"),
        ({"iss": "http://127.0.0.1:1/elsewhere"}, "(iss)"),
        ({"nonce": None}, "nonce"),
    ],
)
def test_invalid_id_tokens_are_refused(
    app: tuple[TestClient, AuthService], idp: OidcEmulator, claims: dict[str, Any], words: str
) -> None:
    client, _ = app
    idp.id_token_claims = claims
    refused(sign_in(client), 401, words)
    assert client.get("/auth/user").status_code == 401


def test_token_signed_with_an_unknown_key_is_refused(app: tuple[TestClient, AuthService], idp: OidcEmulator) -> None:
    client, _ = app
    idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": idp.key.kid or ""})
    refused(sign_in(client), 401, "(signature)")


def test_provider_refusal_and_wrong_client_secret(app_with: AppFactory, idp: OidcEmulator) -> None:
    client, _ = app_with(oidc_config(idp))
    idp.deny = True
    refused(sign_in(client), 401, "Emulator refused the sign-in (access_denied: The user said no)")
    idp.deny = False
    wrong, _ = app_with(oidc_config(idp, clientSecret="not-the-secret"))
    refused(sign_in(wrong), 401, "invalid_client")


def test_provider_down_shows_the_login_page(app_with: AppFactory) -> None:
    section = {
        "enabled": True,
        "issuer": "http://127.0.0.1:9",
        "clientId": "x",
        "clientSecret": "y",
        "timeoutSeconds": 2,
    }
    client, _ = app_with({"auth": {"oidc": section}})
    answer = client.get("/ui/login/oidc", follow_redirects=False)
    assert answer.status_code == 503 and "cannot be reached" in answer.text


def test_a_local_user_name_cannot_be_taken_over(app: tuple[TestClient, AuthService], idp: OidcEmulator) -> None:
    client, auth = app
    idp.user = {"sub": "evil", "preferred_username": "admin", "groups": ["platform-admins"]}
    refused(sign_in(client), 403, "belongs to another account")
    assert auth.identity("admin").source == "local"  # type: ignore[union-attr]


def test_emulator_rejects_unknown_clients_and_redirects(idp: OidcEmulator) -> None:
    base = {"response_type": "code", "scope": "openid", "state": "s", "redirect_uri": CALLBACK}
    assert httpx.get(f"{idp.issuer}/authorize", params={**base, "client_id": "nobody"}).status_code == 400
    bad_redirect = {**base, "client_id": idp.client_id, "redirect_uri": "http://127.0.0.1:1/cb"}
    assert httpx.get(f"{idp.issuer}/authorize", params=bad_redirect).status_code == 400
    assert httpx.get(f"{idp.issuer}/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_without_oidc_there_is_no_button_and_no_route(app_with: AppFactory) -> None:
    client, _ = app_with({})
    assert "Sign in with" not in client.get("/ui/login").text
    assert client.get("/ui/login/oidc", follow_redirects=False).status_code == 404
