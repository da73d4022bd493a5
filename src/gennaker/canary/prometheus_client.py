"""The HTTP API of one Prometheus account, as Kayenta's Prometheus source calls it (kayenta.md §4.4).

Requests go to the account's `baseUrl`: every hop (redirects are followed by hand, at most five) first passes the
connect guard (the `outbound` policy), and the account's credentials go only with requests to the `baseUrl`'s own
origin, never with a redirect elsewhere. Answers are read up to 32 MB and a range query is refused, before it is
sent, when a series would have more than the 11,000 points Prometheus itself allows.

Every failure is one `PrometheusError` whose `retryable` says whether asking again later may help: Prometheus
unreachable, timing out or answering 5xx/429 is retryable; a query Prometheus rejects (`bad_data`, `execution`),
refused credentials, an answer that is not Prometheus' JSON or too large is not. Messages name the account and
its base URL, never a credential.
"""

from __future__ import annotations

import functools
import json
import math
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from gennaker.artifacts.accounts import url_origin
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.canary.accounts import DEFAULT_METADATA_CACHING_MS, PrometheusAccount

USER_AGENT = "Gennaker (Spinnaker-compatible CD)"
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses range queries beyond this resolution
MAX_REDIRECTS = 5
MAX_QUERY_IN_MESSAGE = 500  # characters of PromQL quoted in an error
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

ClientFactory = Callable[[PrometheusAccount], httpx.Client]


class PrometheusError(Exception):
    """A request to a Prometheus account failed; `retryable` when asking again later may help (it is down)."""

    def __init__(self, message: str, retryable: bool, *, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for all clients: building one costs tens of milliseconds."""
    return httpx.create_ssl_context()


def default_client(account: PrometheusAccount) -> httpx.Client:
    """An httpx client with the account's timeout; redirects and credentials are handled by `PrometheusClient`."""
    timeout = httpx.Timeout(account.timeoutSeconds, connect=min(10.0, account.timeoutSeconds))
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        verify=_tls_context(),
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes


class PrometheusClient:
    """One account's API over one pooled httpx client; close it (or use `with`) when done."""

    def __init__(
        self,
        account: PrometheusAccount,
        guard: ConnectGuard | None,
        *,
        client_factory: ClientFactory | None = None,
        cache_seconds: float = DEFAULT_METADATA_CACHING_MS / 1000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.account = account
        self.guard = guard
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._http = (client_factory or default_client)(account)
        self._origin = url_origin(account.base_url)
        self._lock = threading.Lock()
        self._names: tuple[float, list[str]] | None = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def name(self) -> str:
        return self.account.name

    # -- the API ---------------------------------------------------------------------------------------
    def query_range(self, promql: str, start: datetime, end: datetime, step_seconds: int) -> dict[str, Any]:
        """`GET /api/v1/query_range` with ISO-8601 start and end and the step in seconds; the whole JSON answer."""
        points = _points_per_series(start, end, step_seconds)
        if points > MAX_POINTS_PER_SERIES:
            raise PrometheusError(
                f"the query for Prometheus account '{self.name}' from {_iso(start)} to {_iso(end)} every "
                f"{step_seconds} s would give {points:,} points per series, more than the {MAX_POINTS_PER_SERIES:,} "
                "Prometheus answers: use a larger step or a shorter interval",
                False,
            )
        params = {"query": promql, "start": _iso(start), "end": _iso(end), "step": str(step_seconds)}
        answer = self._get("api/v1/query_range", params)
        if answer.status in (400, 422):
            raise PrometheusError(
                f"Prometheus account '{self.name}' rejected the query `{_shortened(promql)}`: "
                f"{_prometheus_error(answer) or f'HTTP {answer.status}'}",
                False,
                status=answer.status,
            )
        body = self._success(answer, "the range query")
        self._check_matrix(body)
        return body

    def metric_names(self) -> list[str]:
        """`GET /api/v1/label/__name__/values` (Deck's metric picker), kept for `cache_seconds`."""
        with self._lock:
            if self._names is not None and self.clock() - self._names[0] < self.cache_seconds:
                return list(self._names[1])
        body = self._success(self._get("api/v1/label/__name__/values", None), "the metric names")
        names = body.get("data")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PrometheusError(f"Prometheus account '{self.name}' answered the metric names without a list", False)
        with self._lock:
            self._names = (self.clock(), names)
        return list(names)

    def healthy(self) -> bool:
        """Whether `GET /-/healthy` answers 2xx."""
        try:
            answer = self._get("-/healthy", None)
        except PrometheusError:
            return False
        return 200 <= answer.status < 300

    # -- plumbing --------------------------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str] | None) -> _Answer:
        url = f"{self.account.base_url}/{path}"
        for _ in range(MAX_REDIRECTS + 1):
            answer, location = self._send(url, params)
            if location is None:
                return answer
            url, params = urljoin(url, location), None
        raise PrometheusError(
            f"Prometheus account '{self.name}' at {self.account.base_url} redirected /{path} more than "
            f"{MAX_REDIRECTS} times",
            False,
        )

    def _send(self, url: str, params: Mapping[str, str] | None) -> tuple[_Answer, str | None]:
        """The answer, and where it redirects to (None when it does not)."""
        where = f"Prometheus account '{self.name}' at {self.account.base_url}"
        if urlsplit(url).scheme not in ("http", "https"):
            raise PrometheusError(f"{where} redirected to {_bare(url)}, which is not http or https", False)
        if self.guard is not None:
            try:
                self.guard(url)
            except FetchProblem as exc:
                raise PrometheusError(f"{where} may not be contacted: {exc}", False) from None
        headers = {}
        authorization = self.account.authorization()
        if authorization is not None and url_origin(url) == self._origin:
            headers["Authorization"] = authorization
        try:
            with self._http.stream("GET", url, params=params, headers=headers) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    return _Answer(response.status_code, b""), location
                return _Answer(response.status_code, self._bounded(response, where)), None
        except httpx.TimeoutException as exc:
            raise PrometheusError(
                f"{where} timed out ({type(exc).__name__}; timeoutSeconds is {self.account.timeoutSeconds:g})", True
            ) from None
        except httpx.TransportError as exc:
            raise PrometheusError(
                f"{where} cannot be reached: {type(exc).__name__}: {exc or 'no answer'}", True
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # an undecodable answer, a redirect to a malformed URL
            raise PrometheusError(f"{where} answered what cannot be read: {type(exc).__name__}: {exc}", False) from None

    def _bounded(self, response: httpx.Response, where: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large(where)
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                raise _too_large(where)
        return bytes(body)

    def _success(self, answer: _Answer, what: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer whose status is success; any other answer is a PrometheusError."""
        where = f"Prometheus account '{self.name}' at {self.account.base_url}"
        status = answer.status
        detail = _prometheus_error(answer)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            hint = "check its credentials" if self.account.authorization() else "it needs credentials"
            raise PrometheusError(f"{where} refused {what}: HTTP {status} ({hint})", False, status=status)
        if status == 404:
            raise PrometheusError(
                f"{where} answered HTTP 404 for {what}: is baseUrl Prometheus' root URL?", False, status=status
            )
        if status == 429 or status >= 500:
            raise PrometheusError(f"{where} answered HTTP {status} for {what}{suffix}", True, status=status)
        if not 200 <= status < 300:
            raise PrometheusError(f"{where} answered HTTP {status} for {what}{suffix}", False, status=status)
        body = _json_object(answer.body)
        if body is None:
            raise PrometheusError(f"{where} did not answer {what} with Prometheus' JSON: is baseUrl right?", False)
        if body.get("status") != "success":
            raise PrometheusError(f"{where} answered {what} with status {body.get('status')!r}{suffix}", False)
        return body

    def _check_matrix(self, body: Mapping[str, Any]) -> None:
        data = body.get("data")
        result = data.get("result") if isinstance(data, Mapping) else None
        if not isinstance(result, list):
            raise PrometheusError(f"Prometheus account '{self.name}' answered the range query without a result", False)
        for series in result:
            values = series.get("values") if isinstance(series, Mapping) else None
            if not isinstance(values, list) or not all(_is_point(point) for point in values):
                raise PrometheusError(
                    f"Prometheus account '{self.name}' answered the range query with a series that is not a list "
                    "of [timestamp, value] points",
                    False,
                )
            if len(values) > MAX_POINTS_PER_SERIES:
                raise PrometheusError(
                    f"Prometheus account '{self.name}' answered a series of {len(values):,} points, more than "
                    f"{MAX_POINTS_PER_SERIES:,}",
                    False,
                )


def _is_point(point: Any) -> bool:
    return (
        isinstance(point, list)
        and len(point) == 2
        and isinstance(point[0], int | float)
        and not isinstance(point[0], bool)
        and isinstance(point[1], str)
    )


def _points_per_series(start: datetime, end: datetime, step_seconds: int) -> int:
    if start.tzinfo is None or end.tzinfo is None:
        raise PrometheusError("a range query needs times with a time zone", False)
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, int) or step_seconds <= 0:
        raise PrometheusError(f"the step must be a positive number of seconds, not {step_seconds!r}", False)
    seconds = (end - start).total_seconds()
    if seconds < 0:
        raise PrometheusError(f"the query ends ({_iso(end)}) before it starts ({_iso(start)})", False)
    return math.floor(seconds / step_seconds) + 1


def _iso(moment: datetime) -> str:
    """An instant as Java's `Instant.toString` writes it: UTC, `Z`, fractions only when there are some."""
    utc = moment.astimezone(UTC)
    if utc.microsecond == 0:
        spec = "seconds"
    elif utc.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _prometheus_error(answer: _Answer) -> str:
    """Prometheus' own `error` text of a failed answer ("" when the body is not its error JSON)."""
    body = _json_object(answer.body)
    if body is None or not isinstance(body.get("error"), str):
        return ""
    return _shortened(body["error"])


def _shortened(promql: str) -> str:
    return promql if len(promql) <= MAX_QUERY_IN_MESSAGE else promql[:MAX_QUERY_IN_MESSAGE] + "…"


def _too_large(where: str) -> PrometheusError:
    return PrometheusError(
        f"{where} answered with more than {MAX_BODY_BYTES // (1024 * 1024)} MB: narrow the query "
        "(fewer series, a larger step or a shorter interval)",
        False,
    )


def _bare(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query="", fragment="", netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
