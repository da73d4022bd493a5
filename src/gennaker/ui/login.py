"""Signing in and out of the UI with a local user's password; the session is an httpOnly cookie."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gennaker.api.security import CSRF_COOKIE, SESSION_COOKIE
from gennaker.auth.service import SESSION_TTL_MS, AuthService
from gennaker.ui.routes import templates

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    """Only local paths, so the login page cannot bounce a user to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/ui/applications"


@router.get("/ui/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/applications") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": None, "user": None})


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await request.form()
    auth: AuthService = request.app.state.auth
    target = _safe_next(str(form.get("next") or "/ui/applications"))
    identity = auth.authenticate_basic(str(form.get("username") or ""), str(form.get("password") or ""))
    if identity is None:
        page = templates.TemplateResponse(
            request, "login.html", {"next": target, "error": "Wrong user name or password.", "user": None}
        )
        page.status_code = 401
        return page
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        auth.create_session(identity.username),
        max_age=SESSION_TTL_MS // 1000,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="strict", secure=secure)
    return response


@router.post("/ui/logout")
def logout(request: Request) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        request.app.state.auth.revoke_session(session)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
