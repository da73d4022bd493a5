"""Request dependencies: the runtime, the authenticated caller, and the actor the service judges it as.

Authentication and authorization are injected when the app is built (`create_app`), so every route
declares what it needs and the policy lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from gennaker.api.errors import ApiError
from gennaker.auth.identity import Identity, account_allows
from gennaker.runtime import Runtime
from gennaker.service.access import Actor


class Caller(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True)
class Security:
    """How callers are identified and what they may do to an application (READ, WRITE, EXECUTE)."""

    authenticate: Callable[[Request], Caller | None]
    application_allows: Callable[[Caller, dict[str, Any] | None, str], bool]


def identity_of(who: Caller) -> Identity:
    """The caller as the permission rules see it (test callers may carry no roles)."""
    if isinstance(who, Identity):
        return who
    return Identity(who.username, frozenset(getattr(who, "roles", ())), who.is_admin)


def csv_values(value: str | None, *, upper: bool = False) -> list[str]:
    """A comma-separated query parameter (`statuses=RUNNING,paused`) as its non-empty items."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    return [item.upper() for item in items] if upper else items


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def caller(request: Request) -> Caller:
    security: Security = request.app.state.security
    identity = security.authenticate(request)
    if identity is None:
        raise ApiError(401, "authentication required")
    request.state.caller = identity
    return identity


RuntimeDep = Annotated[Runtime, Depends(runtime)]
CallerDep = Annotated[Caller, Depends(caller)]


def actor(request: Request, who: Caller) -> Actor:
    """The caller as the service sees it: the app's security policy decides what it may do to an
    application, the account rules what it may do to a provider account."""
    security: Security = request.app.state.security
    identity = identity_of(who)
    return Actor(identity, partial(security.application_allows, who), partial(account_allows, identity))


def acting(request: Request, who: CallerDep) -> Actor:
    """The authenticated caller as the service's actor (a route's `who: ActorDep`)."""
    return actor(request, who)


ActorDep = Annotated[Actor, Depends(acting)]
