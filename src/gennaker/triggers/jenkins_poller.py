"""The Jenkins trigger: one poller per (master, job) that saved `jenkins` triggers name (echo-igor.md §2.4).

Each poll lists the job's builds (`client.builds`: the newest 100 with number, result and `building`). The
stored state is a cursor over build numbers:

    {"cursor": 41, "done": [43], "attempts": {"42": 1}}

`cursor` is the number up to which every build has been handled; `done` holds the builds above it already
handled while an older one still ran (builds may finish out of order); `attempts` counts the polls that could
not read a build (its details, or its property file for a passing reason). Completed builds that
are neither at or below the cursor nor `done` are handled in order, oldest first, so a restart with the
stored state neither fires a build again nor misses one. A build is handled once it completed: a SUCCESS is an
event (`jenkins:<master>/<job>:<number>`), any other result (FAILURE, UNSTABLE, ABORTED, NOT_BUILT) is not
(Echo fires on SUCCESS only, never on UNSTABLE). The first poll (no cursor) records what exists and fires
nothing; builds still running then are left above the cursor, so they fire when they complete.

For an event the poller reads the build (`buildInfo`, Igor's `GenericBuild`) and every property file that the
triggers of this job name (`propertyFile`), matched by the archived file's name, then its relative path, and
parsed by suffix (YAML, JSON, else Java properties). A missing or unparsable property file does not stop
the event: as in Echo the trigger still fires, with empty `properties`; the problem is logged and kept in
the event's details (`propertyErrors`). A trigger with `payloadConstraints` needs its property file: every
key must be a top-level property whose text a regex *finds* (RE2), and without the file it does not match.
A build that cannot be read (any failure but a 404: it was deleted) or whose property file cannot be read for
a passing reason (5xx, the master unreachable) is held with the builds after it for the next poll; the
`MAX_ATTEMPTS`th poll fires it with what could be read (the listing's summary as `buildInfo`).
Numbers going back (the job created again) record what is listed and fire nothing.

Failures are logged once per incident (`IncidentLog`): those of the whole master (unreachable, refused
address, 401) in one log shared by the master's pollers, those of one job (404, 403, 5xx) in the poller's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from gennaker.artifacts.fetchers.guard import ConnectGuard, OutboundPolicy, public_only_guard
from gennaker.ci.jenkins.accounts import JenkinsMaster, JenkinsMasters, jenkins_masters
from gennaker.ci.jenkins.builds import generic_build
from gennaker.ci.jenkins.client import InvalidJobName, JenkinsClient, JenkinsError, job_path
from gennaker.ci.jenkins.properties import PropertyFileError, parse_property_file
from gennaker.triggers.incidents import IncidentLog
from gennaker.triggers.scheduler import PolledEvent, Poller, enabled_triggers, poll_interval

log = logging.getLogger("gennaker.triggers.jenkins")

DEFAULT_INTERVAL_S = 60.0  # Igor's spinnaker.build.pollInterval
MAX_ATTEMPTS = 5  # polls a build is held for a passing failure (Echo retries its property fetch 5 times)
MAX_PROPERTY_FILE_BYTES = 4 * 1024 * 1024
ClientMaker = Callable[[JenkinsMaster, ConnectGuard | None], JenkinsClient]
_warned: set[tuple[str, str]] = set()


class _Held(Exception):
    """A build whose details or property file could not be read for a passing reason: try again next poll."""

    def __init__(self, error: JenkinsError):
        super().__init__(str(error))
        self.error = error


@dataclass
class _Cursor:
    cursor: int
    done: set[int] = field(default_factory=set)
    attempts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of(cls, state: Mapping[str, Any] | None) -> _Cursor | None:
        """The stored cursor; None before the first successful poll."""
        if not state or isinstance(state.get("cursor"), bool) or not isinstance(state.get("cursor"), int):
            return None
        done = {int(n) for n in state.get("done") or [] if isinstance(n, int) and not isinstance(n, bool)}
        raw = state.get("attempts")
        attempts = {int(k): int(v) for k, v in raw.items() if str(k).isdigit()} if isinstance(raw, Mapping) else {}
        return cls(int(state["cursor"]), done, attempts)

    def state(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "done": sorted(n for n in self.done if n > self.cursor),
            "attempts": {str(n): k for n, k in sorted(self.attempts.items()) if n > self.cursor},
        }


class JenkinsPoller:
    """The completed builds of one job of one Jenkins master."""

    trigger_type = "jenkins"

    def __init__(
        self,
        client: JenkinsClient,
        job: str,
        property_files: Iterable[str] = (),
        interval_s: float = DEFAULT_INTERVAL_S,
        master_incidents: IncidentLog | None = None,
    ):
        self.client = client
        self.master = client.name
        self.job = job
        self.key = f"jenkins:{self.master}/{job}"
        self.property_files = sorted({f.strip() for f in property_files if f and f.strip()})
        self.interval_s = float(interval_s)
        self.incidents = IncidentLog(log, f"Jenkins trigger {self.master}/{job}")
        self.master_incidents = master_incidents or master_incident_log(self.master)
        self._unread_warned: set[str] = set()

    # -- polling ------------------------------------------------------------------------------------
    def poll(self, state: dict[str, Any] | None) -> tuple[list[PolledEvent], dict[str, Any]]:
        kept = dict(state) if state is not None else {}
        known = _Cursor.of(state)
        try:
            listed = self._listed()
        except JenkinsError as error:
            self._failed(error, "")
            return [], kept
        if known is None:
            self._succeeded()
            return [], _baseline(listed).state()
        if not listed:  # nothing to do; a job whose builds all went keeps its cursor (no storm if they return)
            self._succeeded()
            return [], known.state()
        if max(listed) < known.cursor:
            log.warning(
                "job '%s' on Jenkins master '%s' lists no build after #%d (its builds were deleted or the job was "
                "created again): what it lists now is recorded and starts nothing",
                self.job,
                self.master,
                known.cursor,
            )
            self._succeeded()
            return [], _baseline(listed).state()
        events, held = self._handle(listed, known)
        if held is None:
            self._succeeded()
        else:
            self._failed(held.error, "reading a finished build: ")
        return events, _advance(listed, known).state()

    def _listed(self) -> dict[int, dict[str, Any]]:
        """The builds the job lists, by number."""
        listed: dict[int, dict[str, Any]] = {}
        for build in self.client.builds(self.job):
            number = build.get("number")
            if isinstance(number, int) and not isinstance(number, bool) and number > 0:
                listed[number] = build
        return listed

    def _handle(self, listed: dict[int, dict[str, Any]], known: _Cursor) -> tuple[list[PolledEvent], _Held | None]:
        """Events for the completed builds above the cursor, oldest first, marking each handled in `known`;
        stops at a build held for a passing failure (it and the later ones are tried again next poll)."""
        events: list[PolledEvent] = []
        for number in sorted(listed):
            build = listed[number]
            if number <= known.cursor or number in known.done or not _completed(build):
                continue
            if build.get("result") != "SUCCESS":
                known.done.add(number)
                continue
            attempt = known.attempts.get(number, 0) + 1
            try:
                event = self._event(number, build, final=attempt >= MAX_ATTEMPTS)
            except _Held as held:
                known.attempts[number] = attempt
                return events, held
            known.done.add(number)
            known.attempts.pop(number, None)
            if event is not None:
                events.append(event)
        return events, None

    def _event(self, number: int, summary: Mapping[str, Any], *, final: bool) -> PolledEvent | None:
        """The event of a successful build; None when it turned out otherwise (deleted, another result)."""
        problems: dict[str, str] = {}
        build_error: str | None = None
        try:
            raw = self.client.build(self.job, number)
        except JenkinsError as error:
            if error.status == 404:
                log.info(
                    "build #%d of job '%s' on master '%s' was deleted before it was read", number, self.job, self.master
                )
                return None
            if not final:
                raise _Held(error) from None
            raw = dict(summary)
            build_error = str(error)
        if raw.get("building") is True or raw.get("result") != "SUCCESS":
            return None
        info = generic_build(self.job, raw)
        properties: dict[str, dict[str, Any]] = {}
        for name in self.property_files:
            try:
                properties[name] = self._properties(number, name, info.get("artifacts") or [])
            except JenkinsError as error:
                if _passing(error) and not final:
                    raise _Held(error) from None
                problems[name] = str(error)
            except PropertyFileError as error:
                problems[name] = str(error)
        missing = [("its details", build_error)] if build_error is not None else []
        missing += [(f"the properties of {name}", problem) for name, problem in problems.items()]
        for what, problem in missing:
            log.warning(
                "build #%d of job '%s' on Jenkins master '%s' fires its triggers without %s: %s",
                number,
                self.job,
                self.master,
                what,
                problem,
            )
        payload: dict[str, Any] = {
            "master": self.master,
            "job": self.job,
            "buildNumber": number,
            "result": "SUCCESS",
            "url": info.get("url"),
            "buildInfo": info,
            "properties": properties,
        }
        if problems:
            payload["propertyErrors"] = problems
        if build_error is not None:
            payload["buildInfoError"] = build_error
        return PolledEvent(f"{self.key}:{number}", payload)

    def _properties(self, number: int, name: str, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
        """The key/values of the archived file called `name` (by file name, else by relative path)."""
        found = next((a for a in artifacts if a.get("fileName") == name), None) or next(
            (a for a in artifacts if a.get("relativePath") == name.lstrip("/")), None
        )
        if found is None or not found.get("relativePath"):
            archived = ", ".join(str(a.get("relativePath")) for a in artifacts[:20]) or "nothing"
            raise PropertyFileError(f"the build archived no file named {name} (it archived: {archived})")
        content = self.client.artifact(self.job, number, str(found["relativePath"]), MAX_PROPERTY_FILE_BYTES)
        return parse_property_file(name, content)

    def _failed(self, error: JenkinsError, what: str) -> None:
        if _master_wide(error):
            self.master_incidents.failed(_incident_kind(error), f"{what}{error}")
            return
        self.master_incidents.succeeded()  # it answered: whatever is wrong is this job's
        self.incidents.failed(_incident_kind(error), f"{what}{error}")

    def _succeeded(self) -> None:
        self.master_incidents.succeeded()
        self.incidents.succeeded()

    # -- matching -----------------------------------------------------------------------------------
    def matches(self, trigger: Mapping[str, Any], event: PolledEvent) -> bool:
        return jenkins_trigger_matches(trigger, event.payload)

    def runtime_trigger(self, trigger: Mapping[str, Any], event: PolledEvent) -> dict[str, Any]:
        name = _property_file(trigger)
        payload = event.payload
        read = {*(payload.get("properties") or {}), *(payload.get("propertyErrors") or {})}
        if name and name not in read and name not in self._unread_warned:
            self._unread_warned.add(name)
            log.warning(
                "%s: property file %s was not read (the pollers were built before a trigger named it)", self.key, name
            )
        return jenkins_runtime_trigger(trigger, payload)


def jenkins_trigger_matches(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Echo's `BuildEventHandler` rule for one saved jenkins trigger and one build event: the same `master` and
    `job` (exactly), a SUCCESS, and `payloadConstraints` found in the trigger's property file."""
    if not trigger.get("master") or not trigger.get("job"):
        return False
    if trigger["master"] != event.get("master") or trigger["job"] != event.get("job"):
        return False
    if event.get("result") != "SUCCESS":
        return False
    constraints = trigger.get("payloadConstraints")
    if not isinstance(constraints, Mapping) or not constraints:
        return True
    name = _property_file(trigger)
    properties = (event.get("properties") or {}).get(name) if name else None
    if not isinstance(properties, Mapping):
        return False  # Echo: constraints need the property file
    return all(_constraint_holds(str(key), pattern, properties) for key, pattern in constraints.items())


def jenkins_runtime_trigger(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's trigger as Echo builds it: the saved trigger's keys with `buildNumber`, `buildInfo`,
    `properties` (of its `propertyFile`; `{}` without one or when it could not be read), `link`, `eventId` and
    the build's artifacts (its archived files, plus a docker image or jar its properties describe)."""
    name = _property_file(trigger)
    found = (event.get("properties") or {}).get(name) if name else None
    properties = dict(found) if isinstance(found, Mapping) else {}
    info = dict(event.get("buildInfo") or {})
    return {
        **dict(trigger),
        "type": "jenkins",
        "master": event["master"],
        "job": event["job"],
        "buildNumber": event["buildNumber"],
        "buildInfo": info,
        "properties": properties,
        "link": event.get("url"),
        "eventId": str(uuid.uuid4()),
        "artifacts": build_artifacts(info, properties),
    }


def build_artifacts(info: Mapping[str, Any], properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The build's archived files as `jenkins/file` artifacts, then the artifact its properties describe with
    Igor's `messageFormat` (DOCKER: `image=<name>:<tag>`; JAR: `group`, `artifact`, `version`, `classifier`,
    `repotype`)."""
    found: list[dict[str, Any]] = []
    for archived in info.get("artifacts") or []:
        if not isinstance(archived, Mapping) or not archived.get("relativePath"):
            continue
        found.append(
            {
                "type": "jenkins/file",
                "name": archived.get("name") or info.get("name"),
                "version": archived.get("version") or str(info.get("number")),
                "reference": archived["relativePath"],
                "provenance": info.get("url"),
                "metadata": {"fileName": archived.get("fileName"), "displayPath": archived.get("displayPath")},
            }
        )
    described = _described_artifact(properties)
    if described is not None:
        found.append(described)
    return found


def _described_artifact(properties: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = str(properties.get("messageFormat") or "").strip().upper()
    if not kind:
        return None
    if properties.get("customFormat") in (True, "true"):
        log.info("custom messageFormat templates are not supported; no artifact is made from the properties")
        return None
    if kind == "DOCKER":
        image = str(properties.get("image") or "").strip()
        slash = image.rfind("/")
        colon = image.rfind(":")
        if not image or colon <= slash:
            log.info("messageFormat DOCKER needs image=<name>:<tag>, not %r", image)
            return None
        return {"type": "docker/image", "name": image[:colon], "version": image[colon + 1 :], "reference": image}
    if kind == "JAR":
        parts = {k: str(properties.get(k) or "").strip() for k in ("group", "artifact", "version", "repotype")}
        if not all(parts.values()):
            log.info("messageFormat JAR needs group, artifact, version and repotype")
            return None
        classifier = str(properties.get("classifier") or "").strip()
        reference = f"{parts['group']}:{parts['artifact']}:{parts['version']}" + (
            f":{classifier}" if classifier else ""
        )
        return {
            "type": f"{parts['repotype']}/file",
            "name": f"{parts['artifact']}-{parts['version']}",
            "version": parts["version"],
            "reference": reference,
        }
    log.info("messageFormat %r is not DOCKER or JAR; no artifact is made from the properties", kind)
    return None


# -- building the pollers ---------------------------------------------------------------------------------
def jenkins_pollers(
    masters: JenkinsMasters,
    pipelines: list[dict[str, Any]],
    *,
    guard: ConnectGuard | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
    client_maker: ClientMaker | None = None,
    incidents: dict[str, IncidentLog] | None = None,
) -> list[Poller]:
    """One poller per (master, job) named by an enabled jenkins trigger of an enabled pipeline, reading the
    property files those triggers name. Touches no network, so build them again when the pipelines change
    (pass the same `incidents` to keep each master's failure log across rebuilds).

    `guard` checks every request (default: public addresses only, `outbound` without exceptions). Triggers
    naming a master that is not configured, or an invalid job name, are skipped with one warning."""
    guard = guard if guard is not None else public_only_guard()
    make = client_maker or JenkinsClient
    shared = incidents if incidents is not None else {}
    files: dict[tuple[str, str], set[str]] = {}
    for trigger in enabled_triggers(pipelines, "jenkins"):
        name_of_master, job = str(trigger.get("master") or ""), str(trigger.get("job") or "")
        if not name_of_master or not job:
            continue
        if masters.get(name_of_master) is None:
            _warn_once(
                name_of_master,
                f"jenkins triggers naming master {name_of_master!r} are not polled: ci.jenkins has no such master",
            )
            continue
        try:
            job_path(job)
        except InvalidJobName as error:
            _warn_once(f"{name_of_master}/{job}", f"jenkins triggers naming job {job!r} are not polled: {error}")
            continue
        wanted = files.setdefault((name_of_master, job), set())
        name = _property_file(trigger)
        if name:
            wanted.add(name)
    pollers: list[Poller] = []
    clients: dict[str, JenkinsClient] = {}
    for (master_name, job), names in files.items():
        if master_name not in clients:
            master = masters.get(master_name)
            assert master is not None  # triggers naming other masters were skipped above
            clients[master_name] = make(master, guard)
        client = clients[master_name]
        log_of_master = shared.setdefault(master_name, master_incident_log(master_name))
        pollers.append(JenkinsPoller(client, job, names, interval_s, log_of_master))
    return pollers


def jenkins_pollers_from_config(
    config: Mapping[str, Any], pipelines: list[dict[str, Any]], incidents: dict[str, IncidentLog] | None = None
) -> list[Poller]:
    """`jenkins_pollers` for a whole configuration file: masters from `ci.jenkins`, requests checked by its
    `outbound` policy, every `scheduler.jenkins.intervalSeconds` (60). Raises `JenkinsConfigError`,
    `OutboundConfigError` or `ValueError` for an invalid section."""
    guard = public_only_guard(OutboundPolicy.from_config(config.get("outbound")))
    interval_s = poll_interval(config, "jenkins", DEFAULT_INTERVAL_S)
    return jenkins_pollers(jenkins_masters(config), pipelines, guard=guard, interval_s=interval_s, incidents=incidents)


# -- helpers ----------------------------------------------------------------------------------------------
def master_incident_log(master: str) -> IncidentLog:
    """The log of failures of a whole master (unreachable, bad credentials), shared by its pollers."""
    return IncidentLog(log, f"Jenkins triggers of master {master}")


def _property_file(trigger: Mapping[str, Any]) -> str:
    return str(trigger.get("propertyFile") or "").strip()


def _completed(build: Mapping[str, Any]) -> bool:
    return build.get("building") is False and build.get("result") is not None


def _baseline(listed: Mapping[int, Mapping[str, Any]]) -> _Cursor:
    """What exists, recorded: completed builds are handled; running ones stay above the cursor."""
    running = [n for n, b in listed.items() if not _completed(b)]
    cursor = min(running) - 1 if running else max(listed, default=0)
    return _Cursor(cursor, {n for n, b in listed.items() if n > cursor and _completed(b)})


def _advance(listed: Mapping[int, Mapping[str, Any]], known: _Cursor) -> _Cursor:
    """Move the cursor up to the oldest listed build above it that is not handled yet (running or held)."""
    pending = [n for n in listed if n > known.cursor and n not in known.done]
    cursor = min(pending) - 1 if pending else max([known.cursor, *listed])
    return _Cursor(max(cursor, known.cursor), known.done, known.attempts)


def _passing(error: JenkinsError) -> bool:
    return error.retryable or error.status is None or error.status >= 500


def _master_wide(error: JenkinsError) -> bool:
    """Failures of the whole master (every job of it fails alike): no answer, a refused address, bad credentials."""
    return error.status is None or error.status == 401


def _incident_kind(error: JenkinsError) -> str:
    if error.status is None:
        return "unreachable"
    if error.status in (401, 403):
        return f"auth-{error.status}"
    return f"http-{error.status}"


def _constraint_holds(key: str, pattern: Any, properties: Mapping[str, Any]) -> bool:
    """Echo's `isConstraintInPayload`: a top-level key with a value, in whose text the regex is found."""
    value = properties.get(key)
    if value is None:
        return False
    if pattern is None:
        return True
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    try:
        return re2.search(str(pattern), text) is not None
    except re2.error:
        log.info("invalid payloadConstraints regex %r never matches", pattern)
        return False


def _warn_once(what: str, message: str) -> None:
    if ("jenkins", what) in _warned:
        return
    _warned.add(("jenkins", what))
    log.warning("%s", message)
