"""What the service refuses, by kind: the API answers 404, 403, 400 (with `details`), 409 and 502; the pages show
the message or the field; the local CLI prints it on one line."""

from __future__ import annotations

from collections.abc import Iterable


class ServiceError(Exception):
    """A request the service will not carry out; the message says why."""

    def details(self) -> list[dict[str, str]]:
        return []


class NotFound(ServiceError, LookupError):
    """No such thing, or none the caller may read (so its existence is not revealed)."""


class Forbidden(ServiceError, PermissionError):
    """The caller may see the thing but lacks the permission the request needs."""


class Conflict(ServiceError):
    """Not possible in the current state (a name taken, an execution already finished)."""


class Unavailable(ServiceError):
    """A deployment target (or another system the request needs) failed or could not be reached."""


class Invalid(ServiceError, ValueError):
    """Bad input; `problems` are (field, problem) pairs."""

    def __init__(self, message: str, problems: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def field(cls, field: str, problem: str) -> Invalid:
        """One field's problem, the message naming it."""
        return cls(f"{field}: {problem}", [(field, problem)])

    def details(self) -> list[dict[str, str]]:
        return [{"field": field, "problem": problem} for field, problem in self.problems]
