"""Helpers for reading sections of the configuration file (accounts, masters, senders): secret files, and
pydantic's validation errors turned into problems named by their key (`canary.serviceIntegrations[0].accounts[1].name:
field required`), so one refusal lists every problem of the file."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def read_secret_file(path: str, key: str) -> str:
    """The stripped text of a secret file named by `key` (e.g. `passwordFile`); ValueError naming it otherwise."""
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {key} {path}: {exc.strerror}") from None


def required_secret_file(path: str, key: str) -> str:
    """As `read_secret_file`, refusing an empty file."""
    text = read_secret_file(path, key)
    if not text:
        raise ValueError(f"{key} {path} is empty")
    return text


def validation_problems(prefix: str, exc: ValidationError) -> list[str]:
    """Each error of `exc` as `prefix.key[index]: message`, in lower case, "unknown key" for extra keys."""
    found = []
    for error in exc.errors(include_input=False, include_url=False):
        where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        found.append(f"{where}: {message[:1].lower()}{message[1:]}")
    return found


def resource_name(value: str) -> str:
    """A configured resource's name (an account, a master): it appears in URLs, so one path segment."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"{value!r} must be letters, digits, '.', '_' or '-' (it appears in URLs)")
    return value


def http_base_url(value: str, *, example: str, credentials: str) -> str:
    """An http(s) origin with an optional path and no credentials, query or fragment, without its trailing /.
    `example` is a URL to show; `credentials` says which keys hold credentials instead."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http or https URL such as {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"must not hold credentials: use {credentials}")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not have a query or a fragment")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value.strip().rstrip("/")


def read_write_permissions(value: dict[str, list[str]], what: str) -> dict[str, list[str]]:
    """A resource's `permissions`: only READ and WRITE (`what` names the resource, e.g. "an account")."""
    unknown = sorted(set(value) - {"READ", "WRITE"})
    if unknown:
        raise ValueError(f"unknown permission {unknown[0]!r} ({what} has READ and WRITE)")
    return value
