"""A minimal OpenID Connect provider on 127.0.0.1 for tests: discovery, JWKS, an authorization endpoint that
approves one configured user at once, a token endpoint (client secret and PKCE checked) and userinfo.

    with OidcEmulator(redirect_uris={"http://testserver/ui/login/oidc/callback"}) as idp:
        idp.user = {"sub": "u1", "preferred_username": "ann", "groups": ["devs"]}
        ... idp.issuer ...

Test knobs: `id_token_claims` overrides claims of the next ID tokens (a value of None removes the claim),
`signing_key` signs them with another key, `deny` makes /authorize answer `error=access_denied`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    method: str | None
    claims: dict[str, Any]


@dataclass
class OidcEmulator:
    client_id: str = "gennaker"
    client_secret: str = "emulator-client-secret"
    redirect_uris: set[str] = field(default_factory=set)
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "248289761001",
            "preferred_username": "janedoe",
            "email": "jane@example.org",
            "groups": ["Developers"],
        }
    )
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    signing_key: RSAKey | None = None
    deny: bool = False
    token_lifetime_s: int = 300

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, parameters
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-emulator", daemon=True)

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> OidcEmulator:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- endpoints ---------------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
        }

    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if params.get("client_id") != self.client_id:
            return 400, {}, b"unknown client_id"
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return 400, {}, b"redirect_uri not registered"
        if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
            query = {"error": "invalid_request", "state": params.get("state", "")}
            return 302, {"Location": f"{redirect_uri}?{urlencode(query)}"}, b""
        if self.deny:
            query = {"error": "access_denied", "error_description": "The user said no"}
            query["state"] = params.get("state", "")
            return 302, {"Location": f"{redirect_uri}?{urlencode(query)}"}, b""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.grants[code] = Grant(
                self.client_id,
                redirect_uri,
                params.get("nonce"),
                params.get("code_challenge"),
                params.get("code_challenge_method"),
                dict(self.user),
            )
        query = {"code": code, "state": params.get("state", "")}
        return 302, {"Location": f"{redirect_uri}?{urlencode(query)}"}, b""

    def _client_ok(self, headers: dict[str, str], params: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        if value.startswith("Basic "):
            user, _, secret = base64.b64decode(value[6:]).decode().partition(":")
            client_id, client_secret = unquote_plus(user), unquote_plus(secret)
        else:
            client_id, client_secret = params.get("client_id", ""), params.get("client_secret", "")
        return client_id == self.client_id and secrets.compare_digest(client_secret, self.client_secret)

    def token(self, headers: dict[str, str], params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if not self._client_ok(headers, params):
            return 401, {"error": "invalid_client"}
        if params.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self.grants.pop(params.get("code", ""), None)
        if grant is None or grant.redirect_uri != params.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "unknown code or redirect_uri"}
        verifier = params.get("code_verifier", "")
        if grant.challenge is None or grant.method != "S256" or _s256(verifier) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + self.token_lifetime_s,
            "auth_time": now,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **grant.claims,
        }
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.signing_key or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid or ""}, claims, key)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens[access_token] = grant.claims
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
            "id_token": id_token,
            "scope": "openid profile email",
        }

    def userinfo(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        value = headers.get("authorization", "")
        with self._lock:
            claims = self.access_tokens.get(value[7:]) if value.startswith("Bearer ") else None
        return (200, claims) if claims is not None else (401, {"error": "invalid_token"})

    # -- HTTP ----------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, document: dict[str, Any]) -> None:
                self._reply(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

            def _headers(self) -> dict[str, str]:
                return {k.lower(): v for k, v in self.headers.items()}

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                emulator.requests.append(("GET", parts.path, params))
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, emulator.discovery())
                elif parts.path == "/jwks":
                    self._json(200, {"keys": [emulator.key.as_dict(private=False)]})
                elif parts.path == "/authorize":
                    status, headers, body = emulator.authorize(params)
                    self._reply(status, body, headers)
                elif parts.path == "/userinfo":
                    self._json(*emulator.userinfo(self._headers()))
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                params = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                emulator.requests.append(("POST", parts.path, params))
                if parts.path == "/token":
                    self._json(*emulator.token(self._headers(), params))
                else:
                    self._json(404, {"error": "not_found"})

        return Handler
