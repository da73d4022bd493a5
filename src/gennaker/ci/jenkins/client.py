"""Jenkins' remote-access JSON API, as the Jenkins stage and the build routes need it (echo-igor.md §7.1).

Every request goes to the master's configured `address`: paths are built from it, a build's queue `Location`
only yields the queue item's id, and a redirect is followed only within the master's origin. So the master's
credentials (Basic, or a Bearer token) never reach another host; a redirect elsewhere is an error that says
so. Each request first passes the connect guard (`outbound` policy), and answers are read up to a bound.

With `csrf: true` a crumb is fetched from `crumbIssuer/api/json` before every POST, in the same HTTP session
(Jenkins ties crumbs to the session cookie unless API-token auth is used), and sent in the header Jenkins names.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from gennaker.artifacts.accounts import url_origin
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.ci.jenkins.accounts import JenkinsMaster

USER_AGENT = "Gennaker (Spinnaker-compatible CD)"
MAX_REDIRECTS = 5
MAX_JSON_BYTES = 16 * 1024 * 1024
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_NESTING = 10  # folder levels listed, as Igor

BUILD_TREE = (
    "number,url,result,building,duration,estimatedDuration,timestamp,fullDisplayName,displayName,id,"
    "artifacts[displayPath,fileName,relativePath],"
    "actions[failCount,skipCount,totalCount,urlName,remoteUrls,lastBuiltRevision[SHA1,branch[name,SHA1]],"
    "parameters[name,value]]"
)
BUILDS_TREE = "builds[number,url,result,building,duration,timestamp,fullDisplayName]{0,100}"
JOB_TREE = (
    "name,displayName,fullName,description,url,buildable,color,concurrentBuild,inQueue,nextBuildNumber,"
    "property[parameterDefinitions[name,type,description,choices,defaultParameterValue[name,value]]],"
    "upstreamProjects[name,url],downstreamProjects[name,url]"
)


class JenkinsError(Exception):
    """A request to a master failed. `retryable` marks network errors and 429/502/503/504 answers;
    `status` is the HTTP status when the master answered."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class InvalidJobName(JenkinsError):
    """A job name that cannot be a path of jobs and folders."""


def job_path(job: str) -> str:
    """The URL path of a job: `folder/job/app` (Spinnaker's name of a job in a folder) → `job/folder/job/app`,
    every name percent-encoded and the slashes kept."""
    cleaned = job.strip().strip("/")
    if not cleaned or any(part in ("", ".", "..") for part in cleaned.split("/")):
        raise InvalidJobName(f"{job!r} is not a Jenkins job name (folders are written folder/job/name)")
    return "job/" + quote(cleaned, safe="/")


def jobs_tree(levels: int = _NESTING) -> str:
    tree = "name"
    for _ in range(levels):
        tree = f"name,jobs[{tree}]"
    return f"jobs[{tree}]"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


ClientFactory = Callable[[JenkinsMaster], httpx.Client]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for all clients: building one costs tens of milliseconds."""
    return httpx.create_ssl_context()


def default_client(master: JenkinsMaster) -> httpx.Client:
    """A client for one operation (its own cookie jar, so a CSRF crumb stays with its session)."""
    timeout = httpx.Timeout(master.timeoutSeconds, connect=min(10.0, master.timeoutSeconds))
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    token = master.bearer_token()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        timeout=timeout, headers=headers, auth=master.basic_auth(), follow_redirects=False, verify=_tls_context()
    )


class JenkinsClient:
    """One master's API. Methods raise `JenkinsError` with a message that names the master."""

    def __init__(self, master: JenkinsMaster, guard: ConnectGuard | None, client_factory: ClientFactory | None = None):
        self.master = master
        self.guard = guard
        self.client_factory = client_factory or default_client
        self._origin = url_origin(master.address)
        self._root = master.address.rstrip("/") + "/"

    @property
    def name(self) -> str:
        return self.master.name

    # -- reads -----------------------------------------------------------------------------------------
    def job_names(self) -> list[str]:
        """Every job, folders flattened as `folder/job/name` (folders themselves are not listed)."""
        data = self._get_json("api/json", {"tree": jobs_tree()}, what="the job list")
        names: list[str] = []
        _flatten(data.get("jobs") or [], "", names)
        return names

    def job(self, job: str) -> dict[str, Any]:
        """A job's configuration (name, buildable, parameter definitions in `property`)."""
        return self._get_json(f"{job_path(job)}/api/json", {"tree": JOB_TREE}, what=f"job '{job}'", job=job)

    def queue_item(self, item: str) -> dict[str, Any] | None:
        """A queue item (`executable.number` once the build started); None when Jenkins no longer knows it."""
        try:
            return self._get_json(f"queue/item/{quote(item, safe='')}/api/json", None, what=f"queue item {item}")
        except JenkinsError as exc:
            if exc.status == 404:
                return None
            raise

    def build(self, job: str, number: int) -> dict[str, Any]:
        return self._get_json(
            f"{job_path(job)}/{int(number)}/api/json", {"tree": BUILD_TREE}, what=f"build #{number} of job '{job}'"
        )

    def builds(self, job: str) -> list[dict[str, Any]]:
        data = self._get_json(f"{job_path(job)}/api/json", {"tree": BUILDS_TREE}, what=f"job '{job}'", job=job)
        return [b for b in data.get("builds") or [] if isinstance(b, dict)]

    def artifact(self, job: str, number: int, relative_path: str, max_bytes: int) -> bytes:
        path = f"{job_path(job)}/{int(number)}/artifact/{quote(relative_path.lstrip('/'), safe='/')}"
        with self._session() as client:
            answer = self._get(client, path, None, max_bytes)
        self._check(answer, f"artifact {relative_path} of build #{number} of job '{job}'")
        return answer.body

    # -- writes ----------------------------------------------------------------------------------------
    def start(self, job: str, parameters: Mapping[str, str] | None, *, with_parameters: bool) -> str:
        """Queue a build (`buildWithParameters` or `build`); the queue item's id."""
        action = "buildWithParameters" if with_parameters else "build"
        with self._session() as client:
            headers = self._crumb(client)
            answer = self._send(client, "POST", f"{job_path(job)}/{action}", dict(parameters or {}), headers)
        if answer.status == 404:
            raise JenkinsError(f"Job '{job}' not found on Jenkins master '{self.name}'", status=404)
        self._check(answer, f"starting job '{job}'")
        if answer.status != 201:
            raise JenkinsError(
                f"Received a non-201 status ({answer.status}) when submitting job '{job}' to Jenkins master "
                f"'{self.name}'",
                status=answer.status,
            )
        location = answer.headers.get("location") or ""
        segments = [s for s in urlsplit(location).path.split("/") if s]
        if not segments or not segments[-1].isdigit():
            raise JenkinsError(f"Could not find the queue item in the Location header for job '{job}' ({location!r})")
        return segments[-1]

    def stop(self, job: str, number: int) -> None:
        """Abort a running build (Jenkins answers with a redirect to the build page)."""
        with self._session() as client:
            headers = self._crumb(client)
            answer = self._send(client, "POST", f"{job_path(job)}/{int(number)}/stop", None, headers)
        self._check(answer, f"stopping build #{number} of job '{job}'")

    def cancel_queue_item(self, item: str) -> None:
        """Take a build out of the queue; a 404 is ignored (some Jenkins versions answer it after cancelling)."""
        with self._session() as client:
            headers = self._crumb(client)
            answer = self._send(client, "POST", "queue/cancelItem", {"id": item}, headers)
        if answer.status != 404:
            self._check(answer, f"cancelling queue item {item}")

    # -- plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[httpx.Client]:
        with self.client_factory(self.master) as client:
            yield client

    def _url(self, path: str) -> str:
        return urljoin(self._root, path)

    def _crumb(self, client: httpx.Client) -> dict[str, str]:
        """The crumb header for a POST, when the master is configured with `csrf: true`."""
        if not self.master.csrf:
            return {}
        answer = self._get(client, "crumbIssuer/api/json", None, MAX_JSON_BYTES)
        if answer.status == 404:
            return {}  # CSRF protection is off on this master
        self._check(answer, "a CSRF crumb")
        data = self._json(answer, "the crumb issuer")
        crumb, field = data.get("crumb"), data.get("crumbRequestField") or "Jenkins-Crumb"
        if not isinstance(crumb, str) or not isinstance(field, str):
            raise JenkinsError(f"Jenkins master '{self.name}' answered the crumb issuer without a crumb")
        return {field: crumb}

    def _get_json(
        self, path: str, params: Mapping[str, str] | None, *, what: str, job: str | None = None
    ) -> dict[str, Any]:
        with self._session() as client:
            answer = self._get(client, path, params, MAX_JSON_BYTES)
        if answer.status == 404 and job is not None:
            raise JenkinsError(f"Job '{job}' not found on Jenkins master '{self.name}'", status=404)
        self._check(answer, what)
        return self._json(answer, what)

    def _get(self, client: httpx.Client, path: str, params: Mapping[str, str] | None, max_bytes: int) -> Answer:
        url = self._url(path)
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(client, "GET", url, params, None, max_bytes)
            location = answer.headers.get("location")
            if answer.status not in (301, 302, 303, 307, 308) or not location:
                return answer
            target = urljoin(url, location)
            if not self._same_origin(target):
                raise JenkinsError(
                    f"Jenkins master '{self.name}' redirected to {_without_query(target)}, outside its address "
                    f"{self.master.address}; its credentials are only sent there (set address to Jenkins' root URL)"
                )
            url, params = target, None
        raise JenkinsError(f"Jenkins master '{self.name}' redirected {path} more than {MAX_REDIRECTS} times")

    def _send(
        self,
        client: httpx.Client,
        method: str,
        path_or_url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        max_bytes: int = MAX_JSON_BYTES,
    ) -> Answer:
        url = path_or_url if "://" in path_or_url else self._url(path_or_url)
        if not self._same_origin(url):  # a programming error: nothing but the master's origin is contacted
            raise JenkinsError(f"refusing to send Jenkins master '{self.name}''s credentials to {_without_query(url)}")
        if self.guard is not None:
            try:
                self.guard(url)
            except FetchProblem as exc:
                raise JenkinsError(f"Jenkins master '{self.name}' may not be contacted: {exc}") from None
        try:
            with client.stream(method, url, params=params, headers=dict(headers or {})) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise JenkinsError(
                            f"Jenkins master '{self.name}' answered {urlsplit(url).path} with more than "
                            f"{max_bytes} bytes"
                        )
                return Answer(response.status_code, response.headers, bytes(body))
        except httpx.TransportError as exc:
            raise JenkinsError(
                f"Jenkins master '{self.name}' at {self.master.address} cannot be reached: "
                f"{type(exc).__name__}: {exc or 'no answer'}",
                retryable=True,
            ) from None

    def _check(self, answer: Answer, what: str) -> None:
        status = answer.status
        if 200 <= status < 400:
            return
        where = f"Jenkins master '{self.name}'"
        if status == 403 and "crumb" in answer.text().lower():
            raise JenkinsError(
                f"{where} refused {what}: it requires a CSRF crumb (set csrf: true for this master)", status=status
            )
        if status in (401, 403):
            hint = (
                "check its username and password or token" if self.master.has_credentials() else "it needs credentials"
            )
            raise JenkinsError(f"{where} refused {what}: HTTP {status} ({hint})", status=status)
        if status == 404:
            raise JenkinsError(f"{where} has no {what} (HTTP 404)", status=status)
        raise JenkinsError(
            f"{where} answered HTTP {status} for {what}", status=status, retryable=status in RETRYABLE_STATUSES
        )

    def _json(self, answer: Answer, what: str) -> dict[str, Any]:
        try:
            data = json.loads(answer.body)
        except ValueError:
            raise JenkinsError(
                f"Jenkins master '{self.name}' did not answer JSON for {what} "
                f"(is {self.master.address} Jenkins' root URL?)"
            ) from None
        if not isinstance(data, dict):
            raise JenkinsError(f"Jenkins master '{self.name}' answered {what} with JSON that is not an object")
        return data

    def _same_origin(self, url: str) -> bool:
        return url_origin(url) == self._origin


def _flatten(jobs: list[Any], prefix: str, into: list[str]) -> None:
    for job in jobs:
        if not isinstance(job, dict) or not isinstance(job.get("name"), str):
            continue
        if isinstance(job.get("jobs"), list):
            _flatten(job["jobs"], f"{prefix}{job['name']}/job/", into)
        else:
            into.append(prefix + job["name"])


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query="", fragment="", netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
