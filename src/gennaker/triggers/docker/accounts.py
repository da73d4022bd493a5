"""Docker registry accounts: `providers.dockerRegistry.accounts[]`, with halconfig's key names.

Each account names a registry (`address`), optional credentials (`username` with `password` or
`passwordFile`), the repositories to watch and how often (`cacheIntervalSeconds`). Passwords are `SecretStr`,
so reprs and logs never show them. Keys of halconfig that Gennaker does not act on (`permissions`,
`sortTagsByDate`, ...) are accepted and ignored; credential sources it cannot use (`passwordCommand`,
`dockerconfigFile`) are refused rather than silently polling without credentials.

Credentials go to the registry's own origin only, and to the token service a registry names in its Bearer
challenge only when that service is on the registry's host (over https, or over the registry's own scheme)
or is listed in `tokenHosts`. Docker Hub, whose tokens come from another host, needs
`tokenHosts: [auth.docker.io]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from gennaker.artifacts.accounts import _HOST_NAME, url_origin
from gennaker.config_sections import read_secret_file, validation_problems

SECTION = "providers.dockerRegistry"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_UNSUPPORTED = ("passwordCommand", "dockerconfigFile", "catalogFile", "repositoriesRegex")


class DockerConfigError(ValueError):
    """`providers.dockerRegistry` is invalid; the message names each offending key."""


class DockerRegistryAccount(BaseModel):
    """One registry account. `address` is kept as given; `base_url` and `registry` are derived from it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    passwordFile: str | None = None
    email: str | None = None
    repositories: list[str] = Field(default_factory=list)
    cacheIntervalSeconds: float = Field(default=30.0, gt=0)
    clientTimeoutMillis: int = Field(default=60_000, gt=0)
    paginateSize: int = Field(default=100, gt=0, le=10_000)
    trackDigests: bool = True
    digestConcurrency: int = Field(default=8, ge=1, le=64)
    insecureRegistry: bool = False
    tokenHosts: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = {key: value for key, value in data.items() if value != ""}  # halconfig writes unset keys as ""
        for key in _UNSUPPORTED:
            if data.get(key):
                raise ValueError(f"{key} is not supported: give the repositories and `password` or `passwordFile`")
        if data.get("passwordFile") and data.get("password") is None:
            data["password"] = read_secret_file(str(data["passwordFile"]), "passwordFile")
        return data

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        url = value.strip() if "://" in value else f"https://{value.strip()}"
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{value!r} is not a registry address such as https://registry.example.com")
        if parts.query or parts.fragment or parts.username:
            raise ValueError(f"{value!r} must not hold a query, fragment or credentials")
        return value.strip()

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, values: list[str]) -> list[str]:
        for value in values:
            if not is_repository_name(value):
                raise ValueError(f"{value!r} is not a repository name such as library/nginx")
        return list(dict.fromkeys(values))

    @field_validator("tokenHosts")
    @classmethod
    def _token_hosts(cls, values: list[str]) -> list[str]:
        for value in values:
            if "://" in value:
                parts = urlsplit(value)
                if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                    raise ValueError(f"{value!r} is neither a host name nor an origin like https://host:port")
            elif not _HOST_NAME.fullmatch(value):
                raise ValueError(f"{value!r} is neither a host name nor an origin like https://host:port")
        return values

    @model_validator(mode="after")
    def _credentials_together(self) -> DockerRegistryAccount:
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.username and self.password is None:
            raise ValueError("username needs `password` or `passwordFile`")
        return self

    # -- derived ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The address with a scheme, without a trailing `/` or `/v2` (as Clouddriver strips them)."""
        url = self.address if "://" in self.address else f"https://{self.address}"
        url = url.rstrip("/")
        return url.removesuffix("/v2").rstrip("/")

    @property
    def registry(self) -> str:
        """The address without its scheme: what image names start with (`index.docker.io`, `host:5000`)."""
        return self.base_url.split("://", 1)[1]

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username and self.password is not None:
            return self.username, self.password.get_secret_value()
        return None

    def may_send_credentials_to(self, url: str) -> bool:
        """Only to the registry's own origin."""
        return url_origin(url) == url_origin(self.base_url)

    def may_send_credentials_to_token_service(self, realm: str) -> bool:
        """To a token service on the registry's host (https, or the registry's own scheme), or in `tokenHosts`."""
        scheme, host, port = url_origin(realm)
        own_scheme, own_host, _ = url_origin(self.base_url)
        if not host:
            return False
        if host == own_host and scheme in ("https", own_scheme):
            return True
        for entry in self.tokenHosts:
            if "://" in entry:
                if (scheme, host, port) == url_origin(entry):
                    return True
            elif host == entry.lower() and scheme == "https" and port == 443:
                return True
        return False

    def public(self) -> dict[str, Any]:
        """What may be shown: never credentials."""
        return {
            "name": self.name,
            "address": self.base_url,
            "registry": self.registry,
            "repositories": list(self.repositories),
            "cacheIntervalSeconds": self.cacheIntervalSeconds,
            "hasCredentials": self.basic_auth() is not None,
        }


def is_repository_name(value: str) -> bool:
    """Whether `value` is a Docker repository name such as `library/nginx` (what may go into a registry path)."""
    return _REPOSITORY.fullmatch(value) is not None


def docker_registry_accounts(config: Mapping[str, Any] | None) -> list[DockerRegistryAccount]:
    """The accounts of `providers.dockerRegistry` in a whole configuration (empty when absent or disabled)."""
    providers = (config or {}).get("providers") or {}
    if not isinstance(providers, Mapping):
        raise DockerConfigError("providers: must be a mapping")
    section = providers.get("dockerRegistry")
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise DockerConfigError(f"{SECTION}: must be a mapping")
    if section.get("enabled") is False:
        return []
    items = section.get("accounts") or []
    if not isinstance(items, list):
        raise DockerConfigError(f"{SECTION}.accounts: must be a list")
    accounts: list[DockerRegistryAccount] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        where = f"{SECTION}.accounts[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        try:
            accounts.append(DockerRegistryAccount.model_validate(item))
        except ValidationError as exc:
            problems.extend(validation_problems(where, exc))
    problems.extend(_duplicates(a.name for a in accounts))
    if problems:
        raise DockerConfigError("invalid Docker registry accounts: " + "; ".join(problems))
    return accounts


def _duplicates(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for name in names:
        if name in seen:
            problems.append(f"{SECTION}.accounts: the name {name!r} is used more than once")
        seen.add(name)
    return problems
