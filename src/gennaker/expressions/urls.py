"""`#fromUrl` and friends, safely (orca.md §4.6).

A URL must be http(s) with a dotted host name (no literal IP, no internal suffixes). The name is resolved,
every address must be public (loopback, link-local, private, multicast and reserved ranges are denied by
default, unlike Spinnaker), and the request goes to the checked address itself with the original Host
header and TLS server name, so a second DNS answer cannot redirect it. Redirects are not followed;
responses are bounded in time and size.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from gennaker.expressions.javalike import ExpressionError

Resolver = Callable[[str], list[str]]
DENIED_SUFFIXES = (".spinnaker", ".local", ".localdomain", ".internal")


def system_resolver(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        raise ExpressionError(f"cannot resolve {host}: {exc}") from None


@dataclass
class UrlPolicy:
    allow_private: bool = False
    allow_loopback: bool = False
    denied_networks: list[str] = field(default_factory=list)
    timeout_s: float = 10.0
    max_bytes: int = 1_000_000


class UrlFetcher:
    def __init__(
        self,
        policy: UrlPolicy | None = None,
        resolver: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
    ):
        self.policy = policy or UrlPolicy()
        self.resolver = resolver
        self.transport = transport

    def check(self, url: str) -> tuple[str, str, str]:
        """The (scheme, host, pinned address) of an allowed URL, or an error naming what is refused."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https"):
            raise ExpressionError(f"URL {url} is not allowed: only http and https")
        if not host or "." not in host.strip("."):
            raise ExpressionError(f"URL {url} is not allowed: the host must be a dotted name")
        if host.endswith(DENIED_SUFFIXES):
            raise ExpressionError(f"URL {url} is not allowed: internal host name")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            raise ExpressionError(f"URL {url} is not allowed: a literal IP address")
        addresses = self.resolver(host)
        if not addresses:
            raise ExpressionError(f"URL {url} is not allowed: {host} does not resolve")
        for address in addresses:
            self._check_address(url, ipaddress.ip_address(address))
        return parts.scheme, host, addresses[0]

    def _check_address(self, url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if address.is_loopback and not self.policy.allow_loopback:
            raise ExpressionError(f"URL {url} is not allowed: it resolves to loopback address {address}")
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            raise ExpressionError(f"URL {url} is not allowed: it resolves to {address}")
        if address.is_private and not address.is_loopback and not self.policy.allow_private:
            raise ExpressionError(f"URL {url} is not allowed: it resolves to private address {address}")
        if address.is_reserved:
            raise ExpressionError(f"URL {url} is not allowed: it resolves to reserved address {address}")
        if any(address in ipaddress.ip_network(n, strict=False) for n in self.policy.denied_networks):
            raise ExpressionError(f"URL {url} is not allowed: {address} is in a denied network")

    def text(self, url: str) -> str:
        scheme, host, address = self.check(url)
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit(
            (scheme, f"{literal}:{parts.port}" if parts.port else literal, parts.path or "/", parts.query, "")
        )
        headers = {"Host": parts.netloc}
        try:
            with (
                httpx.Client(transport=self.transport, timeout=self.policy.timeout_s, follow_redirects=False) as client,
                client.stream("GET", pinned, headers=headers, extensions={"sni_hostname": host}) as response,
            ):
                body = _bounded(response.iter_bytes(), self.policy.max_bytes, url)
        except httpx.HTTPError as exc:
            raise ExpressionError(f"fetching {url} failed: {exc}") from None
        if response.status_code >= 300:
            raise ExpressionError(f"fetching {url} failed: HTTP {response.status_code}")
        return body.decode("utf-8", errors="replace")

    def properties(self, url: str) -> dict[str, str]:
        """Java properties: `key=value` or `key: value` lines; `#` and `!` start comments."""
        result: dict[str, str] = {}
        for raw in self.text(url).splitlines():
            line = raw.strip()
            if not line or line[0] in "#!":
                continue
            separators = [i for i in (line.find("="), line.find(":")) if i >= 0]
            cut = min(separators) if separators else len(line)
            result[line[:cut].strip()] = line[cut + 1 :].strip()
        return result


def _bounded(chunks: Iterable[bytes], limit: int, url: str) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body.extend(chunk)
        if len(body) > limit:
            raise ExpressionError(f"{url} returned more than {limit} bytes")
    return bytes(body)
