"""A Jenkins master on 127.0.0.1, speaking the remote-access JSON API the Jenkins stage uses (echo-igor.md §7.1).

`with JenkinsEmulator(username="bot", password="s3cret", csrf=True) as jenkins:` serves at `jenkins.url`:

- `GET /api/json` (jobs, folders nested as `jobs`), `GET /job/<a>/job/<b>/api/json` (a job: `buildable`,
  `property[].parameterDefinitions`, `builds`, `lastBuild`, `lastCompletedBuild`; a folder: its `jobs`);
- `POST /job/<job>/build` and `/buildWithParameters?K=V` → 201 with `Location: <url>/queue/item/<id>/`
  (`build` on a parameterised job, or parameters for a job without any, are refused as Jenkins does);
- `GET /queue/item/<id>/api/json` (a `WaitingItem` with `why`, then a `LeftItem` with `executable.number`;
  a cancelled item has `cancelled: true`), `POST /queue/cancelItem?id=<id>`;
- `GET /job/<job>/<n|lastBuild|lastCompletedBuild>/api/json` (`building`, `result` — null while building —,
  `artifacts`, `actions`, `url`), `GET /job/<job>/<n>/artifact/<relativePath>`, `POST /job/<job>/<n>/stop`;
- `GET /crumbIssuer/api/json` when `csrf` is on (404 otherwise): the crumb is tied to the session cookie it
  sets, and every POST without the matching `Jenkins-Crumb` header is refused with 403 "No valid crumb".

With `username`/`password` every request needs those Basic credentials (the password may be an API token);
with `bearer_token`, `Authorization: Bearer <token>`. What each new build does comes from the job's `plan`
(`BuildPlan`: result, duration, time in the queue — `math.inf` never leaves —, archived files, test counts,
git revision); plans queued with `Job.next_plans` are used first. Every request, stop and queue cancel is
recorded. `redirects` maps a request path to a `Location` to answer 302 with, and `location_base` changes the
origin of queue `Location` headers (both to test where credentials go).
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class BuildPlan:
    result: str = "SUCCESS"
    duration_s: float = 0.0
    queue_s: float = 0.0
    artifacts: dict[str, bytes] = field(default_factory=dict)  # relative path → content
    why: str = "Waiting for next available executor"
    tests: tuple[int, int, int] | None = None  # (fail, skip, total)
    git: tuple[str, str, str] | None = None  # (branch name, sha1, remote url)


@dataclass
class Build:
    job: Job
    number: int
    parameters: dict[str, str]
    plan: BuildPlan
    queue_id: int
    started: float  # monotonic
    started_wall: float
    stopped: float | None = None

    def building(self, now: float) -> bool:
        return self.stopped is None and now < self.started + self.plan.duration_s

    def result(self, now: float) -> str | None:
        if self.stopped is not None:
            return "ABORTED"
        return None if self.building(now) else self.plan.result

    @property
    def finished_wall(self) -> float:
        """When the build ended (wall clock, seconds), once it has."""
        if self.stopped is not None:
            return self.started_wall + (self.stopped - self.started)
        return self.started_wall + self.plan.duration_s


@dataclass
class QueueItem:
    id: int
    job: Job
    parameters: dict[str, str]
    plan: BuildPlan
    created: float
    created_wall: float
    cancelled: bool = False
    build: Build | None = None


@dataclass
class Job:
    name: str  # Spinnaker's name: folder/job/app
    parameters: list[dict[str, Any]] = field(default_factory=list)  # Jenkins parameterDefinitions
    buildable: bool = True
    plan: BuildPlan = field(default_factory=BuildPlan)
    next_plans: list[BuildPlan] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.name.split("/job/")[-1]

    @property
    def full_name(self) -> str:
        return "/".join(self.name.split("/job/"))

    def take_plan(self) -> BuildPlan:
        return self.next_plans.pop(0) if self.next_plans else self.plan


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def string_param(name: str, default: str = "", description: str = "") -> dict[str, Any]:
    return {
        "_class": "hudson.model.StringParameterDefinition",
        "name": name,
        "type": "StringParameterDefinition",
        "description": description,
        "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": name, "value": default},
    }


def choice_param(name: str, choices: list[str]) -> dict[str, Any]:
    return {
        "_class": "hudson.model.ChoiceParameterDefinition",
        "name": name,
        "type": "ChoiceParameterDefinition",
        "description": "",
        "choices": list(choices),
        "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": name, "value": choices[0]},
    }


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any) -> _Reply:
    return _Reply(status, json.dumps(value).encode(), {"Content-Type": "application/json;charset=utf-8"})


def _text(status: int, text: str, **headers: str) -> _Reply:
    return _Reply(status, text.encode(), {"Content-Type": "text/plain;charset=utf-8", **headers})


class JenkinsEmulator:
    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        csrf: bool = False,
    ):
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.csrf = csrf
        self.jobs: dict[str, Job] = {}
        self.queue: dict[int, QueueItem] = {}
        self.requests: list[Seen] = []
        self.stops: list[tuple[str, int]] = []
        self.cancelled_items: list[int] = []
        self.redirects: dict[str, str] = {}
        # The origin written in queue `Location` headers (Jenkins writes its configured root URL, which may differ).
        self.location_base: str | None = None
        self._crumbs: dict[str, str] = {}  # session id → crumb
        self._next_queue_id = 100
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="jenkins-emulator", daemon=True)

    # -- control -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> JenkinsEmulator:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add_job(
        self,
        name: str,
        *,
        parameters: list[dict[str, Any]] | None = None,
        buildable: bool = True,
        plan: BuildPlan | None = None,
    ) -> Job:
        """A job by Spinnaker's name (`folder/job/app` is job `app` in folder `folder`)."""
        job = Job(name, list(parameters or []), buildable, plan or BuildPlan())
        with self._lock:
            self.jobs[name] = job
        return job

    def build(self, job: str, number: int) -> Build:
        with self._lock:
            return next(b for b in self.jobs[job].builds if b.number == number)

    def posts(self, suffix: str) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(suffix)]

    # -- state -------------------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        """Queue items whose time in the queue is over become builds."""
        for item in sorted(self.queue.values(), key=lambda i: i.id):
            if item.cancelled or item.build is not None or math.isinf(item.plan.queue_s):
                continue
            if now >= item.created + item.plan.queue_s:
                job = item.job
                build = Build(
                    job=job,
                    number=len(job.builds) + 1,
                    parameters=item.parameters,
                    plan=item.plan,
                    queue_id=item.id,
                    started=item.created + item.plan.queue_s,
                    started_wall=item.created_wall + item.plan.queue_s,
                )
                job.builds.append(build)
                item.build = build

    def _job_url(self, job: Job) -> str:
        return f"{self.url}/job/{quote(job.name, safe='/')}/"

    def _build_json(self, build: Build, now: float) -> dict[str, Any]:
        building = build.building(now)
        result = build.result(now)
        url = f"{self._job_url(build.job)}{build.number}/"
        actions: list[dict[str, Any]] = [
            {"_class": "hudson.model.CauseAction", "causes": [{"shortDescription": "Started by remote host"}]}
        ]
        if build.parameters:
            values = [{"name": k, "value": v} for k, v in build.parameters.items()]
            actions.append({"_class": "hudson.model.ParametersAction", "parameters": values})
        if build.plan.tests and not building:
            fail, skip, total = build.plan.tests
            actions.append(
                {
                    "_class": "hudson.tasks.junit.TestResultAction",
                    "failCount": fail,
                    "skipCount": skip,
                    "totalCount": total,
                    "urlName": "testReport",
                }
            )
        if build.plan.git:
            branch, sha1, remote = build.plan.git
            actions.append(
                {
                    "_class": "hudson.plugins.git.util.BuildData",
                    "lastBuiltRevision": {"SHA1": sha1, "branch": [{"SHA1": sha1, "name": branch}]},
                    "remoteUrls": [remote],
                }
            )
        ended = build.finished_wall if not building else now
        archived = [] if building else sorted(build.plan.artifacts)
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": build.number,
            "id": str(build.number),
            "url": url,
            "building": building,
            "result": result,
            "duration": 0 if building else int((ended - build.started_wall) * 1000),
            "estimatedDuration": int(build.plan.duration_s * 1000),
            "timestamp": int(build.started_wall * 1000),
            "fullDisplayName": f"{build.job.full_name} #{build.number}",
            "displayName": f"#{build.number}",
            "queueId": build.queue_id,
            "artifacts": [
                {"displayPath": path.rsplit("/", 1)[-1], "fileName": path.rsplit("/", 1)[-1], "relativePath": path}
                for path in archived
            ],
            "actions": actions,
        }

    def _job_json(self, job: Job, now: float) -> dict[str, Any]:
        builds = sorted(job.builds, key=lambda b: -b.number)
        completed = [b for b in builds if not b.building(now)]
        short = [
            {k: v for k, v in self._build_json(b, now).items() if k in ("number", "url", "result", "building")}
            for b in builds
        ]
        properties: list[dict[str, Any]] = []
        if job.parameters:
            properties.append(
                {"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": job.parameters}
            )
        return {
            "_class": "hudson.model.FreeStyleProject",
            "name": job.short_name,
            "fullName": job.full_name,
            "displayName": job.short_name,
            "description": f"The {job.short_name} job",
            "url": self._job_url(job),
            "buildable": job.buildable,
            "color": "blue" if job.buildable else "disabled",
            "concurrentBuild": False,
            "inQueue": any(i.job is job and i.build is None and not i.cancelled for i in self.queue.values()),
            "nextBuildNumber": len(job.builds) + 1,
            "property": properties,
            "builds": short,
            "lastBuild": short[0] if short else None,
            "lastCompletedBuild": {"number": completed[0].number, "url": f"{self._job_url(job)}{completed[0].number}/"}
            if completed
            else None,
            "upstreamProjects": [],
            "downstreamProjects": [],
        }

    def _children(self, prefix: str) -> list[dict[str, Any]]:
        """Jobs and folders directly under `prefix` (Spinnaker form, '' for the root)."""
        entries: dict[str, dict[str, Any]] = {}
        for name in sorted(self.jobs):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :].split("/job/")
            if len(rest) == 1:
                entries[rest[0]] = {
                    "_class": "hudson.model.FreeStyleProject",
                    "name": rest[0],
                    "url": self._job_url(self.jobs[name]),
                }
            elif rest[0] not in entries:
                entries[rest[0]] = {
                    "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": rest[0],
                    "url": f"{self.url}/job/{quote(prefix + rest[0], safe='/')}/",
                    "jobs": self._children(f"{prefix}{rest[0]}/job/"),
                }
        return list(entries.values())

    # -- HTTP --------------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = emulator._handle(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _serve

        return Handler

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if body and "form-urlencoded" in (headers.get("Content-Type") or ""):
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                query.setdefault(key, values)
        seen = Seen(method, unquote(parts.path), query, headers)
        with self._lock:
            self.requests.append(seen)
            if parts.path in self.redirects:
                return _Reply(302, b"", {"Location": self.redirects[parts.path]})
            denied = self._authenticate(seen)
            if denied is not None:
                return denied
            if method == "POST" and self.csrf and not self._valid_crumb(seen):
                return _text(403, "No valid crumb was included in the request")
            now = time.monotonic()
            self._advance(now)
            return self._route(method, parts.path, seen, now)

    def _authenticate(self, seen: Seen) -> _Reply | None:
        value = seen.header("Authorization") or ""
        if self.bearer_token is not None and value == f"Bearer {self.bearer_token}":
            return None
        if self.username is not None and value.startswith("Basic "):
            user, _, secret = base64.b64decode(value[6:]).decode().partition(":")
            if user == self.username and secret == self.password:
                return None
        if self.username is None and self.bearer_token is None:
            return None
        return _text(401, "Unauthorized", **{"WWW-Authenticate": 'Basic realm="Jenkins"'})

    def _valid_crumb(self, seen: Seen) -> bool:
        cookies = dict(c.strip().split("=", 1) for c in (seen.header("Cookie") or "").split(";") if "=" in c)
        session = cookies.get("JSESSIONID", "")
        return bool(session) and self._crumbs.get(session) == seen.header("Jenkins-Crumb")

    def _route(self, method: str, path: str, seen: Seen, now: float) -> _Reply:
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        if segments == ["crumbIssuer", "api", "json"] and method == "GET":
            if not self.csrf:
                return _text(404, "Not Found")
            session, crumb = secrets.token_hex(8), secrets.token_hex(16)
            self._crumbs[session] = crumb
            reply = _json(
                200,
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": crumb,
                    "crumbRequestField": "Jenkins-Crumb",
                },
            )
            reply.headers["Set-Cookie"] = f"JSESSIONID={session}; Path=/; HttpOnly"
            return reply
        if segments == ["api", "json"] and method == "GET":
            return _json(200, {"_class": "hudson.model.Hudson", "jobs": self._children("")})
        if segments[:2] == ["queue", "item"] and segments[3:] == ["api", "json"] and method == "GET":
            item = self.queue.get(int(segments[2])) if segments[2].isdigit() else None
            return _json(200, self._queue_json(item)) if item else _text(404, "Not Found")
        if segments == ["queue", "cancelItem"] and method == "POST":
            item_id = int((seen.query.get("id") or ["0"])[0])
            item = self.queue.get(item_id)
            if item is None:
                return _text(404, "Not Found")
            self.cancelled_items.append(item_id)
            if item.build is None:
                item.cancelled = True
            return _Reply(204)
        if not segments or segments[0] != "job":
            return _text(404, "Not Found")
        names: list[str] = []
        index = 0
        while index + 1 < len(segments) and segments[index] == "job":
            names.append(segments[index + 1])
            index += 2
        name, rest = "/job/".join(names), segments[index:]
        job = self.jobs.get(name)
        if job is None:
            folder = f"{name}/job/"
            if rest == ["api", "json"] and any(n.startswith(folder) for n in self.jobs):
                last = names[-1]
                return _json(
                    200,
                    {
                        "_class": "com.cloudbees.hudson.plugins.folder.Folder",
                        "name": last,
                        "jobs": self._children(folder),
                    },
                )
            return _text(404, "Not Found")
        return self._job_route(method, job, rest, seen, now)

    def _job_route(self, method: str, job: Job, rest: list[str], seen: Seen, now: float) -> _Reply:
        if rest == ["api", "json"] and method == "GET":
            return _json(200, self._job_json(job, now))
        if rest in (["build"], ["buildWithParameters"]) and method == "POST":
            return self._start(job, rest[0] == "buildWithParameters", seen, now)
        if not rest:
            return _text(404, "Not Found")
        build = self._find_build(job, rest[0], now)
        if build is None:
            return _text(404, "Not Found")
        if rest[1:] == ["api", "json"] and method == "GET":
            return _json(200, self._build_json(build, now))
        if rest[1:] == ["stop"] and method == "POST":
            self.stops.append((job.name, build.number))
            if build.building(now):
                build.stopped = now
            return _Reply(302, b"", {"Location": f"{self._job_url(job)}{build.number}/"})
        if len(rest) > 2 and rest[1] == "artifact" and method == "GET":
            relative = "/".join(rest[2:])
            content = build.plan.artifacts.get(relative)
            if build.building(now) or content is None:
                return _text(404, "Not Found")
            return _Reply(200, content, {"Content-Type": "application/octet-stream"})
        return _text(404, "Not Found")

    def _find_build(self, job: Job, ref: str, now: float) -> Build | None:
        if ref.isdigit():
            return next((b for b in job.builds if b.number == int(ref)), None)
        builds = sorted(job.builds, key=lambda b: -b.number)
        if ref == "lastBuild":
            return builds[0] if builds else None
        if ref == "lastCompletedBuild":
            return next((b for b in builds if not b.building(now)), None)
        return None

    def _start(self, job: Job, with_parameters: bool, seen: Seen, now: float) -> _Reply:
        if not job.buildable:
            return _text(409, f"{job.full_name} is disabled")
        given = {k: v[-1] for k, v in seen.query.items()}
        if with_parameters and not job.parameters:
            return _text(500, "java.lang.IllegalStateException: This build is not parameterized!")
        if not with_parameters and job.parameters:
            return _text(400, "Nothing is submitted")  # a parameterised job needs buildWithParameters
        parameters: dict[str, str] = {}
        for definition in job.parameters:
            default = definition.get("defaultParameterValue") or {}
            parameters[definition["name"]] = str(given.get(definition["name"], default.get("value", "")))
        self._next_queue_id += 1
        item = QueueItem(self._next_queue_id, job, parameters, job.take_plan(), now, time.time())
        self.queue[item.id] = item
        self._advance(now)
        return _Reply(201, b"", {"Location": f"{self.location_base or self.url}/queue/item/{item.id}/"})

    def _queue_json(self, item: QueueItem) -> dict[str, Any]:
        task = {"_class": "hudson.model.FreeStyleProject", "name": item.job.short_name, "url": self._job_url(item.job)}
        if item.cancelled:
            return {
                "_class": "hudson.model.Queue$LeftItem",
                "id": item.id,
                "cancelled": True,
                "executable": None,
                "task": task,
            }
        if item.build is not None:
            url = f"{self._job_url(item.job)}{item.build.number}/"
            return {
                "_class": "hudson.model.Queue$LeftItem",
                "id": item.id,
                "cancelled": False,
                "executable": {"_class": "hudson.model.FreeStyleBuild", "number": item.build.number, "url": url},
                "task": task,
            }
        return {
            "_class": "hudson.model.Queue$WaitingItem",
            "id": item.id,
            "blocked": False,
            "buildable": True,
            "cancelled": False,
            "inQueueSince": int(item.created_wall * 1000),
            "params": "".join(f"\n{k}={v}" for k, v in item.parameters.items()),
            "why": item.plan.why,
            "task": task,
        }
