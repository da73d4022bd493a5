"""Jenkins masters from the configuration file (`ci.jenkins`), as Igor's `jenkins.masters[]` (echo-igor.md §3.3).

```yaml
ci:
  jenkins:
    masters:
      - name: jenkins-prod
        address: https://jenkins.example.com
        username: deploy-bot
        passwordFile: /etc/gennaker/jenkins-token     # a password or, better, a Jenkins API token
        csrf: true
        permissions: {READ: [dev, ops], WRITE: [ops]}
```

A master's credentials (`password`/`passwordFile`, `token`/`tokenFile`) are `SecretStr`, read once from their
files at startup, and never shown by `public()`, reprs or logs. They are sent only to the master's own origin
(see `client.py`). Unknown keys are refused so a misspelt key cannot be silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from gennaker.config_sections import (
    http_base_url,
    read_write_permissions,
    required_secret_file,
    resource_name,
    validation_problems,
)

DEFAULT_START_TIMEOUT_S = 15 * 60  # Orca's startJenkinsJob
DEFAULT_QUEUE_TIMEOUT_S = 2 * 3600  # Orca's waitForJenkinsJobStart
DEFAULT_MAX_POLL_S = 10.0  # Orca's monitorJenkinsJob backoff
DEFAULT_REQUEST_TIMEOUT_S = 30.0  # Igor's client.timeout


class JenkinsConfigError(ValueError):
    """The `ci.jenkins` configuration is invalid; the message names each offending key."""


class JenkinsMaster(BaseModel):
    """One Jenkins master: where it is, how to sign in, and who may read (list jobs) or write (start builds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    address: str
    username: str | None = None
    password: SecretStr | None = None
    passwordFile: str | None = None
    token: SecretStr | None = None
    tokenFile: str | None = None
    csrf: bool = False
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    # At most 2 min, so the few requests of one task stay well inside a task's lease (10 min by default).
    timeoutSeconds: float = Field(DEFAULT_REQUEST_TIMEOUT_S, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for key, file_key in (("password", "passwordFile"), ("token", "tokenFile")):
            if data.get(key) not in (None, "") and data.get(file_key):
                raise ValueError(f"{key} and {file_key} are mutually exclusive")
            if data.get(file_key):
                data[key] = required_secret_file(str(data[file_key]), file_key)
        return data

    @field_validator("name")
    @classmethod
    def _name_is_a_path_segment(cls, value: str) -> str:
        return resource_name(value)

    @field_validator("address")
    @classmethod
    def _address_is_an_origin_with_path(cls, value: str) -> str:
        return http_base_url(
            value, example="https://jenkins.example.com", credentials="username and password (or passwordFile)"
        )

    @field_validator("permissions")
    @classmethod
    def _known_permissions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return read_write_permissions(value, "a master")

    @model_validator(mode="after")
    def _credentials_are_complete(self) -> JenkinsMaster:
        if self.password is not None and self.token is not None:
            raise ValueError("give either a password (or passwordFile) or a token (or tokenFile), not both")
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.username and self.password is None and self.token is None:
            raise ValueError("a username needs a password, passwordFile, token or tokenFile")
        return self

    def basic_auth(self) -> tuple[str, str] | None:
        """Basic credentials: the username with the password, or with the token (a Jenkins API token)."""
        secret = self.password if self.password is not None else self.token
        if self.username and secret is not None:
            return self.username, secret.get_secret_value()
        return None

    def bearer_token(self) -> str | None:
        """A token without a username goes as `Authorization: Bearer` (Igor's `token`, e.g. behind an OAuth proxy)."""
        if self.token is not None and not self.username:
            return self.token.get_secret_value()
        return None

    def has_credentials(self) -> bool:
        return self.password is not None or self.token is not None

    def public(self) -> dict[str, Any]:
        """What listings show: never a credential, nor whether the username has one."""
        return {
            "name": self.name,
            "type": "jenkins",
            "address": self.address,
            "csrf": self.csrf,
            "permissions": {k: list(v) for k, v in self.permissions.items()},
        }


class JenkinsMasters:
    """The configured masters by name, with the stage's time limits (`ci.jenkins.*Seconds`)."""

    def __init__(
        self,
        masters: list[JenkinsMaster],
        *,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
        max_poll_s: float = DEFAULT_MAX_POLL_S,
    ):
        self._by_name: dict[str, JenkinsMaster] = {}
        for master in masters:
            if master.name in self._by_name:
                raise JenkinsConfigError(f"invalid ci.jenkins: master name {master.name!r} is used more than once")
            self._by_name[master.name] = master
        self.start_timeout_s = start_timeout_s
        self.queue_timeout_s = queue_timeout_s
        self.max_poll_s = max_poll_s

    def __iter__(self) -> Iterator[JenkinsMaster]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> JenkinsMaster | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def public(self) -> list[dict[str, Any]]:
        return [m.public() for m in self]


_SECTION_KEYS = {"enabled", "masters", "startTimeoutSeconds", "queueTimeoutSeconds", "maxPollIntervalSeconds"}


def jenkins_masters(config: Mapping[str, Any] | None) -> JenkinsMasters:
    """The masters of a configuration file's `ci.jenkins` section (`config` is the whole parsed file)."""
    ci = (config or {}).get("ci")
    if ci is None:
        return JenkinsMasters([])
    if not isinstance(ci, Mapping):
        raise JenkinsConfigError("invalid ci: must be a mapping")
    for system in sorted(set(ci) - {"jenkins"}):
        # halconfig lists every CI system, disabled by default: a disabled one is fine, an enabled one is not.
        body = ci[system]
        if not isinstance(body, Mapping) or body.get("enabled") is not False:
            raise JenkinsConfigError(f"invalid ci.{system}: not supported (supported: jenkins; or set enabled: false)")
    section = ci.get("jenkins")
    if section is None:
        return JenkinsMasters([])
    if not isinstance(section, Mapping):
        raise JenkinsConfigError("invalid ci.jenkins: must be a mapping")
    problems = [f"ci.jenkins.{key}: unknown key" for key in sorted(set(section) - _SECTION_KEYS)]
    if section.get("enabled", True) is False:
        return JenkinsMasters([])
    timeouts = {
        key: _positive(section, key, default, problems)
        for key, default in (
            ("startTimeoutSeconds", DEFAULT_START_TIMEOUT_S),
            ("queueTimeoutSeconds", DEFAULT_QUEUE_TIMEOUT_S),
            ("maxPollIntervalSeconds", DEFAULT_MAX_POLL_S),
        )
    }
    items = section.get("masters") or []
    masters: list[JenkinsMaster] = []
    if not isinstance(items, list):
        problems.append("ci.jenkins.masters: must be a list")
        items = []
    for index, item in enumerate(items):
        try:
            masters.append(JenkinsMaster.model_validate(item))
        except ValidationError as exc:
            problems.extend(validation_problems(f"ci.jenkins.masters[{index}]", exc))
    if problems:
        raise JenkinsConfigError("invalid ci.jenkins: " + "; ".join(problems))
    return JenkinsMasters(
        masters,
        start_timeout_s=timeouts["startTimeoutSeconds"],
        queue_timeout_s=timeouts["queueTimeoutSeconds"],
        max_poll_s=timeouts["maxPollIntervalSeconds"],
    )


def _positive(section: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(f"ci.jenkins.{key}: must be a positive number of seconds")
        return default
    return float(value)
