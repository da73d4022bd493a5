"""`notifications:` in the configuration file, checked at startup with errors that name the key.

Secrets (the SMTP password, the Slack token) come from a file (`passwordFile`, `tokenFile`) or an
environment variable (`passwordEnv`, `tokenEnv`); a literal Slack `token` is accepted too. They are held
here only and never written to rows, execution contexts, logs or API responses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gennaker.config_sections import read_secret_file

DEFAULT_BASE_URL = "http://127.0.0.1:8084"
T = TypeVar("T")


class NotificationConfigError(ValueError):
    """The `notifications` section is invalid; the message names the key."""


@dataclass(frozen=True)
class EmailSettings:
    enabled: bool = False
    sender: str = ""
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    start_tls: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class SlackSettings:
    enabled: bool = False
    token: str | None = field(default=None, repr=False)
    base_url: str = "https://slack.com"


@dataclass(frozen=True)
class NotificationSettings:
    base_url: str = DEFAULT_BASE_URL
    max_attempts: int = 5
    backoff_s: float = 5.0  # first retry delay; doubled each attempt
    max_backoff_s: float = 600.0
    lease_s: float = 60.0
    poll_s: float = 1.0
    batch_size: int = 50
    http_timeout_s: float = 10.0
    email: EmailSettings = EmailSettings()
    slack: SlackSettings = SlackSettings()
    microsoftteams: bool = False
    googlechat: bool = False
    cdevents: bool = False

    @classmethod
    def from_config(cls, section: Any, environ: Mapping[str, str] | None = None) -> NotificationSettings:
        env = os.environ if environ is None else environ
        if section is None:
            return cls()
        top = _mapping(section, "notifications")
        _known(
            top,
            "notifications",
            {
                "baseUrl", "maxAttempts", "backoffSeconds", "maxBackoffSeconds", "leaseSeconds", "pollSeconds",
                "batchSize", "httpTimeoutSeconds", "email", "slack", "microsoftteams", "googlechat", "cdevents",
            },
        )  # fmt: skip
        return cls(
            base_url=_url(top, "baseUrl", "notifications", DEFAULT_BASE_URL),
            max_attempts=_int(top, "maxAttempts", "notifications", 5, minimum=1),
            backoff_s=_number(top, "backoffSeconds", "notifications", 5.0),
            max_backoff_s=_number(top, "maxBackoffSeconds", "notifications", 600.0),
            lease_s=_number(top, "leaseSeconds", "notifications", 60.0, minimum=0.1),
            poll_s=_number(top, "pollSeconds", "notifications", 1.0, minimum=0.01),
            batch_size=_int(top, "batchSize", "notifications", 50, minimum=1),
            http_timeout_s=_number(top, "httpTimeoutSeconds", "notifications", 10.0, minimum=0.1),
            email=_email(top.get("email"), env),
            slack=_slack(top.get("slack"), env),
            microsoftteams=_enabled_only(top.get("microsoftteams"), "notifications.microsoftteams"),
            googlechat=_enabled_only(top.get("googlechat"), "notifications.googlechat"),
            cdevents=_enabled_only(top.get("cdevents"), "notifications.cdevents"),
        )


def _email(section: Any, env: Mapping[str, str]) -> EmailSettings:
    where = "notifications.email"
    if section is None:
        return EmailSettings()
    values = _mapping(section, where)
    _known(values, where, {"enabled", "from", "host", "port", "username", "passwordFile", "passwordEnv", "startTls"})
    enabled = _bool(values, "enabled", where, False)
    sender = _string(values, "from", where, "")
    if enabled and not sender:
        raise NotificationConfigError(f"{where}.from: required when e-mail is enabled")
    port = _int(values, "port", where, 25, minimum=1)
    if port > 65535:
        raise NotificationConfigError(f"{where}.port: must be at most 65535")
    return EmailSettings(
        enabled=enabled,
        sender=sender,
        host=_string(values, "host", where, "127.0.0.1"),
        port=port,
        username=_string(values, "username", where, "") or None,
        password=_secret(values, "passwordFile", "passwordEnv", where, env),
        start_tls=_bool(values, "startTls", where, False),
    )


def _slack(section: Any, env: Mapping[str, str]) -> SlackSettings:
    where = "notifications.slack"
    if section is None:
        return SlackSettings()
    values = _mapping(section, where)
    _known(values, where, {"enabled", "token", "tokenFile", "tokenEnv", "baseUrl"})
    enabled = _bool(values, "enabled", where, False)
    token = _string(values, "token", where, "") or _secret(values, "tokenFile", "tokenEnv", where, env)
    if enabled and not token:
        raise NotificationConfigError(f"{where}.token: a token (token, tokenFile or tokenEnv) is required")
    return SlackSettings(
        enabled=enabled, token=token or None, base_url=_url(values, "baseUrl", where, "https://slack.com")
    )


def _enabled_only(section: Any, where: str) -> bool:
    if section is None:
        return False
    values = _mapping(section, where)
    _known(values, where, {"enabled"})
    return _bool(values, "enabled", where, False)


def _secret(values: Mapping[str, Any], file_key: str, env_key: str, where: str, env: Mapping[str, str]) -> str | None:
    path = _string(values, file_key, where, "")
    name = _string(values, env_key, where, "")
    if path and name:
        raise NotificationConfigError(f"{where}: set {file_key} or {env_key}, not both")
    if path:
        try:
            return read_secret_file(path, file_key) or None
        except ValueError as error:
            raise NotificationConfigError(f"{where}.{file_key}: {error}") from None
    if name:
        secret = env.get(name)
        if not secret:
            raise NotificationConfigError(f"{where}.{env_key}: environment variable {name} is not set")
        return secret
    return None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NotificationConfigError(f"{where}: must be a mapping")
    return value


def _known(values: Mapping[str, Any], where: str, keys: set[str]) -> None:
    unknown = sorted(set(values) - keys)
    if unknown:
        raise NotificationConfigError(f"{where}.{unknown[0]}: unknown key")


def _typed(values: Mapping[str, Any], key: str, where: str, default: T, accept: Callable[[Any], bool], must: str) -> T:
    """`values[key]`, or `default` when unset; a value `accept` refuses is an error saying what it must be."""
    value = values.get(key)
    if value is None:
        return default
    if not accept(value):
        raise NotificationConfigError(f"{where}.{key}: must be {must}")
    return cast(T, value)


def _string(values: Mapping[str, Any], key: str, where: str, default: str) -> str:
    return _typed(values, key, where, default, lambda v: isinstance(v, str), "a string")


def _url(values: Mapping[str, Any], key: str, where: str, default: str) -> str:
    url = _string(values, key, where, default).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise NotificationConfigError(f"{where}.{key}: must be an http:// or https:// URL")
    return url


def _bool(values: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    return _typed(values, key, where, default, lambda v: isinstance(v, bool), "true or false")


def _int(values: Mapping[str, Any], key: str, where: str, default: int, *, minimum: int) -> int:
    def accept(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= minimum

    return _typed(values, key, where, default, accept, f"an integer of at least {minimum}")


def _number(values: Mapping[str, Any], key: str, where: str, default: float, *, minimum: float = 0.0) -> float:
    def accept(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and v >= minimum

    return float(_typed(values, key, where, default, accept, f"a number of at least {minimum:g}"))
