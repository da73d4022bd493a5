"""Local users (argon2 password hashes), API tokens and browser sessions (stored as SHA-256 hashes only),
and the audit log. Plain passwords and tokens exist only in the request that carries them, and in the one
answer that creates a token.

Password and API-token checks are throttled (`LoginThrottle`): too many recent failures for a user name or
from a client address are refused with `TooManyFailures` before any check is made."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gennaker.auth.external import CredentialCache, PasswordBackend, valid_external_name
from gennaker.auth.identity import Identity
from gennaker.model.execution import now_ms
from gennaker.store import codec
from gennaker.store.database import Database
from gennaker.store.tables import api_tokens, audit_log, users

if TYPE_CHECKING:
    from gennaker.auth.oidc import OidcLogin

log = logging.getLogger("gennaker.auth")
SESSION_TTL_MS = 12 * 3600 * 1000
# Default limits on failed sign-ins (`auth.throttle`, docs/security.md).
FAILURES_PER_USER, FAILURES_PER_ADDRESS, FAILURE_WINDOW_S = 10, 50, 300.0
_hasher = PasswordHasher()
# An external user's record (LDAP, OIDC) has this prefix and its source instead of a password hash: it is
# never a valid argon2 hash, so no password matches it locally.
_EXTERNAL = "!"


def _external_source(password_hash: str | None) -> str | None:
    return password_hash[len(_EXTERNAL) :] if password_hash and password_hash.startswith(_EXTERNAL) else None


class AuthError(ValueError):
    pass


class TooManyFailures(Exception):
    """Refused without checking: too many recent failures; the caller may try again in `retry_after_s`."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


class LoginThrottle:
    """Failed password and token checks in a sliding window of `window_s` seconds, per user name (against
    guessing one account's password from many addresses) and per client address (against trying many
    accounts from one). Once a name has `per_user` failures in the window, or an address `per_address`,
    further attempts are refused until the oldest of those failures leaves the window; a limit of 0 turns
    that count off.

    Refused attempts are not counted, so whoever fails on purpose to lock a user out keeps them out for at
    most one window after their last counted failure. A success clears its user name's count only: an
    address's count stays, so a guesser cannot clear it by signing in to an account of its own. Counts live
    in this process's memory (each API process counts alone), at most `max_keys` names and addresses."""

    def __init__(
        self,
        per_user: int = FAILURES_PER_USER,
        per_address: int = FAILURES_PER_ADDRESS,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ):
        self.per_user = per_user
        self.per_address = per_address
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _limits(self, username: str | None, address: str | None) -> list[tuple[tuple[str, str], int]]:
        """The counts a request touches, with their limits. Names are lower-cased: a directory usually
        ignores case, so `Alice` and `ALICE` are guesses at the same password."""
        limits = []
        if username is not None and self.per_user > 0:
            limits.append((("user", username.lower()), self.per_user))
        if address and self.per_address > 0:
            limits.append((("address", address), self.per_address))
        return limits

    def check(self, username: str | None, address: str | None) -> None:
        """Raise TooManyFailures while `username` or `address` has reached its limit."""
        now = self._clock()
        with self._lock:
            wait = max((self._wait(key, limit, now) for key, limit in self._limits(username, address)), default=0.0)
        if wait > 0:
            raise TooManyFailures(max(1, math.ceil(wait)))

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times[-limit] + self.window_s - now if len(times) >= limit else 0.0

    def failed(self, username: str | None, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key, limit in self._limits(username, address):
                times = self._failures.get(key)
                if times is None:
                    self._make_room(now)
                    times = self._failures[key] = deque(maxlen=limit)
                times.append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.lower()), None)

    def _make_room(self, now: float) -> None:
        """Before adding a key: drop the counts with no failure left in the window, then the oldest ones."""
        if len(self._failures) < self.max_keys:
            return
        self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window_s}
        while len(self._failures) >= self.max_keys:
            self._failures.pop(next(iter(self._failures)))


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str  # shown once


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _identity(row: sa.Row[Any]) -> Identity:
    return Identity(
        row.username,
        frozenset(codec.loads(row.roles)),
        row.is_admin,
        source=_external_source(row.password_hash) or "local",
    )


@cache
def _dummy_hash() -> str:
    """Verifying against this keeps unknown users as slow as known ones (no user enumeration by timing). Made on
    first use: an argon2 hash costs a tenth of a second, which every process start would otherwise pay."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verifies(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class AuthService:
    """Local users, tokens and sessions; with `password_backends` (LDAP), passwords of users who are not
    local are checked there too; with `oidc`, the UI offers OpenID Connect sign-in.

    External users get a record in the users table (no password, their source, and the roles and admin flag
    of their latest sign-in), so that their sessions and API tokens resolve like a local user's.

    `cache` remembers successful external checks, `local_cache` successful argon2 checks of local users'
    passwords; `throttle` counts failures."""

    def __init__(
        self,
        db: Database,
        password_backends: Sequence[PasswordBackend] = (),
        oidc: OidcLogin | None = None,
        cache: CredentialCache | None = None,
        local_cache: CredentialCache | None = None,
        throttle: LoginThrottle | None = None,
    ):
        self.db = db
        self.password_backends = tuple(password_backends)
        self.oidc = oidc
        self.cache = cache or CredentialCache()
        self.local_cache = local_cache or CredentialCache()
        self.throttle = throttle or LoginThrottle()

    # -- users -----------------------------------------------------------------------------------
    def ensure_admin(self, password: str | None) -> str | None:
        """Create `admin` on first start; returns the generated password (to print once), else None."""
        with self.db.read() as conn:
            if conn.execute(sa.select(users.c.username).where(users.c.username == "admin")).first():
                return None
        generated = None if password else secrets.token_urlsafe(18)
        self.add_user("admin", password or generated or "", roles=["admin"], is_admin=True)
        return generated

    def add_user(self, username: str, password: str | None, roles: list[str], is_admin: bool = False) -> None:
        if not username or not username.replace("-", "").replace("_", "").replace(".", "").replace("@", "").isalnum():
            raise AuthError("username must be letters, digits, '-', '_', '.' or '@'")
        if password is not None and len(password) < 8:
            raise AuthError("password must have at least 8 characters")
        row = {
            "password_hash": _hasher.hash(password) if password else None,
            "roles": codec.dumps(sorted({r.lower() for r in roles})),
            "is_admin": is_admin,
        }
        with self.db.transaction() as conn:
            exists = conn.execute(sa.select(users.c.username).where(users.c.username == username)).first()
            if exists:
                conn.execute(users.update().where(users.c.username == username).values(**row))
            else:
                conn.execute(users.insert().values(username=username, created_at=now_ms(), **row))

    def list_users(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(users.c.username, users.c.roles, users.c.is_admin, users.c.password_hash).order_by(
                    users.c.username
                )
            )
            return [
                {
                    "username": r.username,
                    "roles": codec.loads(r.roles),
                    "admin": r.is_admin,
                    "source": _external_source(r.password_hash) or "local",
                }
                for r in rows
            ]

    def identity(self, username: str) -> Identity | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        return _identity(row) if row is not None else None

    def authenticate_basic(self, username: str, password: str, client: str | None = None) -> Identity | None:
        """Local users first; a user name that is not a local user is then tried on the password backends.
        Throttled per user name and per `client` address (raises TooManyFailures)."""
        self.throttle.check(username, client)
        found = self._check_password(username, password)
        if found is None:
            self.throttle.failed(username, client)
        else:
            self.throttle.succeeded(username)
        return found

    def _check_password(self, username: str, password: str) -> Identity | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is not None and _external_source(row.password_hash) is None:  # a local user
            if row.password_hash:
                return self._check_local(row, password)
        elif self.password_backends:
            return self._authenticate_external(username, password)
        _verifies(_dummy_hash(), password)  # as slow as a real check: no user enumeration by timing
        return None

    def _check_local(self, row: sa.Row[Any], password: str) -> Identity | None:
        """argon2 costs about 100 ms of CPU, too much for every API call with Basic credentials: a success
        is remembered for a short while, bound to the stored hash, so that a new password (set in any
        process) makes the old one fail at once. Roles always come from the row just read."""
        identity = _identity(row)
        if self.local_cache.get(row.username, password, bound_to=row.password_hash) is None:
            if not _verifies(row.password_hash, password):
                return None
            self.local_cache.put(row.username, password, identity, bound_to=row.password_hash)
        return identity

    def _authenticate_external(self, username: str, password: str) -> Identity | None:
        if not password or not valid_external_name(username):
            return None
        cached = self.cache.get(username, password)
        if cached is not None:
            return cached
        for backend in self.password_backends:
            try:
                found = backend.authenticate(username, password)
            except Exception as error:  # a broken backend must mean "not signed in", never a server error
                log.warning("%s sign-in of %s failed: %s", backend.source, username, type(error).__name__)
                continue
            if found is not None:
                if not self.remember_external(found):
                    return None
                self.cache.put(username, password, found)
                return found
        return None

    def remember_external(self, identity: Identity) -> bool:
        """Record (or refresh) an external user's roles and admin flag after a sign-in. Refused (False, with a
        warning) when the name belongs to a local user or to another source, so no directory or identity
        provider can take over an account it does not own."""
        try:
            return self._remember_external(identity)
        except sa.exc.IntegrityError:  # two first sign-ins at once: the other one created the record
            return self._remember_external(identity)

    def _remember_external(self, identity: Identity) -> bool:
        if not valid_external_name(identity.username):
            log.warning("%s sign-in refused: unusable user name %r", identity.source, identity.username)
            return False
        values = {
            "password_hash": _EXTERNAL + identity.source,
            "roles": codec.dumps(sorted({r.lower() for r in identity.roles})),
            "is_admin": identity.is_admin,
        }
        with self.db.transaction() as conn:
            row = conn.execute(
                sa.select(users.c.password_hash, users.c.roles, users.c.is_admin).where(
                    users.c.username == identity.username
                )
            ).first()
            if row is None:
                conn.execute(users.insert().values(username=identity.username, created_at=now_ms(), **values))
                return True
            owner = _external_source(row.password_hash)
            if owner != identity.source:
                log.warning(
                    "%s sign-in of %s refused: the name belongs to %s",
                    identity.source,
                    identity.username,
                    f"the {owner} user of that name" if owner else "a local user",
                )
                return False
            if (row.roles, row.is_admin) != (values["roles"], values["is_admin"]):
                conn.execute(users.update().where(users.c.username == identity.username).values(**values))
        return True

    # -- tokens and sessions ---------------------------------------------------------------------
    def create_token(self, username: str, name: str, ttl_ms: int | None = None, kind: str = "api") -> IssuedToken:
        if self.identity(username) is None:
            raise AuthError(f"no user named {username}")
        token, token_id = secrets.token_urlsafe(32), secrets.token_hex(8)
        now = now_ms()
        with self.db.transaction() as conn:
            conn.execute(
                api_tokens.insert().values(
                    id=token_id,
                    name=name,
                    username=username,
                    token_hash=_digest(token),
                    kind=kind,
                    created_at=now,
                    expires_at=now + ttl_ms if ttl_ms else None,
                )
            )
        return IssuedToken(token_id, token)

    def create_session(self, username: str) -> str:
        return self.create_token(username, "browser session", SESSION_TTL_MS, kind="session").token

    def revoke_token(self, token_id: str, username: str | None = None) -> bool:
        query = api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=now_ms())
        if username is not None:
            query = query.where(api_tokens.c.username == username)
        with self.db.transaction() as conn:
            return conn.execute(query).rowcount > 0

    def revoke_session(self, token: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                api_tokens.update().where(api_tokens.c.token_hash == _digest(token)).values(revoked_at=now_ms())
            )

    def list_tokens(self, username: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(api_tokens).where(api_tokens.c.kind == "api").order_by(api_tokens.c.created_at)
        if username is not None:
            query = query.where(api_tokens.c.username == username)
        with self.db.read() as conn:
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "user": r.username,
                    "createdAt": r.created_at,
                    "expiresAt": r.expires_at,
                    "revoked": r.revoked_at is not None,
                }
                for r in conn.execute(query)
            ]

    def authenticate_token(self, token: str, kind: str = "api", client: str | None = None) -> Identity | None:
        """With `client`, a failure counts against that address, and an address with too many is refused
        (TooManyFailures). The browser's session cookie is checked without one: sessions are as unguessable
        as API tokens, and a page left open with an expired session must not lock its address out."""
        self.throttle.check(None, client)
        found = self._check_token(token, kind)
        if found is None:
            self.throttle.failed(None, client)
        return found

    def _check_token(self, token: str, kind: str) -> Identity | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(api_tokens.c.username, api_tokens.c.expires_at, api_tokens.c.revoked_at).where(
                    (api_tokens.c.token_hash == _digest(token)) & (api_tokens.c.kind == kind)
                )
            ).first()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at < now_ms()):
            return None
        found = self.identity(row.username)
        return (
            Identity(found.username, found.roles, found.is_admin, source="token" if kind == "api" else kind)
            if found
            else None
        )

    # -- audit -----------------------------------------------------------------------------------
    def record(self, username: str | None, action: str, resource: str, status: int, remote: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=now_ms(), username=username, action=action, resource=resource, status=status, remote=remote
                )
            )

    def audit(self, username: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if username:
            query = query.where(audit_log.c.username == username)
        with self.db.read() as conn:
            return [
                {
                    "at": r.at,
                    "user": r.username,
                    "action": r.action,
                    "resource": r.resource,
                    "status": r.status,
                    "remote": r.remote,
                }
                for r in conn.execute(query)
            ]
