"""Connect guards: an optional check, before any connection, of where a fetch is about to go.

Artifact URLs come from pipeline authors, so an operator may want to stop fetches reaching internal
services (`public_only_guard`, which reuses the expression helpers' URL policy), and tests want proof that
nothing leaves the machine (`loopback_only_guard`). Without a guard every address is allowed, like
Spinnaker. The check happens before connecting; the address is not pinned for the connection itself.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gennaker.expressions.urls import UrlPolicy

Resolver = Callable[[str], list[str]]
ConnectGuard = Callable[[str], None]
"""Called with every URL (http, https, ssh, git or file) before it is contacted; raises `FetchProblem` to refuse."""


class FetchProblem(Exception):
    """Why a fetch failed, without saying which artifact (the fetcher adds that)."""


def public_only_guard(policy: UrlPolicy | None = None, resolver: Resolver | None = None) -> ConnectGuard:
    """Refuse local files and hosts that resolve to private, loopback, link-local or reserved addresses
    (or whatever `policy` allows); literal IP addresses and internal name suffixes are refused too."""
    from gennaker.expressions.javalike import ExpressionError  # imported late: expressions need not load
    from gennaker.expressions.urls import UrlFetcher, UrlPolicy, system_resolver

    checker = UrlFetcher(policy or UrlPolicy(), resolver or system_resolver)

    def guard(url: str) -> None:
        scheme, host = _scheme_and_host(url)
        if scheme == "file" or not host:
            raise FetchProblem(f"fetching {url} is not allowed: local files are refused")
        try:
            checker.check(f"https://{host}/")
        except ExpressionError as exc:
            raise FetchProblem(str(exc).replace(f"https://{host}/", url)) from None

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
