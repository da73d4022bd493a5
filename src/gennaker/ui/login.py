"""Signing in and out of the UI: with a password (local user, or LDAP when configured), or with OpenID
Connect when `auth.oidc` is enabled. Either way the session is the same httpOnly cookie. Password sign-ins
are throttled like Basic credentials (429 after too many failures for the name or the address); signing
in and out must come from Gennaker's own pages, and signing out needs the session's CSRF token."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gennaker.api.security import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    client_address,
    csrf_token,
    refuse_cross_site,
    require_csrf,
    set_csrf_cookie,
)
from gennaker.auth.oidc import STATE_COOKIE, STATE_TTL_S, OidcError, OidcLogin
from gennaker.auth.service import SESSION_TTL_MS, AuthService, TooManyFailures
from gennaker.ui.routes import templates

router = APIRouter(include_in_schema=False)
log = logging.getLogger("gennaker.auth")
OIDC_PATH = "/ui/login/oidc"


def _safe_next(target: str) -> str:
    """Only local paths, so the login page cannot bounce a user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/ui/applications"


def _auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


def _page(request: Request, target: str, error: str | None, status: int = 200) -> HTMLResponse:
    oidc = _auth(request).oidc
    page = templates.TemplateResponse(
        request,
        "login.html",
        {"next": target, "error": error, "user": None, "oidc": oidc.name if oidc else None},
    )
    page.status_code = status
    return page


def _signed_in(request: Request, username: str, target: str) -> Response:
    """Redirect to `target` with a new session cookie (and its CSRF token's cookie) for `username`."""
    response = RedirectResponse(target, status_code=303)
    session = _auth(request).create_session(username)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_TTL_MS // 1000,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    set_csrf_cookie(response, request, csrf_token(session))
    return response


@router.get("/ui/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/applications") -> HTMLResponse:
    return _page(request, _safe_next(next), None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    refuse_cross_site(request)  # another site must not sign a browser in to an account of its choosing
    form = await request.form()
    target = _safe_next(str(form.get("next") or "/ui/applications"))
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    try:
        identity = await asyncio.to_thread(
            _auth(request).authenticate_basic, username, password, client=client_address(request)
        )
    except TooManyFailures as refused:
        page = _page(request, target, f"Too many failed sign-ins; try again in {refused.retry_after_s} seconds.", 429)
        page.headers["Retry-After"] = str(refused.retry_after_s)
        return page
    if identity is None:
        return _page(request, target, "Wrong user name or password.", 401)
    return _signed_in(request, identity.username, target)


def _oidc(request: Request) -> OidcLogin | None:
    return _auth(request).oidc


def _redirect_uri(request: Request, oidc: OidcLogin) -> str:
    return oidc.config.redirect_uri or str(request.url_for("oidc_callback"))


@router.get(OIDC_PATH, response_model=None)
def oidc_start(request: Request, next: str = "/ui/applications") -> Response:
    """Send the browser to the identity provider, remembering the attempt in a signed cookie."""
    oidc, target = _oidc(request), _safe_next(next)
    if oidc is None:
        return _page(request, target, "OpenID Connect sign-in is not configured.", 404)
    try:
        started = oidc.start(_redirect_uri(request, oidc), target)
    except OidcError as error:
        return _page(request, target, str(error), 503)
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        started.cookie,
        max_age=STATE_TTL_S,
        path=OIDC_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to the callback
        secure=request.url.scheme == "https",
    )
    return response


@router.get(OIDC_PATH + "/callback", name="oidc_callback", response_model=None)
def oidc_callback(request: Request) -> Response:
    """The provider's redirect back: check it, sign the user in, and go to the page they wanted."""
    oidc = _oidc(request)
    if oidc is None:
        return _page(request, "/ui/applications", "OpenID Connect sign-in is not configured.", 404)
    try:
        result = oidc.finish(dict(request.query_params), request.cookies.get(STATE_COOKIE))
    except OidcError as error:
        response: Response = _page(request, "/ui/applications", str(error), 401)
    else:
        if _auth(request).remember_external(result.identity):
            log.info("OIDC sign-in of %s", result.identity.username)
            response = _signed_in(request, result.identity.username, _safe_next(result.next))
        else:
            message = f"The user name {result.identity.username} belongs to another account; ask an administrator."
            response = _page(request, _safe_next(result.next), message, 403)
    response.delete_cookie(STATE_COOKIE, path=OIDC_PATH)
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session. Like any change, only from Gennaker's own pages and with the session's token, so
    another site cannot sign a user out."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        refuse_cross_site(request)
        form = await request.form()
        submitted = str(form.get("csrf") or request.headers.get(CSRF_HEADER) or "")
        require_csrf(csrf_token(session), submitted, "form")
        await asyncio.to_thread(_auth(request).revoke_session, session)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
