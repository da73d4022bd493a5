"""Who asks, and what they may do: the permission checks every service makes.

The API and the pages decide with their security policy (`Security.application_allows`) for the caller of
each request, and pass it in an `Actor`. A user name (an execution's user, the local CLI's user) is judged
by the stored users' roles where permissions are enforced (server processes) and trusted where they are not
(the local CLI on its own database).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from gennaker.auth.identity import Identity, account_allows, application_allows
from gennaker.auth.permissions import Permissions
from gennaker.service.errors import Forbidden, NotFound
from gennaker.store.applications import ApplicationStore

# (the attributes of an application or the permissions of an account, READ/WRITE/EXECUTE) -> allowed?
Rule = Callable[[Mapping[str, Any] | None, str], bool]


def _anything(_target: Mapping[str, Any] | None, _permission: str) -> bool:
    return True


@dataclass(frozen=True)
class Actor:
    """Who asks, with the rules deciding what they may do to an application and to a provider account."""

    identity: Identity
    application: Rule
    account: Rule | None = None  # None: accounts are not checked (permissions are not enforced)

    @property
    def name(self) -> str:
        return self.identity.username


# Who asks: an actor from the API or the pages, an identity, or a user name (None is anonymous).
Who = Actor | Identity | str | None


class Access:
    """Actors from user names, and the application checks made against the stored attributes."""

    def __init__(self, applications: ApplicationStore, permissions: Permissions | None):
        """`permissions` judge user names; None trusts them (permissions not enforced)."""
        self.applications = applications
        self.permissions = permissions

    def actor(self, who: Who) -> Actor:
        if isinstance(who, Actor):
            return who
        if self.permissions is None:
            return Actor(who if isinstance(who, Identity) else Identity(who or "anonymous", frozenset()), _anything)
        identity = who if isinstance(who, Identity) else self.permissions.identity(who)
        rule = partial(application_allows, identity, default=self.permissions.default)
        return Actor(identity, rule, partial(account_allows, identity))

    def require(self, conn: Connection, actor: Actor, application: str, permission: str) -> dict[str, Any] | None:
        """The application's attributes if `actor` has `permission` on it (None when it does not exist and the
        rule allows anyway, e.g. for an administrator). Refused as not found for READ, not to reveal names."""
        attributes = self.applications.get(conn, application)
        self.check(actor, application, attributes, permission)
        return attributes

    @staticmethod
    def check(actor: Actor, application: str, attributes: Mapping[str, Any] | None, permission: str) -> None:
        """Refuse unless `actor` has `permission` on the application with these stored attributes (already read)."""
        if not actor.application(attributes, permission):
            name = application.lower()
            if permission == "READ":
                raise NotFound(f"application '{name}' not found")
            raise Forbidden(f"{actor.name} lacks {permission} permission on application '{name}'")

    def existing(self, conn: Connection, actor: Actor, application: str, permission: str) -> dict[str, Any]:
        """The application's attributes, if it exists and `actor` has `permission` on it."""
        attributes = self.require(conn, actor, application, permission)
        if attributes is None:
            raise NotFound(f"application '{application.lower()}' not found")
        return attributes

    def permitted(self, conn: Connection, actor: Actor, applications: Iterable[str], permission: str) -> set[str]:
        """Those of `applications` on which `actor` has `permission` (each read once)."""
        return {name for name in set(applications) if actor.application(self.applications.get(conn, name), permission)}

    @staticmethod
    def require_account(actor: Actor, account: str, permissions: Mapping[str, Any] | None, permission: str) -> None:
        """Refuse unless `actor` may use the account (not found if they may not even READ it)."""
        if actor.account is None:
            return
        if not actor.account(permissions, "READ"):
            raise NotFound(f"account '{account}' not found")
        if permission == "WRITE" and not actor.account(permissions, "WRITE"):
            raise Forbidden(f"{actor.name} lacks WRITE permission on account '{account}'")
