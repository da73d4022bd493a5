"""Artifact accounts: who may fetch which artifact types, with which credentials.

Configured like Spinnaker's halconfig `artifacts:` section (`http`, `gitrepo`, `github`, `gitlab`, `helm`, `s3`,
`gcs`, each `{enabled, accounts: [...]}`), plus built-in accounts that always exist: `embedded-artifact`,
`docker-registry`, `no-auth-http-account` and `no-auth-git-repo-account`. Secrets are `SecretStr`, so
reprs, logs and the public listing never show them.

An account's credentials go only to the places it names: `hosts` (origins such as `https://host:8443`, or
host names, meaning https and ssh on their usual ports), plus `baseUrl` (GitHub, GitLab) or `repository`
(Helm). A pipeline author chooses the URL of an artifact, so without this a credential would reach any
listener the author points it at. An `http` or `gitrepo` account with credentials therefore needs `hosts`.
Cloud object accounts (`s3`, `gcs`) sign every request, so theirs go only to their endpoint: `apiEndpoint`, else
the provider's own hosts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gennaker.config_sections import read_secret_file, validation_problems

EMBEDDED_ACCOUNT = "embedded-artifact"
DOCKER_ACCOUNT = "docker-registry"
NO_AUTH_HTTP_ACCOUNT = "no-auth-http-account"
NO_AUTH_GIT_ACCOUNT = "no-auth-git-repo-account"
GITHUB_API = "https://api.github.com"
GCS_API = "https://storage.googleapis.com"
_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22, "git": 9418}
_HOST_NAME = re.compile(r"(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


class ArtifactConfigError(ValueError):
    """The `artifacts:` configuration is invalid; the message names each offending field."""


class ArtifactAccount(BaseModel):
    """One named account; subclasses say which artifact types they fetch."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    types: ClassVar[tuple[str, ...]] = ()
    name: str = Field(min_length=1)

    def public(self) -> dict[str, Any]:
        """What `/artifacts/credentials` shows: the name and types, never credentials."""
        return {"name": self.name, "types": list(self.types)}

    def has_credentials(self) -> bool:
        return False

    def credential_hosts(self) -> list[str]:
        """Origins and host names the credentials may be sent to."""
        return []

    def may_send_credentials_to(self, url: str) -> bool:
        return any(_reaches(url, entry) for entry in self.credential_hosts())


class _Credentials(ArtifactAccount):
    """Basic-auth or token credentials, given inline or read once from files (halconfig's `*File` keys)."""

    username: str | None = None
    password: SecretStr | None = None
    usernamePasswordFile: str | None = None
    token: SecretStr | None = None
    tokenFile: str | None = None
    hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("usernamePasswordFile") and not data.get("password"):
            text = read_secret_file(str(data["usernamePasswordFile"]), "usernamePasswordFile")
            if ":" not in text:
                raise ValueError("usernamePasswordFile must hold `username:password`")
            data["username"], data["password"] = text.split(":", 1)
        if data.get("tokenFile") and not data.get("token") and "tokenFile" in cls.model_fields:
            data["token"] = read_secret_file(str(data["tokenFile"]), "tokenFile")
        return data

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username and self.password is not None:
            return self.username, self.password.get_secret_value()
        return None

    def token_value(self) -> str | None:
        return self.token.get_secret_value() if self.token is not None else None

    def has_credentials(self) -> bool:
        return self.basic_auth() is not None or self.token is not None

    def credential_hosts(self) -> list[str]:
        return list(self.hosts)

    @model_validator(mode="after")
    def _hosts_are_origins(self) -> _Credentials:
        for entry in self.hosts:
            if not _origin_entry(entry):
                raise ValueError(f"hosts: {entry!r} is neither a host name nor an origin like https://host:port")
        return self


def _hosts_required(account: _Credentials) -> None:
    """An account whose credentials could go to any URL must say where they belong."""
    if account.has_credentials() and not account.hosts:
        raise ValueError("an account with credentials needs `hosts`: the origins its credentials may be sent to")


class HttpAccount(_Credentials):
    """`http/file`: a plain GET of the reference URL, with basic auth or a bearer token."""

    types: ClassVar[tuple[str, ...]] = ("http/file",)

    @model_validator(mode="after")
    def _credentials_have_hosts(self) -> HttpAccount:
        _hosts_required(self)
        return self


class GitRepoAccount(_Credentials):
    """`git/repo`: clones over HTTPS (basic auth or token) or SSH (a private key file)."""

    types: ClassVar[tuple[str, ...]] = ("git/repo",)
    sshPrivateKeyFilePath: str | None = None
    sshPrivateKeyPassphrase: SecretStr | None = None
    sshKnownHostsFilePath: str | None = None
    sshTrustUnknownHosts: bool = False

    @model_validator(mode="after")
    def _no_passphrase(self) -> GitRepoAccount:
        if self.sshPrivateKeyPassphrase is not None:
            raise ValueError("sshPrivateKeyPassphrase is not supported: use a key without a passphrase")
        _hosts_required(self)
        return self

    def has_credentials(self) -> bool:
        return super().has_credentials() or self.sshPrivateKeyFilePath is not None


class GitHubAccount(_Credentials):
    """`github/file`: GitHub's contents API; `baseUrl` is the API root (GitHub Enterprise: `https://host/api/v3`)."""

    types: ClassVar[tuple[str, ...]] = ("github/file",)
    baseUrl: str = "https://api.github.com"

    def credential_hosts(self) -> list[str]:
        # github.com serves larger files from raw.githubusercontent.com (the contents API's `download_url`).
        raw = ["https://raw.githubusercontent.com"] if url_origin(self.baseUrl) == url_origin(GITHUB_API) else []
        return [*self.hosts, self.baseUrl, *raw]


class GitLabAccount(_Credentials):
    """`gitlab/file`: GitLab's raw file API with a `PRIVATE-TOKEN`; `baseUrl` is the GitLab root."""

    types: ClassVar[tuple[str, ...]] = ("gitlab/file",)
    baseUrl: str = "https://gitlab.com"

    def credential_hosts(self) -> list[str]:
        return [*self.hosts, self.baseUrl]


class HelmAccount(_Credentials):
    """`helm/chart`: a chart repository (`index.yaml` + archives) at `repository`."""

    types: ClassVar[tuple[str, ...]] = ("helm/chart",)
    repository: str = Field(min_length=1)

    def credential_hosts(self) -> list[str]:
        return [*self.hosts, self.repository]


class _CloudObjectAccount(ArtifactAccount):
    """What `s3` and `gcs` accounts share: halconfig's empty strings mean unset (as in Clouddriver), and
    `apiEndpoint`, when set, is an http(s) URL."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        return _without_empty_strings(data)

    @field_validator("apiEndpoint", check_fields=False)
    @classmethod
    def _endpoint_is_http(cls, value: str | None) -> str | None:
        return None if value is None else _http_endpoint(value)

    def has_credentials(self) -> bool:
        return True  # every request is signed or carries a token: the account's, or the default chain's


class S3Account(_CloudObjectAccount):
    """`s3/object`: objects in Amazon S3 or an S3-compatible store, with halconfig's keys.

    `apiEndpoint` (with `apiRegion`) names an S3-compatible store such as MinIO, addressed path-style as
    Clouddriver does; without it requests go to AWS in `region`. `awsAccessKeyId` and `awsSecretAccessKey`
    (also accepted as `accessKeyId`, `secretAccessKey`) sign the requests; without them the AWS default
    credential chain does (environment, shared files, container or instance role). halconfig's empty strings
    mean unset, as in Clouddriver.
    """

    types: ClassVar[tuple[str, ...]] = ("s3/object",)
    apiEndpoint: str | None = None
    apiRegion: str | None = None
    region: str | None = None
    awsAccessKeyId: str | None = Field(default=None, validation_alias=AliasChoices("awsAccessKeyId", "accessKeyId"))
    awsSecretAccessKey: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("awsSecretAccessKey", "secretAccessKey")
    )

    @model_validator(mode="after")
    def _keys_together(self) -> S3Account:
        if (self.awsAccessKeyId is None) != (self.awsSecretAccessKey is None):
            raise ValueError("awsAccessKeyId and awsSecretAccessKey must be given together")
        return self

    def static_keys(self) -> tuple[str, str] | None:
        if self.awsAccessKeyId and self.awsSecretAccessKey is not None:
            return self.awsAccessKeyId, self.awsSecretAccessKey.get_secret_value()
        return None

    def credential_hosts(self) -> list[str]:
        return [self.apiEndpoint] if self.apiEndpoint else [f"https://*{s}" for s in _AWS_HOST_SUFFIXES]

    def may_send_credentials_to(self, url: str) -> bool:
        if self.apiEndpoint:
            return _reaches(url, self.apiEndpoint)
        scheme, host, port = url_origin(url)
        return scheme == "https" and port == 443 and host.endswith(_AWS_HOST_SUFFIXES)


class GcsAccount(_CloudObjectAccount):
    """`gcs/object`: objects in Google Cloud Storage.

    `jsonPath` is a credentials file (a service-account key, as halconfig has it); without it Application
    Default Credentials are used, as in Clouddriver. `apiEndpoint` is Gennaker's addition for a private or
    emulated endpoint (default `https://storage.googleapis.com`).
    """

    types: ClassVar[tuple[str, ...]] = ("gcs/object",)
    jsonPath: str | None = None
    apiEndpoint: str = GCS_API

    @field_validator("jsonPath")
    @classmethod
    def _json_credentials(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = str(Path(value).expanduser())
        text = read_secret_file(path, "jsonPath")
        try:
            content = json.loads(text)
        except ValueError:
            raise ValueError(f"jsonPath {path} is not JSON") from None
        if not isinstance(content, Mapping) or not content.get("type"):
            raise ValueError(f"jsonPath {path} is not a Google credentials file (it has no `type`)")
        return path

    def credential_hosts(self) -> list[str]:
        return [self.apiEndpoint]


class EmbeddedAccount(ArtifactAccount):
    """`embedded/base64`: the content is the base64 `reference` itself."""

    types: ClassVar[tuple[str, ...]] = ("embedded/base64",)


class DockerImageAccount(ArtifactAccount):
    """`docker/image`: a reference to bind into manifests, never downloaded."""

    types: ClassVar[tuple[str, ...]] = ("docker/image",)


SECTIONS: dict[str, type[ArtifactAccount]] = {
    "http": HttpAccount,
    "gitrepo": GitRepoAccount,
    "github": GitHubAccount,
    "gitlab": GitLabAccount,
    "helm": HelmAccount,
    "s3": S3Account,
    "gcs": GcsAccount,
}


def builtin_accounts() -> list[ArtifactAccount]:
    return [
        EmbeddedAccount(name=EMBEDDED_ACCOUNT),
        DockerImageAccount(name=DOCKER_ACCOUNT),
        HttpAccount(name=NO_AUTH_HTTP_ACCOUNT),
        GitRepoAccount(name=NO_AUTH_GIT_ACCOUNT),
    ]


class ArtifactAccounts:
    """All accounts by name, with the built-ins first and the default account per type."""

    def __init__(self, accounts: Iterable[ArtifactAccount]):
        self._by_name: dict[str, ArtifactAccount] = {}
        for account in accounts:
            if account.name in self._by_name:
                raise ArtifactConfigError(f"artifact account name {account.name!r} is used more than once")
            self._by_name[account.name] = account
        self._builtin = {a.name for a in builtin_accounts()}

    def __iter__(self) -> Iterator[ArtifactAccount]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> ArtifactAccount | None:
        return self._by_name.get(name)

    def for_type(self, artifact_type: str) -> list[ArtifactAccount]:
        return [a for a in self if artifact_type in a.types]

    def default_for(self, artifact_type: str) -> ArtifactAccount | None:
        """The built-in account for the type, else the only configured account for it, else None."""
        handlers = self.for_type(artifact_type)
        builtin = [a for a in handlers if a.name in self._builtin]
        if builtin:
            return builtin[0]
        return handlers[0] if len(handlers) == 1 else None

    def public(self) -> list[dict[str, Any]]:
        return [a.public() for a in self]


def artifact_accounts(section: Mapping[str, Any] | None) -> ArtifactAccounts:
    """Accounts from the `artifacts:` section (or a mapping holding it under `artifacts`).

    A kind is loaded when `enabled` is true or absent; an enabled kind Gennaker cannot fetch is an error.
    """
    section = section or {}
    if set(section) == {"artifacts"} and isinstance(section["artifacts"], Mapping | None):
        section = section["artifacts"] or {}
    accounts: list[ArtifactAccount] = builtin_accounts()
    problems: list[str] = []
    for kind, body in section.items():
        path = f"artifacts.{kind}"
        if not isinstance(body, Mapping):
            problems.append(f"{path}: must be a mapping")
            continue
        if not body.get("enabled", True):
            continue
        model = SECTIONS.get(kind)
        if model is None:
            problems.append(f"{path}: artifact kind not supported (supported: {', '.join(SECTIONS)})")
            continue
        items = body.get("accounts") or []
        if not isinstance(items, list):
            problems.append(f"{path}.accounts: must be a list")
            continue
        for index, item in enumerate(items):
            try:
                accounts.append(model.model_validate(item))
            except ValidationError as exc:
                problems.extend(validation_problems(f"{path}.accounts[{index}]", exc))
    if problems:
        raise ArtifactConfigError("invalid artifact accounts: " + "; ".join(problems))
    return ArtifactAccounts(accounts)






def url_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, including git's `user@host:path` form (ssh); ports made explicit."""
    if "://" not in url:
        head = url.split("/", 1)[0]
        if ":" in head and not url.startswith("/"):
            return "ssh", head.rsplit("@", 1)[-1].split(":")[0].lower(), 22
        return "file", "", None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return scheme, "", None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _without_empty_strings(data: Any) -> Any:
    """halconfig writes unset keys as empty strings; Clouddriver reads those as unset."""
    if not isinstance(data, Mapping):
        return data
    return {key: value for key, value in data.items() if value != ""}


def _http_endpoint(value: str) -> str:
    """An http(s) endpoint URL without a trailing slash; a bare `host:port` means https, as in the AWS SDK."""
    url = (value if "://" in value else f"https://{value}").rstrip("/")
    scheme, host, _ = url_origin(url)
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"{value!r} is not an http or https endpoint such as https://host:port")
    return url


def _origin_entry(entry: str) -> bool:
    if "://" in entry:
        scheme, host, _ = url_origin(entry)
        return bool(host) and scheme in _DEFAULT_PORTS
    return _HOST_NAME.fullmatch(entry) is not None


def _reaches(url: str, entry: str) -> bool:
    """Whether `url` goes to the origin `entry` names (a bare host name: https or ssh on the usual port)."""
    scheme, host, port = url_origin(url)
    if not host:
        return False
    if "://" in entry:
        return (scheme, host, port) == url_origin(entry)
    return host == entry.lower() and (scheme, port) in (("https", 443), ("ssh", 22))
