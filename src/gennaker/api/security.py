"""Authentication on every route: `Authorization: Basic` (a user's password), `Authorization: Bearer <token>`,
or the browser session cookie.

A change (any method but GET, HEAD, OPTIONS) made with the session cookie must come from Gennaker's own
pages: it is refused when the browser says it comes from elsewhere (`Sec-Fetch-Site`, `Origin`), and it
must carry the session's CSRF token — header `X-CSRF-Token` on API routes, the form field `csrf` on pages
(checked by `gennaker.ui.routes.check_csrf`). Basic and Bearer callers are not concerned: a browser never
adds those headers to a request another site makes it send.

Failed password and token checks are throttled (`AuthService.throttle`): 429 with `Retry-After`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.exceptions import HTTPException

from gennaker.api.deps import Caller, Security, identity_of
from gennaker.api.errors import ApiError
from gennaker.auth.identity import DefaultPolicy, Identity, application_allows
from gennaker.auth.service import AuthService, TooManyFailures

SESSION_COOKIE = "gennaker_session"
CSRF_COOKIE = "gennaker_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_LABEL = b"gennaker csrf token v1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_ORIGIN = frozenset({"same-origin", "none"})  # `none`: the user's own action (address bar, bookmark)


def csrf_token(session: str) -> str:
    """The CSRF token of a browser session: an HMAC keyed with the session token itself. Only the server
    and the browser holding the (httpOnly) session cookie can compute it; every API process finds the same
    one without sharing a key; and the database, which keeps only the session's SHA-256, does not reveal
    it. A token planted by another site or another port of the host matches no session of the victim."""
    digest = hmac.new(session.encode(), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def session_csrf(request: Request) -> str | None:
    """The CSRF token this request's caller must send: None unless it was authenticated by its session
    cookie (a Basic or Bearer caller, or a test double, has nothing to forge)."""
    token: str | None = getattr(request.state, "session_csrf", None)
    return token


def require_csrf(expected: str | None, submitted: str | None, where: str) -> None:
    """Refuse (403) unless `submitted` is the `expected` session token; nothing to check when None."""
    if expected is not None and not hmac.compare_digest(expected.encode(), (submitted or "").encode()):
        raise ApiError(403, f"the CSRF token ({where}) does not match this session; reload the page and try again")


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    """The session's CSRF token as a cookie the pages' script may read (app.js adds it to forms without a
    `csrf` field, such as Sign out). It is not what is checked: the token is, and only the session's matches."""
    response.set_cookie(CSRF_COOKIE, token, samesite="strict", secure=request.url.scheme == "https")


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.scheme.lower(), parts.hostname, port) if parts.hostname else None


def refuse_cross_site(request: Request) -> None:
    """Refuse (403) a change a browser says comes from another page than Gennaker's own: `Sec-Fetch-Site`
    other than `same-origin` or `none` (so `same-site` too: another port of the same host, whose pages
    share our cookies), or an `Origin` other than this request's own (`null` included). A client that
    sends neither (curl, an old browser) is left to the CSRF token. Behind a proxy, the request's own
    origin is what the proxy passes on: forward `Host` and `X-Forwarded-Proto` (docs/security.md)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in _SAME_ORIGIN:
        raise ApiError(403, f"a change sent by another site is refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("Origin")
    if origin is not None:
        claimed = _origin(origin)
        if claimed is None or claimed != _origin(f"{request.url.scheme}://{request.url.netloc}"):
            raise ApiError(403, "a change sent from another origin is refused")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _basic(value: str) -> tuple[str, str] | None:
    try:
        username, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def _session_caller(auth: AuthService, request: Request) -> Identity | None:
    """The caller of a session cookie; a change must also pass the origin and CSRF checks (pages check
    their form's token themselves, having read the form)."""
    session = request.cookies.get(SESSION_COOKIE)
    found = auth.authenticate_token(session, kind="session") if session else None
    if session is None or found is None:
        return None
    request.state.session_csrf = csrf_token(session)
    if request.method not in SAFE_METHODS:
        refuse_cross_site(request)
        if not request.url.path.startswith("/ui/"):
            require_csrf(request.state.session_csrf, request.headers.get(CSRF_HEADER), f"header {CSRF_HEADER}")
    return found


def local_security(auth: AuthService, default: DefaultPolicy) -> Security:
    def authenticate(request: Request) -> Caller | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme.lower() == "basic":
                credentials = _basic(value.strip())
                return auth.authenticate_basic(*credentials, client=client_address(request)) if credentials else None
            if scheme.lower() == "bearer":
                return auth.authenticate_token(value.strip(), client=client_address(request))
        except TooManyFailures as refused:
            raise HTTPException(429, str(refused), headers={"Retry-After": str(refused.retry_after_s)}) from None
        return _session_caller(auth, request)

    def allows(who: Caller, attributes: dict[str, Any] | None, permission: str) -> bool:
        return application_allows(identity_of(who), attributes, permission, default)

    return Security(authenticate=authenticate, application_allows=allows)
