"""A Docker Registry HTTP API v2 client: repositories, tags and manifest digests (echo-igor.md §7.2).

Every request passes the connect guard first (the configuration's `outbound` section decides which private
networks a registry may be on). Authentication follows the registry: Basic credentials are sent to the
registry's own origin; on a 401 with a `Bearer realm=...,service=...,scope=...` challenge a token is fetched
from the realm (with the account's credentials only where `DockerRegistryAccount` allows them), cached per
scope until it expires, and the request is retried once. Redirects are followed by hand, five at most, each
hop guarded, and credentials never leave the origin they belong to. Bodies are size-capped.

Failures are `RegistryError`s whose message names the account, the request and what went wrong, and whose
`incident` says what kind of failure it is (for logging a failure once, not once per poll).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx

from gennaker.artifacts.accounts import url_origin
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.triggers.docker.accounts import DockerRegistryAccount

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MAX_LIST_BYTES = 16 * 1024 * 1024  # one page of tags or repositories
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024
MAX_PAGES = 10_000
MAX_REDIRECTS = 5
DEFAULT_TOKEN_LIFETIME_S = 60.0  # the token specification's default `expires_in`
USER_AGENT = "Gennaker"
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)')
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)

ClientFactory = Callable[[DockerRegistryAccount], httpx.Client]


class RegistryError(Exception):
    """A registry call failed. `incident` is its kind, e.g. `http-500`, `auth`, `timeout`, `connect`."""

    def __init__(self, message: str, incident: str):
        super().__init__(message)
        self.incident = incident


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str  # "bearer", "basic", ...
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="https://auth/token",service="registry",scope="repository:a/b:pull"` → its parts."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme.lower(), params)


def default_client_factory(account: DockerRegistryAccount) -> httpx.Client:
    timeout = account.clientTimeoutMillis / 1000
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        verify=not account.insecureRegistry,
        headers={"User-Agent": USER_AGENT, "Docker-Distribution-API-Version": "registry/2.0"},
    )


@dataclass
class _Token:
    value: str
    expires_at: float


class RegistryClient:
    """Calls one account's registry. Safe to share between the pollers of that account."""

    def __init__(
        self,
        account: DockerRegistryAccount,
        guard: ConnectGuard | None,
        client_factory: ClientFactory = default_client_factory,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.account = account
        self.guard = guard
        self.clock = clock
        self._client_factory = client_factory
        self._http: httpx.Client | None = None  # made on the first request: the scheduler builds clients it drops
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    @property
    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = self._client_factory(self.account)
            return self._http

    # -- the calls ----------------------------------------------------------------------------------
    def repositories(self) -> list[str]:
        """The account's `repositories`, else the registry's catalog."""
        if self.account.repositories:
            return list(self.account.repositories)
        return self.catalog()

    def catalog(self) -> list[str]:
        """Every repository the registry lists in `/v2/_catalog` (paginated)."""
        found: list[str] = []
        for page in self._pages(f"/v2/_catalog?n={self.account.paginateSize}", "registry:catalog:*", "catalog"):
            found += self._strings(page, "repositories", "the catalog")
        return list(dict.fromkeys(found))

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` (paginated), in the registry's order."""
        path = f"/v2/{_path(repository)}/tags/list?n={self.account.paginateSize}"
        found: list[str] = []
        for page in self._pages(path, _pull(repository), f"the tags of {repository}"):
            found += self._strings(page, "tags", f"the tags of {repository}")
        return list(dict.fromkeys(found))

    def digest(self, repository: str, tag: str) -> str | None:
        """The `Docker-Content-Digest` of `repository:tag` (what a pull resolves: an index for multi-platform
        images), or None when the tag no longer exists. Registries that do not answer HEAD with the digest get a
        GET, and the digest is computed from the manifest's bytes."""
        path = f"/v2/{_path(repository)}/manifests/{quote(tag, safe='')}"
        what = f"the manifest of {repository}:{tag}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        with self._request("HEAD", path, _pull(repository), what, headers) as response:
            if response.status_code == 404:
                return None
            if response.is_success and response.headers.get("docker-content-digest"):
                return str(response.headers["docker-content-digest"])
            if response.status_code not in (200, 405):
                raise self._status_error("HEAD", path, what, response)
        with self._request("GET", path, _pull(repository), what, headers) as response:
            if response.status_code == 404:
                return None
            if not response.is_success:
                raise self._status_error("GET", path, what, response)
            header = response.headers.get("docker-content-digest")
            body = self._read(response, MAX_MANIFEST_BYTES, "GET", path)
        return str(header) if header else "sha256:" + hashlib.sha256(body).hexdigest()

    def digests(self, repository: str, tags: list[str]) -> dict[str, str | RegistryError | None]:
        """`digest` of each tag, `digestConcurrency` requests at a time; a failure is returned, not raised."""

        def one(tag: str) -> str | RegistryError | None:
            try:
                return self.digest(repository, tag)
            except RegistryError as error:
                return error

        workers = min(self.account.digestConcurrency, len(tags))
        if workers <= 1:
            return {tag: one(tag) for tag in tags}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gennaker-registry") as pool:
            return dict(zip(tags, pool.map(one, tags), strict=True))

    # -- plumbing -----------------------------------------------------------------------------------
    def _pages(self, first: str, scope: str, what: str) -> Iterator[Mapping[str, Any]]:
        """Each JSON page of a paginated list, following `Link: <...>; rel="next"`."""
        path: str | None = first
        seen: set[str] = set()
        while path is not None:
            if path in seen or len(seen) >= MAX_PAGES:
                raise RegistryError(self._prefix(f"GET {path}: the pagination of {what} does not end"), "protocol")
            seen.add(path)
            with self._request("GET", path, scope, what, {"Accept": "application/json"}) as response:
                if not response.is_success:
                    raise self._status_error("GET", path, what, response)
                body = self._read(response, MAX_LIST_BYTES, "GET", path)
                path = self._next_page(response.headers.get_list("link"), path)
            try:
                page = json.loads(body)
            except ValueError:
                raise RegistryError(self._prefix(f"GET {first}: {what} is not JSON"), "protocol") from None
            if not isinstance(page, Mapping):
                raise RegistryError(self._prefix(f"GET {first}: {what} is not a JSON object"), "protocol")
            yield page

    def _next_page(self, links: list[str], current: str) -> str | None:
        targets = [m.group(1) for link in links for m in _LINK_NEXT.finditer(link)]
        if not targets:
            return None
        if len(targets) > 1:
            raise RegistryError(self._prefix(f"GET {current}: more than one next-page Link"), "protocol")
        parts = urlsplit(targets[0])  # an absolute URL is allowed; only its path and query are used
        base_path = urlsplit(self.account.base_url).path
        path = parts.path if not base_path or not parts.path.startswith(base_path) else parts.path[len(base_path) :]
        if not path.startswith("/v2/"):
            message = f"GET {current}: the next-page Link {targets[0]!r} is not under /v2/"
            raise RegistryError(self._prefix(message), "protocol")
        return path + (f"?{parts.query}" if parts.query else "")

    def _request(self, method: str, path: str, scope: str, what: str, headers: Mapping[str, str]) -> _Response:
        """Send with the best credentials known for `scope`; on a Bearer challenge get a token and retry once."""
        url = self.account.base_url + path
        response = self._send(method, url, dict(headers), self._authorization(scope))
        if response.status_code not in (400, 401):
            return _Response(response)
        header = response.headers.get("www-authenticate")
        if response.status_code == 400 and not (header and header.lower().startswith("bearer")):
            return _Response(response)
        response.close()
        if not header:
            raise RegistryError(self._prefix(f"{method} {path}: HTTP 401 without a WWW-Authenticate challenge"), "auth")
        challenge = parse_challenge(header)
        if challenge.scheme == "basic":
            raise RegistryError(self._prefix(self._basic_refused(method, path)), "auth")
        if challenge.scheme != "bearer":
            raise RegistryError(
                self._prefix(f"{method} {path}: unsupported authentication scheme {challenge.scheme!r}"), "auth"
            )
        with self._lock:
            self._tokens.pop(scope, None)
        token = self._token(challenge, scope)
        response = self._send(method, url, dict(headers), f"Bearer {token}")
        if response.status_code == 401:
            response.close()
            with self._lock:
                self._tokens.pop(scope, None)
            realm = _origin_text(challenge.params["realm"])
            raise RegistryError(self._prefix(f"{method} {path}: HTTP 401 with the token from {realm}"), "auth")
        return _Response(response)

    def _basic_refused(self, method: str, path: str) -> str:
        if self.account.basic_auth() is None:
            return f"{method} {path}: HTTP 401: the registry needs credentials (username and password)"
        return f"{method} {path}: HTTP 401: the registry refused the credentials of user {self.account.username}"

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            token = self._tokens.get(scope)
        if token is not None and token.expires_at > self.clock():
            return f"Bearer {token.value}"
        credentials = self.account.basic_auth()
        return _basic(credentials) if credentials is not None else None

    def _token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm") or ""
        if urlsplit(realm).scheme not in ("http", "https") or not urlsplit(realm).hostname:
            raise RegistryError(self._prefix(f"the Bearer challenge names no usable realm ({realm!r})"), "auth")
        query = {k: v for k, v in (("service", challenge.params.get("service")),) if v}
        query["scope"] = challenge.params.get("scope") or scope
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        credentials = self.account.basic_auth()
        with_credentials = credentials is not None and self.account.may_send_credentials_to_token_service(realm)
        authorization = _basic(credentials) if with_credentials and credentials is not None else None
        where = _origin_text(realm)
        response = self._send("GET", url, {"Accept": "application/json"}, authorization, credential_origin=realm)
        try:
            if not response.is_success:
                hint = ""
                if credentials is not None and not with_credentials and response.status_code in (401, 403):
                    hint = (
                        f"; the account's credentials were not sent there because {where} is not the registry's"
                        " host: list it in tokenHosts to allow it"
                    )
                raise RegistryError(
                    self._prefix(f"the token service {where} answered HTTP {response.status_code}{hint}"), "auth"
                )
            body = self._read(response, MAX_TOKEN_BYTES, "GET", where)
        finally:
            response.close()
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        token = None
        if isinstance(answer, Mapping):
            token = next((answer[k] for k in ("token", "access_token", "bearer_token") if answer.get(k)), None)
        if not isinstance(token, str):
            raise RegistryError(self._prefix(f"the token service {where} returned no token"), "auth")
        lifetime = answer.get("expires_in") if isinstance(answer, Mapping) else None
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_TOKEN_LIFETIME_S
        with self._lock:
            self._tokens[scope] = _Token(token, self.clock() + max(seconds - 5, 1))
        return token

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        credential_origin: str | None = None,
    ) -> httpx.Response:
        """One request, following redirects by hand; `authorization` only goes to its own origin (the
        registry's, or `credential_origin`'s)."""
        origin = url_origin(credential_origin or self.account.base_url)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check(current)
            sent = dict(headers)
            if authorization and url_origin(current) == origin:
                sent["Authorization"] = authorization
            try:
                request = self._client.build_request(method, current, headers=sent)
                response = self._client.send(request, stream=True, follow_redirects=False)
            except httpx.TimeoutException:
                timeout = self.account.clientTimeoutMillis / 1000
                raise RegistryError(
                    self._prefix(f"{method} {_path_of(current)}: no answer within {timeout:g}s"), "timeout"
                ) from None
            except httpx.HTTPError as exc:
                raise RegistryError(
                    self._prefix(f"{method} {_path_of(current)}: cannot connect: {type(exc).__name__}: {exc}"),
                    "connect",
                ) from None
            if not (response.is_redirect and response.headers.get("location")):
                return response
            response.close()
            current = urljoin(current, response.headers["location"])
            if urlsplit(current).scheme not in ("http", "https"):
                raise RegistryError(self._prefix(f"{method}: redirected to a non-HTTP URL"), "protocol")
        raise RegistryError(self._prefix(f"{method} {_path_of(url)}: more than {MAX_REDIRECTS} redirects"), "protocol")

    def _check(self, url: str) -> None:
        if self.guard is None:
            return
        try:
            self.guard(url)
        except FetchProblem as problem:
            raise RegistryError(self._prefix(str(problem)), "refused") from None

    def _read(self, response: httpx.Response, limit: int, method: str, where: str) -> bytes:
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise RegistryError(self._prefix(f"{method} {where}: the answer exceeds {limit} bytes"), "protocol")
        except httpx.TimeoutException:
            raise RegistryError(self._prefix(f"{method} {where}: the answer stopped (timeout)"), "timeout") from None
        except httpx.HTTPError as exc:
            raise RegistryError(self._prefix(f"{method} {where}: reading failed: {exc}"), "connect") from None
        return bytes(body)

    def _status_error(self, method: str, path: str, what: str, response: _Response | httpx.Response) -> RegistryError:
        status = response.status_code
        detail = ""
        if status == 404:
            detail = f": {what} not found"
        elif status == 403:
            detail = f": access to {what} is denied"
        elif status == 429:
            detail = ": rate limited by the registry"
        return RegistryError(self._prefix(f"{method} {path} returned HTTP {status}{detail}"), f"http-{status}")

    def _strings(self, page: Mapping[str, Any], key: str, what: str) -> list[str]:
        values = page.get(key)
        if values is None:
            return []  # a registry answers `"tags": null` for a repository whose tags were all deleted
        if not isinstance(values, list):
            raise RegistryError(self._prefix(f"{what}: `{key}` is not a list"), "protocol")
        return [v for v in values if isinstance(v, str) and v]

    def _prefix(self, message: str) -> str:
        return f"docker registry account {self.account.name} ({self.account.base_url}): {message}"


class _Response:
    """A streamed response used as a context manager, so its connection is always released."""

    def __init__(self, response: httpx.Response):
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *_: object) -> None:
        self.response.close()

    @property
    def status_code(self) -> int:
        return self.response.status_code


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _path(repository: str) -> str:
    return "/".join(quote(part, safe="") for part in repository.split("/"))


def _origin_text(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
