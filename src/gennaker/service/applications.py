"""Applications: listing those a caller may read, reading, creating, updating and deleting them.

Anyone signed in may create an application; changing or deleting one needs WRITE on it. Reading one the
caller may not READ answers "not found", as for one that does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from gennaker.model.names import application_name_problem
from gennaker.service.access import Access, Actor, Who
from gennaker.service.errors import Conflict, Invalid, NotFound
from gennaker.store.applications import ApplicationStore
from gennaker.store.database import Database


class Applications:
    def __init__(self, db: Database, store: ApplicationStore, access: Access):
        self.db = db
        self.store = store
        self.access = access

    def visible(self, who: Who, owner: str | None = None, account: str | None = None) -> list[dict[str, Any]]:
        """The applications `who` may read, by name; only those of `owner` (an email) or naming `account`."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            found = self.store.all(conn)
        visible = [a for a in found if actor.application(a, "READ")]
        if owner:
            visible = [a for a in visible if (a.get("email") or "").lower() == owner.lower()]
        if account:
            visible = [a for a in visible if account.lower() in str(a.get("accounts") or "").lower().split(",")]
        return visible

    def get(self, name: str, who: Who, permission: str = "READ") -> dict[str, Any]:
        """The application's attributes, if it exists and `who` has `permission` on it."""
        with self.db.read() as conn:
            return self.access.existing(conn, self.access.actor(who), name, permission)

    def require(self, name: str, who: Who, permission: str) -> dict[str, Any] | None:
        """The application's attributes if `who` has `permission` on it (None when it does not exist and the
        rule allows anyway, e.g. for an administrator)."""
        with self.db.read() as conn:
            return self.access.require(conn, self.access.actor(who), name, permission)

    def allows(self, attributes: dict[str, Any] | None, who: Who, permission: str) -> bool:
        """Whether `who` has `permission` on an application with these attributes (to offer an action)."""
        return self.access.actor(who).application(attributes, permission)

    def create(self, name: str, attributes: dict[str, Any], who: Who) -> dict[str, Any]:
        """A new application (`name` taken: Conflict)."""
        _check_name(name)
        actor = self.access.actor(who)
        with self.db.transaction() as conn:
            if self.store.get(conn, name) is not None:
                raise Conflict(f"application '{name.lower()}' already exists")
            return self.store.save(conn, name, attributes, actor.name)

    def update(self, name: str, attributes: dict[str, Any], who: Who) -> dict[str, Any]:
        """Merge `attributes` over a stored application's; needs WRITE."""
        actor = self.access.actor(who)
        with self.db.transaction() as conn:
            self._writable(conn, name, actor)
            return self.store.save(conn, name, attributes, actor.name)

    def save(self, name: str, attributes: dict[str, Any], who: Who) -> dict[str, Any]:
        """Create the application, or update it if it exists (the CLI's `application save`)."""
        _check_name(name)
        actor = self.access.actor(who)
        with self.db.transaction() as conn:
            if self.store.get(conn, name) is not None:
                self._writable(conn, name, actor)
            return self.store.save(conn, name, attributes, actor.name)

    def delete(self, name: str, who: Who) -> None:
        """Delete an application and its pipeline configs (executions stay as history); needs WRITE."""
        actor = self.access.actor(who)
        with self.db.transaction() as conn:
            self._writable(conn, name, actor)
            self.store.delete(conn, name)

    def _writable(self, conn: Connection, name: str, actor: Actor) -> None:
        """A stored application (else not found, whatever the caller may do) that `actor` may WRITE."""
        if self.store.get(conn, name) is None:
            raise NotFound(f"application '{name.lower()}' not found")
        self.access.require(conn, actor, name, "WRITE")


def _check_name(name: str) -> None:
    problem = application_name_problem(name)
    if problem:
        raise Invalid(f"application name {name!r} {problem}", [("name", problem)])
