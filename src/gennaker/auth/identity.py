"""The authenticated caller and the permission rules (Fiat's model, gate.md §6.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    username: str
    roles: frozenset[str]
    is_admin: bool = False
    source: str = "local"


@dataclass(frozen=True)
class DefaultPolicy:
    """What applications without `permissions` allow. Restricted out of the box (Spinnaker's is open):
    only admins, plus the roles listed here."""

    roles: frozenset[str] = frozenset()


def application_allows(
    who: Identity, attributes: Mapping[str, Any] | None, permission: str, default: DefaultPolicy = DefaultPolicy()
) -> bool:
    """READ / WRITE / EXECUTE on an application. WRITE implies READ; without an EXECUTE list, READ grants it."""
    if who.is_admin:
        return True
    permissions = (attributes or {}).get("permissions") or {}
    if not isinstance(permissions, Mapping) or not any(permissions.get(p) for p in ("READ", "WRITE", "EXECUTE")):
        return bool(default.roles & who.roles)

    def holders(name: str) -> set[str]:
        return {str(r).lower() for r in permissions.get(name) or []}

    allowed = holders(permission)
    if permission == "READ":
        allowed |= holders("WRITE") | holders("EXECUTE")
    if permission == "EXECUTE" and not permissions.get("EXECUTE"):
        allowed |= holders("READ") | holders("WRITE")
    return bool(allowed & {r.lower() for r in who.roles})


def account_allows(who: Identity, permissions: Mapping[str, Any] | None, permission: str) -> bool:
    """READ / WRITE on a provider account. As in Fiat, an account without permissions is open to everyone
    (accounts come from the configuration file, which only administrators write); WRITE implies READ."""
    if who.is_admin or not permissions or not any(permissions.get(p) for p in ("READ", "WRITE")):
        return True
    allowed = {str(r).lower() for r in permissions.get(permission) or []}
    if permission == "READ":
        allowed |= {str(r).lower() for r in permissions.get("WRITE") or []}
    return bool(allowed & {r.lower() for r in who.roles})
