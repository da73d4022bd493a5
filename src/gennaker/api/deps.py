"""Request dependencies: the runtime, the authenticated caller (and the actor the service judges it as), and
the permission checks of the routes not yet moved to the service (accounts and live infrastructure).

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
from gennaker.providers.kubernetes import KubeClient, KubernetesAccount, KubernetesError, UnknownAccountError
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
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


def execution_for(request: Request, rt: Runtime, who: Caller, execution_id: str, permission: str) -> dict[str, Any]:
    """The execution's JSON, if `who` has `permission` on its application (404 / 403 otherwise)."""
    return rt.service.executions.get(execution_id, actor(request, who), permission)


def require_application(
    request: Request, rt: Runtime, who: Caller, application: str, permission: str
) -> dict[str, Any] | None:
    """Refuse with 403 (or 404 for READ, not to reveal names) unless `who` has `permission` on the app;
    returns its attributes (None when it does not exist and the caller may see it anyway, e.g. an admin)."""
    return rt.service.applications.require(application, actor(request, who), permission)


def permitted_accounts(rt: Runtime, who: Caller, permission: str) -> list[KubernetesAccount]:
    """The accounts `who` may READ (or WRITE, which implies READ)."""
    identity = identity_of(who)
    return [a for a in rt.kubernetes.accounts if account_allows(identity, a.permissions, permission)]


def readable_accounts(rt: Runtime, who: Caller) -> list[str]:
    return [a.name for a in permitted_accounts(rt, who, "READ")]


def require_account(rt: Runtime, who: Caller, account: str, permission: str) -> None:
    """Refuse with 404 (unknown or unreadable account) or 403 (no WRITE) unless `who` may use the account."""
    try:
        found = rt.kubernetes.accounts.get(account)
    except UnknownAccountError:
        raise ApiError(404, f"account '{account}' not found") from None
    identity = identity_of(who)
    if not account_allows(identity, found.permissions, "READ"):
        raise ApiError(404, f"account '{account}' not found")
    if permission == "WRITE" and not account_allows(identity, found.permissions, "WRITE"):
        raise ApiError(403, f"{who.username} lacks WRITE permission on account '{account}'")


def live_manifest(
    rt: Runtime, who: Caller, account: str, location: str, name: str
) -> tuple[ManifestOperations, dict[str, Any]]:
    """An object read live from an account `who` may read (`name` is `"<kind> <name>"`); 400, 404 or 502 else."""
    require_account(rt, who, account, "READ")
    try:
        ops = rt.kubernetes.operations(account)
        found = ops.get(location, name)
    except OperationError as error:
        raise ApiError(400, str(error)) from None
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    if found is None:
        raise ApiError(404, f"{name} not found in namespace '{location}' of account '{account}'")
    return ops, found


def live_pod(rt: Runtime, who: Caller, account: str, namespace: str, pod: str) -> tuple[KubeClient, dict[str, Any]]:
    """A pod read live from an account `who` may read, with the client that read it; 404 or 502 else."""
    require_account(rt, who, account, "READ")
    try:
        client = rt.kubernetes.client(account)
        found = client.get("v1", "Pod", namespace, pod)
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    if found is None:
        raise ApiError(404, f"pod '{pod}' not found in namespace '{namespace}' of account '{account}'")
    return client, found
