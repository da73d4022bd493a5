"""What the sign-in methods share: turning directory groups into roles, and a short-lived cache of
successful password checks (keyed on a keyed hash of user name and password, never the password), used for
LDAP binds and for local users' argon2 checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gennaker.auth.identity import Identity


class AuthConfigError(ValueError):
    """A mistake in the `auth` section of the configuration file."""


class PasswordBackend(Protocol):
    """Checks a user name and password somewhere else than the local users table (LDAP)."""

    source: str

    def authenticate(self, username: str, password: str) -> Identity | None: ...


def _names(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise AuthConfigError(f"{key} must be a string or a list of strings")


@dataclass(frozen=True)
class GroupRoles:
    """Directory groups to Gennaker roles: `roleMapping` renames groups (a group may give several roles),
    unmapped groups keep their name lower-cased; members of an `adminGroups` group are administrators.
    Group names are compared case-insensitively."""

    mapping: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    admin_groups: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, section: Mapping[str, Any], where: str) -> GroupRoles:
        raw = section.get("roleMapping") or {}
        if not isinstance(raw, Mapping):
            raise AuthConfigError(f"{where}.roleMapping must map group names to roles")
        mapping = {
            str(group).lower(): tuple(r.lower() for r in _names(roles, f"{where}.roleMapping.{group}"))
            for group, roles in raw.items()
        }
        admins = frozenset(g.lower() for g in _names(section.get("adminGroups"), f"{where}.adminGroups"))
        return cls(mapping, admins)

    def resolve(self, groups: Iterable[str]) -> tuple[frozenset[str], bool]:
        """(roles, is_admin) of a member of `groups`."""
        lowered = {g.strip().lower() for g in groups if g and g.strip()}
        roles: set[str] = set()
        for group in lowered:
            roles.update(self.mapping.get(group, (group,)))
        return frozenset(roles), bool(lowered & self.admin_groups)


def valid_external_name(username: str) -> bool:
    """A user name from a directory or an ID token that may become a Gennaker user name."""
    return 0 < len(username) <= 255 and username.isprintable() and not any(c.isspace() or c == ":" for c in username)


class CredentialCache:
    """Identities of recently successful password checks, for `ttl_s` seconds. Keys are HMAC-SHA256 digests
    (with a key made at start) of the user name and password, so neither is kept in memory here.

    `bound_to` ties an entry to another value, such as the stored password hash of a local user: a new
    password gives a new stored hash, so the entries of the old one are never found again, in this process
    and in every other one sharing the database."""

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, Identity]] = {}
        self._lock = threading.Lock()

    def _digest(self, username: str, password: str, bound_to: str) -> bytes:
        """Each part length-prefixed, so no two different (user name, password) pairs give one message."""
        parts = (part.encode() for part in (username, password, bound_to))
        message = b"".join(len(part).to_bytes(4, "big") + part for part in parts)
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, username: str, password: str, bound_to: str = "") -> Identity | None:
        key, now = self._digest(username, password, bound_to), self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, username: str, password: str, identity: Identity, bound_to: str = "") -> None:
        if self.ttl_s <= 0:
            return
        key, now = self._digest(username, password, bound_to), self._clock()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                while len(self._entries) >= self.max_entries:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + self.ttl_s, identity)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
