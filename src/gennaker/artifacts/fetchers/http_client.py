"""The one HTTP GET every HTTP-based fetcher uses: guarded, bounded, with explicit redirect handling.

Redirects are followed by hand (at most five) so that every hop passes the connect guard and credentials
are only sent to the origin they were configured for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from gennaker.artifacts.accounts import ArtifactAccount
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem

ClientFactory = Callable[[], httpx.Client]
MAX_REDIRECTS = 5


def default_client_factory(timeout_s: float = 60.0) -> ClientFactory:
    """Plain httpx clients with a timeout; redirects are handled by `HttpGetter`."""

    def make() -> httpx.Client:
        return httpx.Client(timeout=timeout_s, follow_redirects=False)

    return make


class HttpGetter:
    """GET a URL to bytes; a non-2xx answer, a refused address or an oversized body is a `FetchProblem`."""

    def __init__(self, client_factory: ClientFactory, guard: ConnectGuard | None, max_bytes: int):
        self.client_factory = client_factory
        self.guard = guard
        self.max_bytes = max_bytes

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> bytes:
        """The body of `url`; `headers` and `auth` carry credentials and are dropped when a redirect leaves
        the original origin."""
        origin = _origin(url)
        current = url
        with self.client_factory() as client:
            for _ in range(MAX_REDIRECTS + 1):
                same_origin = _origin(current) == origin
                location = self._get_once(
                    client,
                    current,
                    headers=headers if same_origin else _without_credentials(headers),
                    auth=auth if same_origin else None,
                    params=params if current == url else None,
                )
                if isinstance(location, bytes):
                    return location
                current = urljoin(current, location)
        raise FetchProblem(f"GET {redact_url(url)} was redirected more than {MAX_REDIRECTS} times")

    def _get_once(
        self,
        client: httpx.Client,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> bytes | str:
        """The body, or the `Location` to go to next."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchProblem(f"only http and https URLs can be fetched, not {redact_url(url)}")
        if self.guard is not None:
            self.guard(url)
        try:
            with client.stream(
                "GET", url, headers=dict(headers or {}), auth=auth, params=params, follow_redirects=False
            ) as response:
                if response.is_redirect and response.headers.get("location"):
                    return response.headers["location"]
                if not response.is_success:
                    raise FetchProblem(f"GET {redact_url(url)} returned HTTP {response.status_code}")
                return self._bounded(response, url)
        except httpx.HTTPError as exc:
            raise FetchProblem(f"GET {redact_url(url)} failed: {type(exc).__name__}: {exc}") from None

    def _bounded(self, response: httpx.Response, url: str) -> bytes:
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                raise FetchProblem(f"GET {redact_url(url)} returned more than {self.max_bytes} bytes")
        return bytes(body)


def require_credential_host(account: ArtifactAccount, url: str) -> None:
    """Refuse to fetch `url` with an account whose credentials do not belong to that origin."""
    if not account.has_credentials() or account.may_send_credentials_to(url):
        return
    raise FetchProblem(
        f"the credentials of account {account.name} may only be sent to {', '.join(account.credential_hosts())}"
        f", not to {redact_url(url)}"
    )


def redact_url(url: str) -> str:
    """The URL without any `user:password@` part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _without_credentials(headers: Mapping[str, str] | None) -> dict[str, str]:
    secret = {"authorization", "private-token", "proxy-authorization", "cookie"}
    return {k: v for k, v in (headers or {}).items() if k.lower() not in secret}
