"""Every request that changes something is recorded: who, what, when, from where, and how it ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from gennaker.auth.service import AuthService

READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def install_audit(app: FastAPI, auth: AuthService) -> None:
    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.method not in READ_ONLY and request.url.path != "/ui/login":
            caller = getattr(request.state, "caller", None)
            auth.record(
                caller.username if caller is not None else None,
                request.method,
                request.url.path,
                response.status_code,
                request.client.host if request.client else None,
            )
        return response
