"""API errors, rendered as `Status` objects exactly the way the real API server does."""

from __future__ import annotations

from typing import Any


class KubeError(Exception):
    """An error response. `to_status()` gives the body (kind Status); `code` is the HTTP status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def qualified(plural: str, group: str) -> str:
    """`deployments.apps`, or just `pods` for the core group, as in real error messages."""
    return f"{plural}.{group}" if group else plural


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(plural: str, group: str, name: str) -> KubeError:
    return KubeError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found', _details(name, group, plural))


def already_exists(plural: str, group: str, name: str) -> KubeError:
    return KubeError(
        409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists', _details(name, group, plural)
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> KubeError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return KubeError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> KubeError:
    """422 Invalid. `causes` are (field, reason, message), e.g. ("spec.replicas", "FieldValueInvalid", "Invalid
    value: -1: must be greater than or equal to 0")."""
    what = f"{kind}.{group}" if group else kind
    text = ", ".join(f"{field}: {msg}" for field, _, msg in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details = _details(name, group, kind)
    details["causes"] = [{"reason": reason, "message": msg, "field": field} for field, reason, msg in causes]
    return KubeError(422, "Invalid", f'{what} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def gone(message: str) -> KubeError:
    return KubeError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> KubeError:
    return KubeError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> KubeError:
    return KubeError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - {content_type}")


def path_not_found() -> KubeError:
    return KubeError(404, "NotFound", "the server could not find the requested resource", {})
