"""Metrics accounts from the configuration file's `canary:` section, in halconfig's shape (kayenta.md §4).

```yaml
canary:
  serviceIntegrations:
    - name: prometheus
      enabled: true
      accounts:
        - name: prod-prometheus
          endpoint: {baseUrl: https://prometheus.example.com}
          bearerTokenFile: /etc/gennaker/prometheus-token   # or username with password / passwordFile
          scopeLabel: pod                                   # the label the scope matches (default: instance)
          permissions: {READ: [dev, ops], WRITE: [ops]}
  defaultMetricsAccount: prod-prometheus                    # needed only with several accounts
```

Credentials (`password`/`passwordFile`, `bearerToken`/`bearerTokenFile`, or halconfig's `usernamePasswordFile`
holding `user:password`) are `SecretStr`, read once from their files at startup and never shown by `public()`,
reprs or logs; `prometheus_client` sends them only to the account's own `baseUrl` origin. Other integrations
halconfig lists (google, datadog, …) are accepted only when disabled, and unknown keys are refused, so a
misspelt key is an error rather than silently ignored.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from gennaker.canary.prometheus_query import DEFAULT_SCOPE_LABEL
from gennaker.config_sections import (
    http_base_url,
    read_write_permissions,
    required_secret_file,
    resource_name,
    validation_problems,
)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_METADATA_CACHING_MS = 60_000  # Kayenta's metadataCachingIntervalMS: how long metric names are kept
METRICS_STORE = "METRICS_STORE"
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a Prometheus label name
# Keys halconfig writes under `canary:`; storage, judge and UI settings are read elsewhere or have no effect here.
_CANARY_KEYS = {
    "enabled",
    "serviceIntegrations",
    "defaultMetricsAccount",
    "defaultStorageAccount",
    "defaultJudge",
    "defaultMetricsStore",
    "stagesEnabled",
    "templatesEnabled",
    "showAllConfigsEnabled",
    "reduxLoggerEnabled",
}
_INTEGRATION_KEYS = {"name", "enabled", "accounts", "metadataCachingIntervalMS"}


class MetricsAccountConfigError(ValueError):
    """The `canary` configuration is invalid; the message names each offending key."""


class MetricsAccountError(LookupError):
    """A run names a metrics account that is not configured, or names none when no default can be chosen."""


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    baseUrl: str

    @field_validator("baseUrl")
    @classmethod
    def _an_http_url(cls, value: str) -> str:
        return http_base_url(
            value, example="http://prometheus.example.com:9090", credentials="username and password, or bearerToken"
        )


class PrometheusAccount(BaseModel):
    """One Prometheus server: where it is, how to sign in, which label holds the scope, and who may use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    endpoint: Endpoint
    username: str | None = None
    password: SecretStr | None = None
    passwordFile: str | None = None
    usernamePasswordFile: str | None = None
    bearerToken: SecretStr | None = None
    bearerTokenFile: str | None = None
    scopeLabel: str = DEFAULT_SCOPE_LABEL
    supportedTypes: list[str] = Field(default_factory=lambda: [METRICS_STORE])
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    # At most 2 min, so the requests of one canary run stay well inside a task's lease (10 min by default).
    timeoutSeconds: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        # halconfig writes unset keys as empty strings or nulls.
        data = {key: value for key, value in data.items() if value not in ("", None)}
        for key, file_key in (("password", "passwordFile"), ("bearerToken", "bearerTokenFile")):
            if key in data and file_key in data:
                raise ValueError(f"{key} and {file_key} are mutually exclusive")
            if file_key in data:
                data[key] = required_secret_file(str(data[file_key]), file_key)
        if "usernamePasswordFile" in data:
            if "username" in data or "password" in data:
                raise ValueError("usernamePasswordFile replaces username and password (or passwordFile)")
            text = required_secret_file(str(data["usernamePasswordFile"]), "usernamePasswordFile")
            username, colon, password = text.partition(":")
            if not colon or not username or not password:
                raise ValueError(f"usernamePasswordFile {data['usernamePasswordFile']} must hold username:password")
            data["username"], data["password"] = username, password
        return data

    @field_validator("name")
    @classmethod
    def _name_is_a_path_segment(cls, value: str) -> str:
        return resource_name(value)

    @field_validator("scopeLabel")
    @classmethod
    def _a_label_name(cls, value: str) -> str:
        if not _LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not a Prometheus label name")
        return value

    @field_validator("supportedTypes")
    @classmethod
    def _metrics_store_only(cls, value: list[str]) -> list[str]:
        if value != [METRICS_STORE]:
            raise ValueError(f"a Prometheus account is a {METRICS_STORE} only, not {value!r}")
        return value

    @field_validator("permissions")
    @classmethod
    def _known_permissions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return read_write_permissions(value, "an account")

    @model_validator(mode="after")
    def _credentials_are_complete(self) -> PrometheusAccount:
        if self.password is not None and self.bearerToken is not None:
            raise ValueError("give either a username and password or a bearer token, not both")
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.username and self.password is None:
            raise ValueError("a username needs a password or passwordFile")
        return self

    @property
    def base_url(self) -> str:
        return self.endpoint.baseUrl

    def authorization(self) -> str | None:
        """The `Authorization` header value: Basic for a username and password, else Bearer for a token."""
        if self.username and self.password is not None:
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if self.bearerToken is not None:
            return f"Bearer {self.bearerToken.get_secret_value()}"
        return None

    def public(self) -> dict[str, Any]:
        """What listings show (Kayenta's `/credentials` shape): never a credential, nor whether there is one."""
        return {
            "name": self.name,
            "type": "prometheus",
            "supportedTypes": list(self.supportedTypes),
            "endpoint": {"baseUrl": self.base_url},
            "scopeLabel": self.scopeLabel,
            "permissions": {k: list(v) for k, v in self.permissions.items()},
        }


class MetricsAccounts:
    """The configured metrics accounts by name, the default one, and how long metric names are cached."""

    def __init__(
        self,
        accounts: list[PrometheusAccount],
        *,
        default_name: str | None = None,
        metadata_caching_ms: int = DEFAULT_METADATA_CACHING_MS,
    ):
        self._by_name: dict[str, PrometheusAccount] = {}
        for account in accounts:
            if account.name in self._by_name:
                raise MetricsAccountConfigError(
                    f"invalid canary: metrics account name {account.name!r} is used more than once"
                )
            self._by_name[account.name] = account
        if default_name is not None and default_name not in self._by_name:
            raise MetricsAccountConfigError(
                f"invalid canary.defaultMetricsAccount: {default_name!r} is not a configured metrics account "
                f"(configured: {', '.join(self._by_name) or 'none'})"
            )
        self.default_name = default_name
        self.metadata_caching_ms = metadata_caching_ms

    def __iter__(self) -> Iterator[PrometheusAccount]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> PrometheusAccount | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def default(self) -> PrometheusAccount:
        """`canary.defaultMetricsAccount`, else the only account; MetricsAccountError when there is no choice."""
        if self.default_name is not None:
            return self._by_name[self.default_name]
        if len(self._by_name) == 1:
            return next(iter(self._by_name.values()))
        if not self._by_name:
            raise MetricsAccountError("no metrics account is configured (canary.serviceIntegrations, name: prometheus)")
        raise MetricsAccountError(
            f"there are several metrics accounts ({', '.join(self._by_name)}): name one in metricsAccountName "
            "or set canary.defaultMetricsAccount"
        )

    def resolve(self, name: str | None) -> PrometheusAccount:
        """The account a run names, or the default one when it names none."""
        if not name:
            return self.default()
        account = self._by_name.get(name)
        if account is None:
            raise MetricsAccountError(
                f"metrics account {name!r} is not configured (configured: {', '.join(self._by_name) or 'none'})"
            )
        return account

    def public(self) -> list[dict[str, Any]]:
        return [account.public() for account in self]


def metrics_accounts(config: Mapping[str, Any] | None) -> MetricsAccounts:
    """The metrics accounts of a configuration file's `canary` section (`config` is the whole parsed file)."""
    canary = (config or {}).get("canary")
    if canary is None:
        return MetricsAccounts([])
    if not isinstance(canary, Mapping):
        raise MetricsAccountConfigError("invalid canary: must be a mapping")
    problems = [f"canary.{key}: unknown key" for key in sorted(set(canary) - _CANARY_KEYS, key=str)]
    integrations = canary.get("serviceIntegrations") or []
    if not isinstance(integrations, list):
        problems.append("canary.serviceIntegrations: must be a list")
        integrations = []
    accounts: list[PrometheusAccount] = []
    caching_ms = DEFAULT_METADATA_CACHING_MS
    for index, integration in enumerate(integrations):
        where = f"canary.serviceIntegrations[{index}]"
        if not isinstance(integration, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        name = integration.get("name")
        enabled = integration.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(f"{where}.enabled: must be true or false")
            continue
        if name != "prometheus":
            # halconfig lists every integration, disabled by default: a disabled one is fine, an enabled one is not.
            if enabled:
                problems.append(f"{where}: {name!r} is not supported (supported: prometheus; or set enabled: false)")
            continue
        if not enabled:
            continue
        problems.extend(f"{where}.{key}: unknown key" for key in sorted(set(integration) - _INTEGRATION_KEYS, key=str))
        caching_ms = _caching_ms(integration, where, problems)
        items = integration.get("accounts")
        items = [] if items is None else items
        if not isinstance(items, list):
            problems.append(f"{where}.accounts: must be a list")
            continue
        for number, item in enumerate(items):
            try:
                accounts.append(PrometheusAccount.model_validate(item))
            except ValidationError as exc:
                problems.extend(validation_problems(f"{where}.accounts[{number}]", exc))
    default_name = canary.get("defaultMetricsAccount") or None
    if default_name is not None and not isinstance(default_name, str):
        problems.append("canary.defaultMetricsAccount: must be an account name")
    if problems:
        raise MetricsAccountConfigError("invalid canary: " + "; ".join(problems))
    if canary.get("enabled") is False:
        return MetricsAccounts([])
    return MetricsAccounts(accounts, default_name=default_name, metadata_caching_ms=caching_ms)


def _caching_ms(integration: Mapping[str, Any], where: str, problems: list[str]) -> int:
    value = integration.get("metadataCachingIntervalMS", DEFAULT_METADATA_CACHING_MS)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(f"{where}.metadataCachingIntervalMS: must be a positive number of milliseconds")
        return DEFAULT_METADATA_CACHING_MS
    return value
