"""Authentication on every route: `Authorization: Basic` (a user's password), `Authorization: Bearer <token>`,
or the browser session cookie. Requests that change something with a session cookie must carry the CSRF
token (header `X-CSRF-Token`, or the form field the UI pages check) equal to the `gennaker_csrf` cookie."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from fastapi import Request

from gennaker.api.deps import Caller, Security, identity_of
from gennaker.auth.identity import DefaultPolicy, application_allows
from gennaker.auth.service import AuthService

SESSION_COOKIE = "gennaker_session"
CSRF_COOKIE = "gennaker_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _basic(value: str) -> tuple[str, str] | None:
    try:
        username, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def local_security(auth: AuthService, default: DefaultPolicy) -> Security:
    def authenticate(request: Request) -> Caller | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            credentials = _basic(value.strip())
            return auth.authenticate_basic(*credentials) if credentials else None
        if scheme.lower() == "bearer":
            return auth.authenticate_token(value.strip())
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            return None
        if request.method not in SAFE_METHODS and not request.url.path.startswith("/ui/"):
            token, cookie = request.headers.get("X-CSRF-Token", ""), request.cookies.get(CSRF_COOKIE, "")
            if not cookie or not secrets.compare_digest(token, cookie):
                return None
        return auth.authenticate_token(session, kind="session")

    def allows(who: Caller, attributes: dict[str, Any] | None, permission: str) -> bool:
        return application_allows(identity_of(who), attributes, permission, default)

    return Security(authenticate=authenticate, application_allows=allows)
