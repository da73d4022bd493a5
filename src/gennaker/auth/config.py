"""The `auth` section of the configuration file: which external sign-in methods the server offers
(`auth.ldap`, see gennaker.auth.ldap; `auth.oidc`, see gennaker.auth.oidc), how long successful local
password checks are remembered (`auth.local`), and the limits on failed sign-ins (`auth.throttle`);
docs/security.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.auth.external import AuthConfigError, CredentialCache, PasswordBackend
from gennaker.auth.oidc import OidcConfig, OidcLogin
from gennaker.auth.service import (
    FAILURE_WINDOW_S,
    FAILURES_PER_ADDRESS,
    FAILURES_PER_USER,
    AuthService,
    LoginThrottle,
)
from gennaker.store.database import Database

DEFAULT_CACHE_SECONDS = 60


def _section(config: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    current: Any = config
    for depth, key in enumerate(path):
        current = (current or {}).get(key) if isinstance(current, Mapping) else None
        if current is not None and not isinstance(current, Mapping):
            raise AuthConfigError(f"{'.'.join(path[: depth + 1])} must be a mapping")
    return current or {}


def _enabled(section: Mapping[str, Any], where: str) -> bool:
    enabled = section.get("enabled", False)
    if not isinstance(enabled, bool):
        raise AuthConfigError(f"{where}.enabled must be true or false")
    return enabled


def _seconds(section: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = section.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise AuthConfigError(f"{where}.{key} must be a number of seconds (0 turns it off)")
    return float(value)


def _count(section: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AuthConfigError(f"{where}.{key} must be a whole number (0 turns it off)")
    return value


def _throttle(config: Mapping[str, Any]) -> LoginThrottle:
    section = _section(config, "auth", "throttle")
    return LoginThrottle(
        per_user=_count(section, "maxFailuresPerUser", FAILURES_PER_USER, "auth.throttle"),
        per_address=_count(section, "maxFailuresPerAddress", FAILURES_PER_ADDRESS, "auth.throttle"),
        window_s=_seconds(section, "windowSeconds", FAILURE_WINDOW_S, "auth.throttle"),
    )


def auth_service(db: Database, config: Mapping[str, Any]) -> AuthService:
    """The AuthService with the sign-in methods `config` (the parsed configuration file) enables."""
    ldap = _section(config, "auth", "ldap")
    oidc = _section(config, "auth", "oidc")
    backends: list[PasswordBackend] = []
    cache_seconds = float(DEFAULT_CACHE_SECONDS)
    if _enabled(ldap, "auth.ldap"):
        from gennaker.auth.ldap import LdapAuthenticator, LdapConfig  # ldap3 is loaded only when LDAP is used

        backends.append(LdapAuthenticator(LdapConfig.from_config(ldap)))
        cache_seconds = _seconds(ldap, "cacheSeconds", DEFAULT_CACHE_SECONDS, "auth.ldap")
    local_seconds = _seconds(_section(config, "auth", "local"), "cacheSeconds", DEFAULT_CACHE_SECONDS, "auth.local")
    login = OidcLogin(OidcConfig.from_config(oidc)) if _enabled(oidc, "auth.oidc") else None
    return AuthService(
        db,
        backends,
        oidc=login,
        cache=CredentialCache(cache_seconds),
        local_cache=CredentialCache(local_seconds),
        throttle=_throttle(config),
    )
