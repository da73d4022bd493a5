"""The configuration file's `webhook:` section (Orca's `webhook.*` properties, echo-igor.md §4.1).

```yaml
webhook:
  allowedRequestsEnabled: true        # only listed requests may be made
  allowedRequests:                    # let these through the address rules (and, when enabled, only these)
    - {httpMethods: [POST, GET], urlPrefix: "https://ci.corp.example/api/"}
    - {httpMethods: [GET], urlPattern: "https://status\\.corp\\.example/jobs/[0-9]+"}
  defaultRetryStatusCodes: [429]
  connectTimeoutMs: 15000
  readTimeoutMs: 20000
  maxRequestBytes: 1048576
  maxResponseBytes: 1048576
  retryBackoffMs: 10000               # between retries of the webhook call itself
  monitorBackoffMs: 1000              # between status polls (15 s after the first minute)
  preconfigured:
    - {type: notifyRelease, label: Notify release, url: "https://release.example/${parameterValues['env']}", ...}
```

`allowedRequests` may also be written `{enabled: true, list: [...]}`. A section that does not validate stops
startup with a message naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import re2

from gennaker.artifacts.accounts import url_origin

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
STATUS_URL_RESOLUTIONS = ("getMethod", "locationHeader", "webhookResponse")

# Preconfigured-webhook keys that describe the entry rather than configure the stage.
DESCRIPTIVE_KEYS = ("enabled", "label", "description", "type", "parameters", "parameterData", "permissions")
# Stage fields a preconfigured webhook may fix (Orca's PreconfiguredWebhook fields, plus the retry keys).
STAGE_FIELDS = (
    "url",
    "customHeaders",
    "parameterValues",
    "method",
    "payload",
    "failFastStatusCodes",
    "waitForCompletion",
    "waitBeforeMonitor",
    "statusUrlResolution",
    "statusUrlJsonPath",
    "statusJsonPath",
    "progressJsonPath",
    "successStatuses",
    "canceledStatuses",
    "terminalStatuses",
    "retryStatusCodes",
    "webhookRetryStatusCodes",
    "retries",
    "signalCancellation",
    "cancelEndpoint",
    "cancelMethod",
    "cancelPayload",
)
PARAMETER_KEYS = ("name", "label", "description", "type", "defaultValue", "order", "options")
SECTION_KEYS = (
    "preconfigured",
    "allowedRequestsEnabled",
    "allowedRequests",
    "defaultRetryStatusCodes",
    "connectTimeoutMs",
    "readTimeoutMs",
    "maxRequestBytes",
    "maxResponseBytes",
    "retryBackoffMs",
    "monitorBackoffMs",
    "followRedirects",
)
# Orca keys Gennaker does not act on, and why (refused rather than silently ignored).
UNSUPPORTED_KEYS = {
    "trust": "custom trust stores are not supported; install the CA in the system store",
    "identity": "client certificates are not supported",
    "verifyRedirects": "redirects are never followed",
    "insecureSkipHostnameVerification": "TLS verification cannot be turned off",
    "insecureTrustSelfSigned": "TLS verification cannot be turned off",
    "auditLoggingEnabled": "every webhook call is logged at INFO already",
    "validateAccount": "webhook accounts are not supported",
}


class WebhookConfigError(ValueError):
    """The `webhook` section is invalid; the message names the key."""


@dataclass(frozen=True)
class AllowedRequest:
    """One `webhook.allowedRequests` entry: methods, and a URL prefix or a whole-URL pattern."""

    methods: frozenset[str]  # empty: any method
    prefix: str | None = None
    pattern: str | None = None

    def matches(self, method: str, url: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        if self.pattern is not None:
            return re2.fullmatch(self.pattern, url) is not None
        return self.prefix is not None and prefix_matches(self.prefix, url)


def prefix_matches(prefix: str, url: str) -> bool:
    """Whether `url` starts with `prefix` *as a URL*: same scheme, host and port, and the rest of the URL starts
    with the rest of the prefix. `https://api.example.com` does not let `https://api.example.com.evil.org` or
    `https://api.example.com@evil.org` through, as a plain string prefix would."""
    want, got = urlsplit(prefix), urlsplit(url)
    if url_origin(prefix) != url_origin(url) or (want.username, want.password) != (got.username, got.password):
        return False
    rest_wanted = want.path + (f"?{want.query}" if want.query else "")
    rest_got = (got.path or "/") + (f"?{got.query}" if got.query else "")
    return rest_got.startswith(rest_wanted or "/")


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str | None = None
    description: str | None = None
    type: str = "string"
    default_value: str | None = None
    order: int = 0
    options: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Preconfigured:
    """A `webhook.preconfigured` entry: a stage type of its own whose fields users cannot change."""

    type: str
    label: str
    description: str | None
    fields: Mapping[str, Any]  # the stage fields it fixes (non-null ones only)
    parameters: tuple[Parameter, ...] = ()
    parameter_data: Mapping[str, Any] = field(default_factory=dict)
    # Roles per permission, with Orca's rule that a permission absent or empty restricts nothing.
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookSettings:
    preconfigured: tuple[Preconfigured, ...] = ()
    allowed_requests_enabled: bool = False
    allowed_requests: tuple[AllowedRequest, ...] = ()
    default_retry_status_codes: frozenset[int] = frozenset({429})
    connect_timeout_ms: int = 15_000
    read_timeout_ms: int = 20_000
    max_request_bytes: int = 1024 * 1024
    max_response_bytes: int = 1024 * 1024
    retry_backoff_ms: int = 10_000
    monitor_backoff_ms: int = 1_000

    def preset(self, stage_type: str) -> Preconfigured | None:
        return next((p for p in self.preconfigured if p.type == stage_type), None)

    @classmethod
    def from_config(cls, section: Any) -> WebhookSettings:
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise WebhookConfigError("webhook: must be a mapping")
        for key in section:
            if key in UNSUPPORTED_KEYS:
                raise WebhookConfigError(f"webhook.{key}: not supported by Gennaker ({UNSUPPORTED_KEYS[key]})")
            if key not in SECTION_KEYS:
                raise WebhookConfigError(f"webhook.{key}: unknown key")
        if section.get("followRedirects") not in (None, False):
            raise WebhookConfigError("webhook.followRedirects: redirects are never followed; only false is allowed")
        enabled, allowed = _allowed_requests(section)
        presets = _presets(section.get("preconfigured"))
        return cls(
            preconfigured=presets,
            allowed_requests_enabled=enabled,
            allowed_requests=allowed,
            default_retry_status_codes=frozenset(
                _status_codes(section.get("defaultRetryStatusCodes", [429]), "webhook.defaultRetryStatusCodes")
            ),
            connect_timeout_ms=_positive(section, "connectTimeoutMs", 15_000),
            read_timeout_ms=_positive(section, "readTimeoutMs", 20_000),
            max_request_bytes=_positive(section, "maxRequestBytes", 1024 * 1024),
            max_response_bytes=_positive(section, "maxResponseBytes", 1024 * 1024),
            retry_backoff_ms=_positive(section, "retryBackoffMs", 10_000),
            monitor_backoff_ms=_positive(section, "monitorBackoffMs", 1_000),
        )


def _positive(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WebhookConfigError(f"webhook.{key}: must be a whole number above 0, not {value!r}")
    return value


def _status_codes(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
    ):
        raise WebhookConfigError(f"{where}: must be a list of HTTP status codes")
    return list(value)


def _allowed_requests(section: Mapping[str, Any]) -> tuple[bool, tuple[AllowedRequest, ...]]:
    raw = section.get("allowedRequests")
    enabled = section.get("allowedRequestsEnabled", False)
    where = "webhook.allowedRequests"
    if isinstance(raw, Mapping):  # the `{enabled, list}` form
        unknown = set(raw) - {"enabled", "list"}
        if unknown:
            raise WebhookConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
        if "enabled" in raw and "allowedRequestsEnabled" in section:
            raise WebhookConfigError(f"{where}.enabled: also set as webhook.allowedRequestsEnabled; keep one")
        enabled = raw.get("enabled", enabled)
        raw, where = raw.get("list"), f"{where}.list"
    if not isinstance(enabled, bool):
        raise WebhookConfigError("webhook.allowedRequestsEnabled: must be true or false")
    if raw is None:
        return enabled, ()
    if not isinstance(raw, list):
        raise WebhookConfigError(f"{where}: must be a list of {{httpMethods, urlPrefix | urlPattern}}")
    return enabled, tuple(_allowed_request(entry, f"{where}[{index}]") for index, entry in enumerate(raw))


def _allowed_request(entry: Any, where: str) -> AllowedRequest:
    if not isinstance(entry, Mapping):
        raise WebhookConfigError(f"{where}: must be a mapping")
    unknown = set(entry) - {"httpMethods", "urlPrefix", "urlPattern"}
    if unknown:
        raise WebhookConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
    methods = entry.get("httpMethods") or []
    if not isinstance(methods, list) or not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods):
        raise WebhookConfigError(f"{where}.httpMethods: must be a list of HTTP methods ({', '.join(HTTP_METHODS)})")
    prefix, pattern = entry.get("urlPrefix"), entry.get("urlPattern")
    if (prefix is None) == (pattern is None):
        raise WebhookConfigError(f"{where}: needs exactly one of urlPrefix and urlPattern")
    if prefix is not None:
        parts = urlsplit(str(prefix))
        if not isinstance(prefix, str) or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise WebhookConfigError(f"{where}.urlPrefix: must be an http(s) URL with a host, not {prefix!r}")
        return AllowedRequest(frozenset(m.upper() for m in methods), prefix=prefix)
    if not isinstance(pattern, str):
        raise WebhookConfigError(f"{where}.urlPattern: must be a regular expression")
    try:
        re2.compile(pattern)
    except re2.error as error:
        raise WebhookConfigError(f"{where}.urlPattern: not a valid regular expression: {error}") from None
    return AllowedRequest(frozenset(m.upper() for m in methods), pattern=pattern)


TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


def _presets(raw: Any) -> tuple[Preconfigured, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WebhookConfigError("webhook.preconfigured: must be a list")
    found: list[Preconfigured] = []
    for index, entry in enumerate(raw):
        where = f"webhook.preconfigured[{index}]"
        preset = _preset(entry, where)
        if preset is None:
            continue
        if any(p.type == preset.type for p in found):
            raise WebhookConfigError(f"{where}.type: {preset.type!r} is already the type of another entry")
        found.append(preset)
    return tuple(found)


def _preset(entry: Any, where: str) -> Preconfigured | None:
    if not isinstance(entry, Mapping):
        raise WebhookConfigError(f"{where}: must be a mapping")
    for key in entry:
        if key not in DESCRIPTIVE_KEYS and key not in STAGE_FIELDS:
            raise WebhookConfigError(f"{where}.{key}: unknown key")
    kind = entry.get("type")
    if not isinstance(kind, str) or not TYPE_NAME.fullmatch(kind):
        raise WebhookConfigError(f"{where}.type: must be a stage type name (letters, digits, '.', '-', '_')")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise WebhookConfigError(f"{where}.enabled: must be true or false")
    if not enabled:
        return None
    fields = {key: entry[key] for key in STAGE_FIELDS if entry.get(key) is not None}
    _check_fields(fields, where)
    label = entry.get("label")
    description = entry.get("description")
    for key, value in (("label", label), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise WebhookConfigError(f"{where}.{key}: must be text")
    parameter_data = entry.get("parameterData") or {}
    if not isinstance(parameter_data, Mapping):
        raise WebhookConfigError(f"{where}.parameterData: must be a mapping")
    return Preconfigured(
        type=kind,
        label=label or kind,
        description=description,
        fields=fields,
        parameters=_parameters(entry.get("parameters"), f"{where}.parameters"),
        parameter_data=dict(parameter_data),
        permissions=_permissions(entry.get("permissions"), f"{where}.permissions"),
    )


def _check_fields(fields: Mapping[str, Any], where: str) -> None:
    for key in ("method", "cancelMethod"):
        if key in fields and (not isinstance(fields[key], str) or fields[key].upper() not in HTTP_METHODS):
            raise WebhookConfigError(f"{where}.{key}: must be one of {', '.join(HTTP_METHODS)}")
    if "statusUrlResolution" in fields and fields["statusUrlResolution"] not in STATUS_URL_RESOLUTIONS:
        raise WebhookConfigError(f"{where}.statusUrlResolution: must be one of {', '.join(STATUS_URL_RESOLUTIONS)}")
    for key in ("failFastStatusCodes", "retryStatusCodes", "webhookRetryStatusCodes"):
        if key in fields:
            _status_codes(fields[key], f"{where}.{key}")
    for key in ("url", "cancelEndpoint", "statusUrlJsonPath", "statusJsonPath", "progressJsonPath"):
        if key in fields and not isinstance(fields[key], str):
            raise WebhookConfigError(f"{where}.{key}: must be text")
    for key in ("waitForCompletion", "signalCancellation"):
        if key in fields and not isinstance(fields[key], bool):
            raise WebhookConfigError(f"{where}.{key}: must be true or false")
    headers = fields.get("customHeaders")
    if headers is not None and not (isinstance(headers, Mapping) and all(map(_header_value, headers.values()))):
        raise WebhookConfigError(f"{where}.customHeaders: must map header names to a value or a list of values")
    values = fields.get("parameterValues")
    if values is not None and not isinstance(values, Mapping):
        raise WebhookConfigError(f"{where}.parameterValues: must be a mapping")


def _header_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _parameters(raw: Any, where: str) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WebhookConfigError(f"{where}: must be a list of {{name, label, description, type, defaultValue}}")
    found: list[Parameter] = []
    for index, entry in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise WebhookConfigError(f"{here}: must be a mapping")
        unknown = set(entry) - set(PARAMETER_KEYS)
        if unknown:
            raise WebhookConfigError(f"{here}.{sorted(unknown)[0]}: unknown key")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise WebhookConfigError(f"{here}.name: is required")
        if any(p.name == name for p in found):
            raise WebhookConfigError(f"{here}.name: {name!r} is already the name of another parameter")
        default = entry.get("defaultValue")
        options = entry.get("options") or []
        if not isinstance(options, list):
            raise WebhookConfigError(f"{here}.options: must be a list")
        order = entry.get("order", index)
        if isinstance(order, bool) or not isinstance(order, int):
            raise WebhookConfigError(f"{here}.order: must be a whole number")
        found.append(
            Parameter(
                name=name,
                label=None if entry.get("label") is None else str(entry["label"]),
                description=None if entry.get("description") is None else str(entry["description"]),
                type=str(entry.get("type") or "string"),
                default_value=None if default is None else str(default),
                order=order,
                options=tuple(options),
            )
        )
    return tuple(found)


def _permissions(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise WebhookConfigError(f"{where}: must map READ and WRITE to lists of roles")
    found: dict[str, tuple[str, ...]] = {}
    for key, roles in raw.items():
        if key not in ("READ", "WRITE"):
            raise WebhookConfigError(f"{where}.{key}: only READ and WRITE are permissions")
        if roles is None:
            continue
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise WebhookConfigError(f"{where}.{key}: must be a list of roles")
        if roles:
            found[key] = tuple(roles)
    return found
