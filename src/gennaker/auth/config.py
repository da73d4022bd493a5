"""The `auth` section of the configuration file: which external sign-in methods the server offers
(`auth.ldap`, see gennaker.auth.ldap; `auth.oidc`, see gennaker.auth.oidc; docs/security.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.auth.external import AuthConfigError, CredentialCache, PasswordBackend
from gennaker.auth.ldap import LdapAuthenticator, LdapConfig
from gennaker.auth.oidc import OidcConfig, OidcLogin
from gennaker.auth.service import AuthService
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


def auth_service(db: Database, config: Mapping[str, Any]) -> AuthService:
    """The AuthService with the sign-in methods `config` (the parsed configuration file) enables."""
    ldap = _section(config, "auth", "ldap")
    oidc = _section(config, "auth", "oidc")
    backends: list[PasswordBackend] = []
    cache_seconds: Any = DEFAULT_CACHE_SECONDS
    if _enabled(ldap, "auth.ldap"):
        backends.append(LdapAuthenticator(LdapConfig.from_config(ldap)))
        cache_seconds = ldap.get("cacheSeconds", DEFAULT_CACHE_SECONDS)
        if not isinstance(cache_seconds, int | float) or isinstance(cache_seconds, bool) or cache_seconds < 0:
            raise AuthConfigError("auth.ldap.cacheSeconds must be a number of seconds (0 turns the cache off)")
    login = OidcLogin(OidcConfig.from_config(oidc)) if _enabled(oidc, "auth.oidc") else None
    return AuthService(db, backends, oidc=login, cache=CredentialCache(float(cache_seconds)))
