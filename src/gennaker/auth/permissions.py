"""Permission decisions where no request carries an identity: executions, triggers and saved configs.

An execution acts as a user name (its `authentication.user`). What that user may do is decided here from
the users table (roles and admin flag of a local user, or of an LDAP/OIDC user's latest sign-in), by the
same rules the API applies to callers (`identity.py`). A name that is not in the users table has no roles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gennaker.auth.identity import DefaultPolicy, Identity, account_allows, application_allows

IdentityLookup = Callable[[str], Identity | None]


class Permissions:
    def __init__(self, lookup: IdentityLookup, default: DefaultPolicy = DefaultPolicy()):
        self.lookup = lookup
        self.default = default

    def identity(self, user: str | None) -> Identity:
        name = user or "anonymous"
        return self.lookup(name) or Identity(name, frozenset())

    def application(self, user: str | None, attributes: Mapping[str, Any] | None, permission: str) -> bool:
        """READ, WRITE or EXECUTE on an application with these attributes."""
        return application_allows(self.identity(user), attributes, permission, self.default)

    def account(self, user: str | None, permissions: Mapping[str, Any] | None, permission: str) -> bool:
        """READ or WRITE on a provider account with these permissions."""
        return account_allows(self.identity(user), permissions, permission)

    def may_run_as(self, user: str | None, run_as: str) -> bool:
        """Whether `user` may have executions run as `run_as` (a trigger's `runAsUser`): an administrator may;
        anyone may name themselves; otherwise `run_as` must be a known, non-admin user whose roles the user
        holds all of, so acting as it grants nothing the user does not already have."""
        who = self.identity(user)
        if who.is_admin or who.username == run_as:
            return True
        target = self.lookup(run_as)
        return target is not None and not target.is_admin and target.roles <= who.roles
