"""Connect guards: a check, before any connection, of where a fetch is about to go.

Artifact URLs come from pipeline authors, so by default fetches may reach only public addresses
(`public_only_guard`): not loopback, private, link-local (cloud metadata at 169.254.169.254), shared or
reserved ranges, nor internal name suffixes. The configuration's `outbound` section lets chosen networks and
hosts through (`OutboundPolicy`). Tests use `loopback_only_guard` for proof that nothing leaves the machine.
The check happens before connecting; the address is not pinned for the connection itself, so a host name
whose DNS answer changes between the check and the connection is not caught (documented in security.md).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DENIED_SUFFIXES = (".spinnaker", ".local", ".localdomain", ".internal", ".localhost")
ConnectGuard = Callable[[str], None]
"""Called with every URL (http, https, ssh, git or file) before it is contacted; raises `FetchProblem` to refuse."""


class FetchProblem(Exception):
    """Why a fetch failed, without saying which artifact (the fetcher adds that)."""


class OutboundConfigError(ValueError):
    """The `outbound` configuration section is invalid; the message names the key."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Where fetches made for pipelines may go besides public addresses (`outbound:` in the configuration)."""

    allow_networks: tuple[Network, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    local_git_paths: tuple[Path, ...] = ()

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> OutboundPolicy:
        """`allowNetworks` (CIDRs), `allowHosts` (host names) and `localGitPaths` (directories)."""
        section = section or {}
        if not isinstance(section, Mapping):
            raise OutboundConfigError("outbound: must be a mapping")
        unknown = set(section) - {"allowNetworks", "allowHosts", "localGitPaths"}
        if unknown:
            raise OutboundConfigError(f"outbound.{sorted(unknown)[0]}: unknown key")
        networks = []
        for index, text in enumerate(_strings(section, "allowNetworks")):
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise OutboundConfigError(f"outbound.allowNetworks[{index}]: {text!r} is not a network") from None
        return cls(
            allow_networks=tuple(networks),
            allow_hosts=frozenset(h.lower().rstrip(".") for h in _strings(section, "allowHosts")),
            local_git_paths=tuple(Path(p).expanduser() for p in _strings(section, "localGitPaths")),
        )


def _strings(section: Mapping[str, Any], key: str) -> list[str]:
    values = section.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise OutboundConfigError(f"outbound.{key}: must be a list of strings")
    return values


def public_only_guard(policy: OutboundPolicy | None = None, resolver: Resolver | None = None) -> ConnectGuard:
    """Refuse local files, internal name suffixes and hosts with any address that is not public, unless the
    policy allows the host or every such address."""
    policy = policy or OutboundPolicy()
    resolve = resolver or _resolve

    def guard(url: str) -> None:
        scheme, host = _scheme_and_host(url)
        if scheme == "file" or not host:
            raise FetchProblem(f"fetching {url} is not allowed: local files are refused")
        host = host.rstrip(".")
        if host in policy.allow_hosts:
            return
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            if host.endswith(DENIED_SUFFIXES) or "." not in host:
                raise FetchProblem(f"fetching {url} is not allowed: {host} is an internal host name") from None
            addresses = [ipaddress.ip_address(a) for a in resolve(host)]
        if not addresses:
            raise FetchProblem(f"fetching {url} is not allowed: {host} does not resolve")
        for address in addresses:
            public = address.is_global and not address.is_multicast
            if not public and not any(address in network for network in policy.allow_networks):
                raise FetchProblem(
                    f"fetching {url} is not allowed: {host} is the non-public address {address} "
                    "(outbound.allowNetworks lets chosen networks through)"
                )

    return guard


def loopback_only_guard(resolver: Resolver | None = None) -> ConnectGuard:
    """Allow only local files and hosts whose every address is a loopback address."""

    def guard(url: str) -> None:
        scheme, host = _scheme_and_host(url)
        if scheme == "file" or not host:
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = [ipaddress.ip_address(a) for a in (resolver or _resolve)(host)]
        if not addresses or not all(a.is_loopback for a in addresses):
            raise FetchProblem(f"fetching {url} is not allowed: {host} is not a loopback address")

    return guard


def _scheme_and_host(url: str) -> tuple[str, str]:
    """Scheme and host of a URL, including git's `user@host:path` form; local paths are `file`."""
    if "://" not in url:
        head = url.split("/", 1)[0]
        if ":" in head and not url.startswith("/"):
            return "ssh", head.split("@")[-1].split(":")[0].lower()
        return "file", ""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def _resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        raise FetchProblem(f"cannot resolve {host}: {exc}") from None
