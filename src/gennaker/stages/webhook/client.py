"""Outbound webhook requests: where they may go, and how they are sent.

A webhook URL comes from a pipeline, so it follows the rules of the expression URL helpers and of artifact
fetches (orca.md §4.6): http(s) only, and by default only public addresses — loopback, private, link-local
(cloud metadata at 169.254.169.254), shared, reserved and multicast ranges and internal host names are
refused. The host name is resolved once, every address is checked, and the request goes to the checked
address with the original Host header and TLS server name, so a second DNS answer cannot send it elsewhere.

Two settings widen that: `outbound.allowNetworks` / `allowHosts` (shared with artifact fetches) and
`webhook.allowedRequests`, whose entries (methods and a URL prefix or pattern) let matching requests through
whatever address they reach. With `webhook.allowedRequestsEnabled`, a request no entry matches is refused
(Orca's allow-list). Every check happens before any connection is opened. Redirects are not followed, proxies
from the environment are not used, and request and response sizes are bounded.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from gennaker.artifacts.fetchers import OutboundPolicy
from gennaker.artifacts.fetchers.guard import DENIED_SUFFIXES
from gennaker.stages.webhook.config import HTTP_METHODS, WebhookSettings

log = logging.getLogger(__name__)

Resolver = Callable[[str], list[str]]
# Headers a pipeline may not set: Orca's deny list (they would let a webhook impersonate a user to Spinnaker
# services), and those the client itself owns.
DENIED_HEADERS = frozenset(
    {
        "x-spinnaker-user",
        "x-spinnaker-account",
        "x-spinnaker-user-origin",
        "x-spinnaker-request-id",
        "x-spinnaker-execution-id",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
    }
)


class Refused(Exception):
    """The request may not be made (policy, a bad URL or method); never retried."""


class Unresolved(Exception):
    """The host name did not resolve; retried, as Orca retries unknown hosts."""


class RequestFailed(Exception):
    """The request was attempted and failed without an HTTP response."""

    def __init__(self, message: str, *, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


def system_resolver(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        raise Unresolved(f"cannot resolve {host}: {exc}") from None


@dataclass(frozen=True)
class Target:
    """Where to connect: the URL (with the checked address in place of the name), extra headers, extensions."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # the first value of each header, names as the server sent them
    body: Any  # parsed JSON, else text; None when empty

    @property
    def status_name(self) -> str:
        """Spring's name for the status (`OK`, `NOT_FOUND`), which Orca stores as `statusCode`."""
        try:
            return HTTPStatus(self.status).name
        except ValueError:
            return str(self.status)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class WebhookClient:
    def __init__(
        self,
        settings: WebhookSettings,
        outbound: OutboundPolicy | None = None,
        resolver: Resolver | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings = settings
        self.outbound = outbound or OutboundPolicy()
        self.resolver = resolver or system_resolver
        self.transport = transport
        self._tls: ssl.SSLContext | None = None  # built on first use: loading the CA bundle takes tens of ms

    def tls(self) -> ssl.SSLContext:
        """The verifying TLS context every request shares (a client per request would load the CAs again)."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    # -- where a request may go ----------------------------------------------------------------------
    def check(self, method: str, url: str) -> Target:
        """The target of an allowed request; raises `Refused` or `Unresolved` before anything is contacted."""
        method = method.upper()
        if method not in HTTP_METHODS:
            raise Refused(f"'{method}' is not an HTTP method ({', '.join(HTTP_METHODS)})")
        if "${" in url:
            raise Refused(f"the URL {url} holds an expression that did not evaluate (see expressionEvaluationSummary)")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            host = (parts.hostname or "").rstrip(".")
            parts.port  # noqa: B018 (a malformed port raises here)
        except ValueError:
            raise Refused(f"{url} is not a valid URL") from None
        if scheme not in ("http", "https") or not host:
            raise Refused(f"{url} is not allowed: only http and https URLs with a host")
        listed = any(entry.matches(method, url) for entry in self.settings.allowed_requests)
        if self.settings.allowed_requests_enabled and not listed:
            raise Refused(f"{method} {url} is not allowed: no webhook.allowedRequests entry lets it through")
        if listed or host in self.outbound.allow_hosts:
            return Target(url)
        try:
            addresses = [ipaddress.ip_address(host)]
            literal = True
        except ValueError:
            literal = False
            if host.endswith(DENIED_SUFFIXES) or "." not in host:
                raise Refused(f"{url} is not allowed: {host} is an internal host name") from None
            addresses = [ipaddress.ip_address(a) for a in self.resolver(host)]
        if not addresses:
            raise Unresolved(f"{host} does not resolve")
        for address in addresses:
            public = address.is_global and not address.is_multicast
            if not public and not any(address in network for network in self.outbound.allow_networks):
                raise Refused(
                    f"{url} is not allowed: {host} is the non-public address {address} (list the URL in "
                    "webhook.allowedRequests, or its network in outbound.allowNetworks)"
                )
        if literal:
            return Target(url)
        return _pinned(parts, host, addresses[0])

    # -- sending -------------------------------------------------------------------------------------
    def send(self, method: str, url: str, headers: Any = None, payload: Any = None) -> Response:
        """Make the request; a response of any status is returned, failures without one raise."""
        method = method.upper()
        target = self.check(method, url)
        content, content_type = encode_payload(payload)
        if content is not None and len(content) > self.settings.max_request_bytes:
            raise Refused(
                f"the payload is {len(content)} bytes, more than webhook.maxRequestBytes "
                f"({self.settings.max_request_bytes})"
            )
        header_list = request_headers(headers)
        if content_type and not any(name.lower() == "content-type" for name, _ in header_list):
            header_list.append(("Content-Type", content_type))
        header_list += list(target.headers.items())
        connect = self.settings.connect_timeout_ms / 1000
        read = self.settings.read_timeout_ms / 1000
        started = time.monotonic()
        try:
            with (
                httpx.Client(
                    transport=self.transport,
                    verify=self.tls(),
                    timeout=httpx.Timeout(read, connect=connect, pool=connect),
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    method, target.url, headers=header_list, content=content, extensions=dict(target.extensions)
                ) as answer,
            ):
                raw = self._bounded(answer, url)
                response = Response(answer.status_code, first_values(answer.headers.raw), parse_body(raw, answer))
        except httpx.TimeoutException as exc:
            raise RequestFailed(f"{method} {url} timed out ({type(exc).__name__})", timeout=True) from None
        except httpx.HTTPError as exc:
            if _name_not_resolved(exc):
                raise Unresolved(f"cannot resolve the host of {url}") from None
            raise RequestFailed(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None
        log.info("webhook %s %s: HTTP %s in %.0f ms", method, url, response.status, (time.monotonic() - started) * 1000)
        return response

    def _bounded(self, answer: httpx.Response, url: str) -> bytes:
        limit = self.settings.max_response_bytes
        body = bytearray()
        for chunk in answer.iter_bytes():
            body.extend(chunk)
            if len(body) > limit:
                raise RequestFailed(f"the response of {url} is larger than webhook.maxResponseBytes ({limit})")
        return bytes(body)


def _pinned(parts: Any, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Target:
    literal = f"[{address}]" if address.version == 6 else str(address)
    userinfo = parts.netloc.rpartition("@")[0]
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{userinfo}@{literal}{port}" if userinfo else f"{literal}{port}"
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    shown_host = f"[{host}]" if ":" in host else host
    extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return Target(url, {"Host": f"{shown_host}{port}"}, extensions)


def _name_not_resolved(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def request_headers(custom: Any) -> list[tuple[str, str]]:
    """`customHeaders` (name → value or list of values) as header pairs, without the denied ones."""
    if not isinstance(custom, Mapping):
        return []
    pairs: list[tuple[str, str]] = []
    for name, value in custom.items():
        if str(name).lower() in DENIED_HEADERS or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        pairs += [(str(name), str(v)) for v in values if v is not None]
    return pairs


def encode_payload(payload: Any) -> tuple[bytes | None, str | None]:
    """The body and its default content type: JSON for structured values; text as it is (JSON if it parses)."""
    if payload is None:
        return None, None
    if isinstance(payload, str):
        try:
            json.loads(payload)
        except ValueError:
            return payload.encode(), "text/plain; charset=utf-8"
        return payload.encode(), "application/json"
    return json.dumps(payload).encode(), "application/json"


def first_values(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in raw:
        key = name.decode("latin-1")
        if key.lower() not in seen:
            seen.add(key.lower())
            found[key] = value.decode("latin-1")
    return found


def parse_body(raw: bytes, answer: httpx.Response) -> Any:
    if not raw:
        return None
    try:
        text = raw.decode(answer.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) or "json" in answer.headers.get("content-type", "").lower():
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
