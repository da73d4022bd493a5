"""Password sign-in against an LDAP directory (ldap3), configured as Gate's `ldap` section.

The user's DN comes from `userDnPattern` (relative to the base DN of `url`), or from a search with
`userSearchFilter` under `userSearchBase` (bound as `managerDn`, or anonymously). A simple bind with the
user's password proves it; the user's groups are the entries under `groupSearchBase` matching
`groupSearchFilter` (`{0}` is the user's DN, `{1}` the user name), named by `groupRoleAttributes`.
Every network call has a timeout; an unreachable directory means "not signed in", with a warning logged.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from gennaker.auth.external import AuthConfigError, GroupRoles
from gennaker.auth.identity import Identity

log = logging.getLogger("gennaker.auth.ldap")

DEFAULT_GROUP_FILTER = "(uniqueMember={0})"


class LdapUnavailable(Exception):
    """The directory could not be asked (down, timed out, refused the manager bind)."""


def _text(section: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = section.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise AuthConfigError(f"auth.ldap.{key} must be a string")
    return str(value)


@dataclass(frozen=True)
class LdapConfig:
    server_url: str  # scheme://host:port, without the base DN
    base_dn: str
    user_dn_pattern: str | None = None
    user_search_base: str = ""
    user_search_filter: str | None = None
    manager_dn: str | None = None
    manager_password: str | None = None
    group_search_base: str = ""
    group_search_filter: str = DEFAULT_GROUP_FILTER
    group_role_attributes: tuple[str, ...] = ("cn",)
    roles: GroupRoles = field(default_factory=GroupRoles)
    timeout_s: float = 5.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> LdapConfig:
        url = _text(section, "url")
        if not url:
            raise AuthConfigError("auth.ldap.url is required, e.g. ldap://ldap.example.com:389/dc=example,dc=org")
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise AuthConfigError(f"auth.ldap.url must be ldap://host[:port][/baseDN] or ldaps://…, not {url}")
        pattern = _text(section, "userDnPattern")
        search_filter = _text(section, "userSearchFilter")
        if not pattern and not search_filter:
            raise AuthConfigError("auth.ldap needs userDnPattern or userSearchFilter")
        attributes = section.get("groupRoleAttributes", "cn")
        if isinstance(attributes, str):
            attributes = [a.strip() for a in attributes.split(",") if a.strip()]
        if not isinstance(attributes, list) or not attributes or not all(isinstance(a, str) for a in attributes):
            raise AuthConfigError("auth.ldap.groupRoleAttributes must name one or more attributes")
        timeout = section.get("timeoutSeconds", 5)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise AuthConfigError("auth.ldap.timeoutSeconds must be a positive number")
        return cls(
            server_url=f"{parts.scheme}://{parts.netloc}",
            base_dn=unquote(parts.path.lstrip("/")),
            user_dn_pattern=pattern or None,
            user_search_base=_text(section, "userSearchBase") or "",
            user_search_filter=search_filter or None,
            manager_dn=_text(section, "managerDn") or None,
            manager_password=_text(section, "managerPassword"),
            group_search_base=_text(section, "groupSearchBase") or "",
            group_search_filter=_text(section, "groupSearchFilter") or DEFAULT_GROUP_FILTER,
            group_role_attributes=tuple(attributes),
            roles=GroupRoles.from_config(section, "auth.ldap"),
            timeout_s=float(timeout),
        )

    def full_dn(self, relative: str) -> str:
        """`relative` under the base DN of the URL (unless it already ends with it)."""
        if not self.base_dn:
            return relative
        if not relative:
            return self.base_dn
        if relative.lower().endswith(self.base_dn.lower()):
            return relative
        return f"{relative},{self.base_dn}"


class LdapAuthenticator:
    source = "ldap"

    def __init__(self, config: LdapConfig):
        self.config = config
        parts = urlsplit(config.server_url)
        secure = parts.scheme == "ldaps"
        self._server = Server(
            parts.hostname or "",
            port=parts.port or (636 if secure else 389),
            use_ssl=secure,
            tls=Tls(validate=ssl.CERT_REQUIRED) if secure else None,
            connect_timeout=config.timeout_s,
            get_info=NONE,
        )

    def _connection(self, user: str | None, password: str | None) -> Connection:
        return Connection(
            self._server,
            user=user,
            password=password,
            receive_timeout=max(1, math.ceil(self.config.timeout_s)),  # ldap3 packs it as an integer
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
        )

    def _bind(self, user: str | None, password: str | None) -> Connection | None:
        """A bound connection, or None for wrong credentials; LdapUnavailable if the bind could not be tried."""
        conn = self._connection(user, password)
        if conn.bind():
            return conn
        description = (conn.result or {}).get("description")
        conn.unbind()
        if description == "invalidCredentials":
            return None
        raise LdapUnavailable(f"bind answered {description or 'nothing'}")

    def _manager(self) -> Connection:
        conn = self._bind(self.config.manager_dn, self.config.manager_password)
        if conn is None:
            raise LdapUnavailable("the managerDn bind was refused")
        return conn

    def _search_user(self, username: str) -> str | None:
        search_filter = (self.config.user_search_filter or "").replace("{0}", escape_filter_chars(username))
        conn = self._manager()
        try:
            conn.search(
                self.config.full_dn(self.config.user_search_base),
                search_filter,
                search_scope=SUBTREE,
                attributes=[],
                size_limit=2,
                time_limit=int(self.config.timeout_s) or 1,
            )
            found = [str(e["dn"]) for e in conn.response or [] if e.get("type") == "searchResEntry"]
        finally:
            conn.unbind()
        if len(found) != 1:
            if found:
                log.warning("LDAP user search for %s matched %d entries; refusing", username, len(found))
            return None
        return found[0]

    def _groups(self, conn: Connection, user_dn: str, username: str) -> list[str]:
        search_filter = self.config.group_search_filter.replace("{0}", escape_filter_chars(user_dn)).replace(
            "{1}", escape_filter_chars(username)
        )
        conn.search(
            self.config.full_dn(self.config.group_search_base),
            search_filter,
            search_scope=SUBTREE,
            attributes=list(self.config.group_role_attributes),
            time_limit=int(self.config.timeout_s) or 1,
        )
        groups: list[str] = []
        for entry in conn.response or []:
            if entry.get("type") != "searchResEntry":
                continue
            attributes = entry.get("attributes") or {}
            for name in self.config.group_role_attributes:
                value = attributes.get(name)
                groups.extend(str(v) for v in (value if isinstance(value, list) else [value]) if v)
        return groups

    def authenticate(self, username: str, password: str) -> Identity | None:
        """The user's identity if the directory accepts the password; None otherwise (including when the
        directory cannot be reached, which is logged as a warning without the password)."""
        if not username or not password:  # an empty password would be an anonymous bind, which succeeds
            return None
        try:
            if self.config.user_dn_pattern:
                user_dn = self.config.full_dn(self.config.user_dn_pattern.replace("{0}", escape_rdn(username)))
            else:
                found = self._search_user(username)
                if found is None:
                    log.info("LDAP sign-in refused for %s: no such user", username)
                    return None
                user_dn = found
            conn = self._bind(user_dn, password)
            if conn is None:
                log.info("LDAP sign-in refused for %s: invalid credentials", username)
                return None
            try:
                if self.config.manager_dn:
                    conn.unbind()
                    conn = self._manager()
                groups = self._groups(conn, user_dn, username)
            finally:
                conn.unbind()
        except (LdapUnavailable, LDAPException, OSError) as error:
            log.warning(
                "LDAP server %s unavailable, sign-in of %s refused: %s",
                self.config.server_url,
                username,
                f"{type(error).__name__}: {error}",
            )
            return None
        roles, is_admin = self.config.roles.resolve(groups)
        return Identity(username, roles, is_admin, source=self.source)
