"""External sign-in without servers: configuration, group → role mapping, the bind cache, and how
AuthService combines local users with a password backend (issue 4, item 4)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from gennaker.auth.config import auth_service
from gennaker.auth.external import AuthConfigError, CredentialCache, GroupRoles
from gennaker.auth.identity import Identity
from gennaker.auth.ldap import LdapAuthenticator, LdapConfig
from gennaker.auth.oidc import OidcConfig
from gennaker.auth.service import AuthError, AuthService
from gennaker.runtime import Runtime


class FakeDirectory:
    source = "ldap"

    def __init__(self, users: dict[str, tuple[str, list[str]]], fail: bool = False):
        self.users = users
        self.fail = fail
        self.calls = 0

    def authenticate(self, username: str, password: str) -> Identity | None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("boom")
        found = self.users.get(username)
        if found is None or found[0] != password:
            return None
        return Identity(username, frozenset(found[1]), "admins" in found[1], source="ldap")


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory({"alice": ("alice-pw", ["devs"]), "root": ("root-pw", ["admins"])})


@pytest.fixture
def auth(runtime: Runtime, directory: FakeDirectory) -> AuthService:
    service = AuthService(runtime.db, [directory])
    service.add_user("admin", "local-password", ["admin"], is_admin=True)
    return service


def test_group_roles_map_rename_and_lower_case() -> None:
    roles = GroupRoles.from_config(
        {"roleMapping": {"Developers": "devs", "Platform": ["ops", "Deployers"]}, "adminGroups": "SRE"}, "auth.x"
    )
    assert roles.resolve(["developers", "Platform", "QA Team", ""]) == (
        frozenset({"devs", "ops", "deployers", "qa team"}),
        False,
    )
    assert roles.resolve(["sre"]) == (frozenset({"sre"}), True)
    with pytest.raises(AuthConfigError, match="roleMapping"):
        GroupRoles.from_config({"roleMapping": ["x"]}, "auth.x")
    with pytest.raises(AuthConfigError, match="adminGroups"):
        GroupRoles.from_config({"adminGroups": [1]}, "auth.x")


def test_credential_cache_expires_and_never_keeps_the_password() -> None:
    now = [100.0]
    cache = CredentialCache(ttl_s=60, max_entries=2, clock=lambda: now[0])
    who = Identity("alice", frozenset(), False, "ldap")
    cache.put("alice", "secret-pw", who)
    assert cache.get("alice", "secret-pw") == who
    assert cache.get("alice", "other") is None and cache.get("alicesecret-pw", "") is None
    assert all(b"secret-pw" not in key for key in cache._entries)
    now[0] += 61
    assert cache.get("alice", "secret-pw") is None
    for index in range(5):
        cache.put(f"u{index}", "pw", who)
    assert len(cache._entries) <= 2
    disabled = CredentialCache(ttl_s=0)
    disabled.put("alice", "pw", who)
    assert disabled.get("alice", "pw") is None


def test_ldap_configuration_like_gate() -> None:
    config = LdapConfig.from_config(
        {"url": "ldap://127.0.0.1:3890/dc=example,dc=org", "userDnPattern": "uid={0},ou=people"}
    )
    assert (config.server_url, config.base_dn) == ("ldap://127.0.0.1:3890", "dc=example,dc=org")
    assert config.group_search_filter == "(uniqueMember={0})" and config.group_role_attributes == ("cn",)
    assert config.full_dn("ou=groups") == "ou=groups,dc=example,dc=org"
    assert config.full_dn("") == "dc=example,dc=org"
    assert config.full_dn("uid=a,dc=example,dc=org") == "uid=a,dc=example,dc=org"
    assert LdapConfig.from_config({"url": "ldaps://h", "userSearchFilter": "(uid={0})"}).base_dn == ""
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "url is required"),
        ({"url": "http://h/dc=x", "userDnPattern": "uid={0}"}, "ldap://"),
        ({"url": "ldap://h"}, "userDnPattern or userSearchFilter"),
        ({"url": "ldap://h", "userDnPattern": "uid={0}", "timeoutSeconds": 0}, "timeoutSeconds"),
        ({"url": "ldap://h", "userDnPattern": "uid={0}", "groupRoleAttributes": []}, "groupRoleAttributes"),
    ]
    for bad, words in cases:
        with pytest.raises(AuthConfigError, match=words):
            LdapConfig.from_config(bad)


def test_oidc_configuration_defaults_and_errors() -> None:
    config = OidcConfig.from_config({"issuer": "https://idp.example.org/", "clientId": "gennaker", "scopes": "groups"})
    assert config.issuer == "https://idp.example.org" and config.scopes == ("openid", "groups")
    assert (config.username_claim, config.groups_claim, config.name) == (
        "preferred_username",
        "groups",
        "OpenID Connect",
    )
    with pytest.raises(AuthConfigError, match="issuer"):
        OidcConfig.from_config({"clientId": "x"})
    with pytest.raises(AuthConfigError, match="clientId"):
        OidcConfig.from_config({"issuer": "https://idp"})


def test_auth_service_from_the_configuration_file(runtime: Runtime) -> None:
    assert auth_service(runtime.db, {}).password_backends == ()
    ldap = {"enabled": True, "url": "ldap://127.0.0.1:1/dc=x", "userDnPattern": "uid={0}", "cacheSeconds": 5}
    oidc = {"enabled": True, "issuer": "http://127.0.0.1:1", "clientId": "c"}
    service = auth_service(runtime.db, {"auth": {"ldap": ldap, "oidc": oidc}})
    assert isinstance(service.password_backends[0], LdapAuthenticator) and service.cache.ttl_s == 5
    assert service.oidc is not None
    assert auth_service(runtime.db, {"auth": {"ldap": {**ldap, "enabled": False}}}).password_backends == ()
    with pytest.raises(AuthConfigError, match=r"auth\.ldap\.enabled"):
        auth_service(runtime.db, {"auth": {"ldap": {"enabled": "yes"}}})
    with pytest.raises(AuthConfigError, match="auth must be a mapping"):
        auth_service(runtime.db, {"auth": ["ldap"]})


def test_throttle_and_local_cache_from_the_configuration_file(runtime: Runtime) -> None:
    defaults = auth_service(runtime.db, {})
    assert (defaults.throttle.per_user, defaults.throttle.per_address, defaults.throttle.window_s) == (10, 50, 300)
    assert defaults.local_cache.ttl_s == 60
    throttle = {"maxFailuresPerUser": 3, "maxFailuresPerAddress": 0, "windowSeconds": 30}
    service = auth_service(runtime.db, {"auth": {"throttle": throttle, "local": {"cacheSeconds": 0}}})
    assert (service.throttle.per_user, service.throttle.per_address, service.throttle.window_s) == (3, 0, 30)
    assert service.local_cache.ttl_s == 0
    with pytest.raises(AuthConfigError, match=r"auth\.throttle\.maxFailuresPerUser must be a whole number"):
        auth_service(runtime.db, {"auth": {"throttle": {"maxFailuresPerUser": 2.5}}})
    with pytest.raises(AuthConfigError, match=r"auth\.local\.cacheSeconds"):
        auth_service(runtime.db, {"auth": {"local": {"cacheSeconds": -1}}})
    with pytest.raises(AuthConfigError, match=r"auth\.throttle must be a mapping"):
        auth_service(runtime.db, {"auth": {"throttle": 5}})


def test_external_password_after_local_users(auth: AuthService, directory: FakeDirectory) -> None:
    assert auth.authenticate_basic("admin", "local-password") == Identity("admin", frozenset({"admin"}), True)
    assert auth.authenticate_basic("admin", "alice-pw") is None
    assert directory.calls == 0  # a local user's name never goes to the directory
    assert auth.authenticate_basic("alice", "alice-pw") == Identity("alice", frozenset({"devs"}), False, "ldap")
    assert auth.authenticate_basic("alice", "alice-pw") is not None
    assert directory.calls == 1  # cached
    assert auth.authenticate_basic("alice", "wrong") is None
    assert auth.authenticate_basic("alice", "") is None
    assert auth.authenticate_basic("nobody", "x") is None
    assert auth.identity("alice") == Identity("alice", frozenset({"devs"}), False, "ldap")
    issued = auth.create_token("alice", "ci")
    assert auth.authenticate_token(issued.token) == Identity("alice", frozenset({"devs"}), False, "token")
    with pytest.raises(AuthError):  # never signed in, so no record to make a session for
        auth.create_session("root")
    assert auth.authenticate_basic("root", "root-pw") is not None
    assert auth.authenticate_token(auth.create_session("root"), kind="session") == Identity(
        "root", frozenset({"admins"}), True, "session"
    )


def test_roles_snapshot_follows_the_latest_sign_in(auth: AuthService, directory: FakeDirectory) -> None:
    assert auth.authenticate_basic("alice", "alice-pw") is not None
    token = auth.create_token("alice", "ci").token
    directory.users["alice"] = ("alice-pw", ["devs", "ops"])
    auth.cache.clear()
    assert auth.authenticate_basic("alice", "alice-pw") is not None
    found = auth.authenticate_token(token)
    assert found is not None and found.roles == frozenset({"devs", "ops"})


def test_a_broken_backend_means_not_signed_in(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    service = AuthService(runtime.db, [FakeDirectory({}, fail=True)])
    with caplog.at_level(logging.WARNING, logger="gennaker.auth"):
        assert service.authenticate_basic("alice", "alice-pw") is None
    assert "RuntimeError" in caplog.text and "alice-pw" not in caplog.text


def test_external_users_cannot_take_over_other_names(auth: AuthService) -> None:
    assert not auth.remember_external(Identity("admin", frozenset({"x"}), True, "oidc"))
    assert auth.identity("admin") == Identity("admin", frozenset({"admin"}), True, "local")
    assert auth.remember_external(Identity("kim", frozenset({"qa"}), False, "oidc"))
    assert not auth.remember_external(Identity("kim", frozenset({"qa"}), True, "ldap"))
    assert not auth.remember_external(Identity("bad name", frozenset(), False, "oidc"))
    assert auth.identity("kim") == Identity("kim", frozenset({"qa"}), False, "oidc")
    assert auth.authenticate_basic("kim", "anything") is None  # no password for an OIDC user
    # An administrator may turn the name into a local user.
    auth.add_user("kim", "kims-local-pw", ["qa"])
    assert auth.identity("kim") == Identity("kim", frozenset({"qa"}), False, "local")


def test_concurrent_first_sign_ins(auth: AuthService) -> None:
    results: list[bool] = []
    who = Identity("lee", frozenset({"devs"}), False, "ldap")

    def remember() -> None:
        results.append(auth.remember_external(who))

    threads = [threading.Thread(target=remember) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4


def test_ldap_authenticator_refuses_empty_passwords_without_asking() -> None:
    backend = LdapAuthenticator(LdapConfig.from_config({"url": "ldap://127.0.0.1:1", "userDnPattern": "uid={0}"}))
    asked: list[Any] = []
    backend._bind = lambda *args: asked.append(args)  # type: ignore[method-assign]
    assert backend.authenticate("alice", "") is None and backend.authenticate("", "pw") is None
    assert asked == []


def test_oidc_user_name_and_groups_from_claims() -> None:
    from gennaker.auth.oidc import OidcError, OidcLogin, claim

    login = OidcLogin(OidcConfig.from_config({"issuer": "http://127.0.0.1:1", "clientId": "c", "adminGroups": ["Ops"]}))
    assert claim({"a": {"b": ["x"]}, "a.c": 1}, "a.b") == ["x"] and claim({"a.c": 1}, "a.c") == 1
    assert claim({"a": 1}, "a.b") is None
    assert login.identity({"sub": "s1", "preferred_username": "ann", "groups": ["Ops", 3]}) == Identity(
        "ann", frozenset({"ops"}), True, "oidc"
    )
    assert login.identity({"sub": "s1", "email": "e@x", "groups": "QA"}).username == "e@x"
    assert login.identity({"sub": "s1"}) == Identity("s1", frozenset(), False, "oidc")
    with pytest.raises(OidcError, match="no usable user name"):
        login.identity({"sub": "has space"})
