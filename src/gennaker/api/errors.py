"""Every error is JSON: `{"error", "message", "status", "details": [{"field", "problem"}]}`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from gennaker.engine.launcher import LaunchError
from gennaker.engine.operations import NotFound, OperationError
from gennaker.model.pipeline import PipelineValidationError
from gennaker.service.errors import Conflict, Forbidden, Invalid, ServiceError, Unavailable
from gennaker.service.errors import NotFound as Missing


class ProblemDetail(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    status: int
    details: list[ProblemDetail]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": description}
    for code, description in (
        (400, "Invalid input; `details` names each field"),
        (401, "Authentication required"),
        (403, "Permission denied"),
        (404, "Not found"),
        (409, "Not allowed in the current state"),
        (502, "A deployment target failed or could not be reached"),
    )
}


# The service's refusals by kind (gennaker/service/errors.py).
SERVICE_STATUSES: tuple[tuple[type[ServiceError], int], ...] = (
    (Missing, 404),
    (Forbidden, 403),
    (Invalid, 400),
    (Conflict, 409),
    (Unavailable, 502),
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def error_body(status: int, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"error": reason, "message": message, "status": status, "details": details or []}


def _respond(
    status: int, message: str, details: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status_code=status, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    """`("body", "stages", 0, "type")` → `stages[0].type`, the form pipeline validation uses too."""
    out = ""
    for part in location:
        if part in ("body", "query", "path", "header"):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "__none__"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status == 401 and request.method == "GET" and request.url.path.startswith("/ui/"):
            return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
        return _respond(exc.status, exc.message, exc.details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # one path may be served by several routes: list all their methods
            headers["Allow"] = ", ".join(allowed_methods(request))
        return _respond(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": _field(tuple(e.get("loc", ()))),
                "problem": str(e.get("msg", "invalid")).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        first = details[0] if details else {"field": "body", "problem": "invalid"}
        return _respond(400, f"{first['field']}: {first['problem']}", details)

    @app.exception_handler(ServiceError)
    async def refused(_: Request, exc: ServiceError) -> JSONResponse:
        status = next((code for kind, code in SERVICE_STATUSES if isinstance(exc, kind)), 400)
        return _respond(status, str(exc), exc.details())

    @app.exception_handler(PipelineValidationError)
    async def invalid_pipeline(_: Request, exc: PipelineValidationError) -> JSONResponse:
        return _respond(400, f"invalid pipeline: {exc}", [e.to_json() for e in exc.errors])

    @app.exception_handler(LaunchError)
    async def launch_error(_: Request, exc: LaunchError) -> JSONResponse:
        return _respond(400, str(exc), [e.to_json() for e in exc.errors])

    @app.exception_handler(OperationError)
    async def conflict(_: Request, exc: OperationError) -> JSONResponse:
        return _respond(409, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _respond(404, str(exc))
