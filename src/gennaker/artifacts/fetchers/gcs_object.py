"""`gcs/object`: an object from Google Cloud Storage, read through its JSON API with google-auth credentials
(the `gennaker[gcp]` extra).

`reference` is `gs://bucket/path`, optionally ending in `#generation` as in Clouddriver; `version`, when given,
is the generation too (given both ways, they must agree). Credentials come from the account's `jsonPath`, else
from Application Default Credentials, scoped to read-only storage.

The object is read with `GET {apiEndpoint}/storage/v1/b/{bucket}/o/{object}?alt=media[&generation=N]`. The
bearer token goes only to the account's endpoint, the request passes the connect guard, and a redirect is
refused rather than followed. Token requests (the key file's `token_uri`, the metadata server) go where the
operator's credentials say, not where a pipeline says, so they are not subject to the guard.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from gennaker.artifacts.accounts import GcsAccount
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import ClientFactory, HttpGetter, redact_url, require_credential_host

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
EXTRA_HINT = "pip install 'gennaker[gcp]'"


@dataclass(frozen=True)
class GcsObject:
    bucket: str
    name: str
    generation: str | None

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.name}" + (f"#{self.generation}" if self.generation else "")


def parse_gcs_reference(reference: str, version: str = "") -> GcsObject:
    """The object `gs://bucket/name[#generation]` names, with `version` as its generation."""
    if "://" in reference and not reference.startswith("gs://"):
        raise FetchProblem(f"a gcs/object artifact needs `reference` gs://<bucket>/<path>, not {reference!r}")
    bucket, slash, name = reference.removeprefix("gs://").partition("/")
    generation: str | None = None
    if "#" in name:
        name, _, generation = name.rpartition("#")
    if not bucket or not slash or not name:
        raise FetchProblem(f"a gcs/object artifact needs `reference` gs://<bucket>/<path>, not {reference!r}")
    if version and generation and version != generation:
        raise FetchProblem(f"the reference's generation {generation} and the version {version} disagree")
    generation = generation or version or None
    if generation is not None and not (generation.isascii() and generation.isdigit()):
        raise FetchProblem(f"a gcs/object generation is a number, not {generation!r}")
    return GcsObject(bucket, name, generation)


class GcsObjectFetcher:
    """Reads objects with the HTTP client and guard of `http`; keeps one google-auth credential per account."""

    def __init__(self, http: HttpGetter, timeout_s: float):
        self.http = http
        self.timeout_s = timeout_s
        self._credentials: dict[str, Any] = {}
        self._lock = threading.Lock()

    def fetch(self, artifact: Mapping[str, Any], account: GcsAccount) -> bytes:
        target = parse_gcs_reference(str(artifact.get("reference") or ""), str(artifact.get("version") or ""))
        url = f"{account.apiEndpoint}/storage/v1/b/{quote(target.bucket, safe='')}/o/{quote(target.name, safe='')}"
        params = {"alt": "media"}
        if target.generation:
            params["generation"] = target.generation
        require_credential_host(account, url)
        if self.http.guard is not None:
            self.http.guard(url)
        headers = {"Authorization": f"Bearer {self._token(account)}"}
        try:
            with (
                self.http.client_factory() as client,
                client.stream("GET", url, params=params, headers=headers, follow_redirects=False) as response,
            ):
                return self._read(response, target, account)
        except httpx.HTTPError as exc:
            raise FetchProblem(f"GET {target} from {account.apiEndpoint} failed: {type(exc).__name__}: {exc}") from None

    def _read(self, response: httpx.Response, target: GcsObject, account: GcsAccount) -> bytes:
        if response.is_redirect:
            location = urljoin(str(response.url), response.headers.get("location", ""))
            raise FetchProblem(
                f"{account.apiEndpoint} answered GET {target} with a redirect to {redact_url(location)}; objects are "
                "read from the account's endpoint only, so it was not followed"
            )
        if response.status_code == 404:
            missing = f"generation {target.generation} of {target}" if target.generation else f"object {target}"
            raise FetchProblem(f"{missing} does not exist ({_error_text(response)})")
        if not response.is_success:
            raise FetchProblem(
                f"GET {target} from {account.apiEndpoint} returned HTTP {response.status_code}: {_error_text(response)}"
            )
        content = bytearray()
        for chunk in response.iter_bytes():
            content.extend(chunk)
            if len(content) > self.http.max_bytes:
                raise FetchProblem(f"{target} is larger than the limit of {self.http.max_bytes} bytes")
        return bytes(content)

    def _token(self, account: GcsAccount) -> str:
        """A valid access token of the account, refreshed when it is missing or about to expire."""
        with self._lock:
            credentials = self._credentials.get(account.name)
            if credentials is None:
                credentials = self._credentials[account.name] = _load_credentials(account)
            if not credentials.valid:
                from google.auth.exceptions import GoogleAuthError

                try:
                    credentials.refresh(AuthTransport(self.http.client_factory, self.timeout_s))
                except GoogleAuthError as exc:
                    raise FetchProblem(f"cannot get an access token: {exc}") from None
            return str(credentials.token)


def _load_credentials(account: GcsAccount) -> Any:
    """The account's credentials: a service-account key or a user's refresh token from `jsonPath` (what
    Clouddriver's `GoogleCredentials.fromStream` reads), else Application Default Credentials."""
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
        from google.oauth2 import credentials as user_credentials
        from google.oauth2 import service_account
    except ImportError:
        raise FetchProblem(f"gcs/object artifacts need google-auth, which is not installed: {EXTRA_HINT}") from None
    scopes = [READ_ONLY_SCOPE]
    try:
        if not account.jsonPath:
            credentials, _ = google.auth.default(scopes=scopes)
            return credentials
        with open(account.jsonPath, encoding="utf-8") as file:
            content = json.load(file)
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "service_account":
            return service_account.Credentials.from_service_account_file(account.jsonPath, scopes=scopes)
        if kind == "authorized_user":
            return user_credentials.Credentials.from_authorized_user_file(account.jsonPath, scopes=scopes)
    except (GoogleAuthError, OSError, ValueError) as exc:
        source = f"jsonPath {account.jsonPath}" if account.jsonPath else "Application Default Credentials"
        raise FetchProblem(f"no usable Google credentials from {source}: {exc}") from None
    raise FetchProblem(
        f"jsonPath {account.jsonPath} holds {kind} credentials; supported: service_account, authorized_user"
    )


@dataclass(frozen=True)
class AuthResponse:
    """What google-auth reads of an HTTP answer."""

    status: int
    headers: Mapping[str, str]
    data: bytes


class AuthTransport:
    """google-auth's request interface over the fetcher's httpx clients (no `requests` needed)."""

    def __init__(self, client_factory: ClientFactory, timeout_s: float):
        self.client_factory = client_factory
        self.timeout_s = timeout_s

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> AuthResponse:
        try:
            with self.client_factory() as client:
                response = client.request(
                    method, url, content=body, headers=dict(headers or {}), timeout=timeout or self.timeout_s
                )
                return AuthResponse(response.status_code, dict(response.headers), response.content)
        except httpx.HTTPError as exc:
            from google.auth.exceptions import TransportError

            raise TransportError(f"{method} {redact_url(url)} failed: {type(exc).__name__}: {exc}") from exc


def _error_text(response: httpx.Response) -> str:
    """The server's message: the JSON API's `error.message`, else the start of the body."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data.extend(chunk)
        if len(data) >= 4096:
            break
    text = data[:4096].decode(errors="replace").strip()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, Mapping) and isinstance(answer.get("error"), Mapping):
        text = str(answer["error"].get("message") or text)
    text = " ".join(text.split())
    return (text[:197] + "...") if len(text) > 200 else text or "no message"
