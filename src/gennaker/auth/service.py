"""Local users (argon2 password hashes), API tokens and browser sessions (stored as SHA-256 hashes only),
and the audit log. Plain passwords and tokens exist only in the request that carries them, and in the one
answer that creates a token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gennaker.auth.identity import Identity
from gennaker.model.execution import now_ms
from gennaker.store import codec
from gennaker.store.database import Database
from gennaker.store.tables import api_tokens, audit_log, users

SESSION_TTL_MS = 12 * 3600 * 1000
_hasher = PasswordHasher()
# Verifying against this keeps unknown users as slow as known ones (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str  # shown once


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(self, db: Database):
        self.db = db

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
            rows = conn.execute(sa.select(users.c.username, users.c.roles, users.c.is_admin).order_by(users.c.username))
            return [{"username": r.username, "roles": codec.loads(r.roles), "admin": r.is_admin} for r in rows]

    def identity(self, username: str) -> Identity | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        return Identity(row.username, frozenset(codec.loads(row.roles)), row.is_admin) if row else None

    def authenticate_basic(self, username: str, password: str) -> Identity | None:
        with self.db.read() as conn:
            stored = conn.execute(sa.select(users.c.password_hash).where(users.c.username == username)).scalar()
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return self.identity(username) if stored else None

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

    def authenticate_token(self, token: str, kind: str = "api") -> Identity | None:
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
