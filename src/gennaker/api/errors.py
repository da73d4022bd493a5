"""Every error is JSON: `{"error", "message", "status", "details": [{"field", "problem"}]}`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gennaker.engine.launcher import LaunchError
from gennaker.engine.operations import NotFound, OperationError
from gennaker.model.pipeline import PipelineValidationError


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def error_body(status: int, message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {"error": reason, "message": message, "status": status, "details": details or []}


def _respond(status: int, message: str, details: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status_code=status)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc.status, exc.message, exc.details)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _respond(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field(tuple(e.get("loc", ()))), "problem": e.get("msg", "invalid")} for e in exc.errors()]
        first = details[0] if details else {"field": "body", "problem": "invalid"}
        return _respond(400, f"{first['field']}: {first['problem']}", details)

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
