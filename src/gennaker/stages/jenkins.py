"""`jenkins`: start a job on a configured Jenkins master, wait for its build, read its property file
(orca.md §3.5, echo-igor.md §3). Orca asks Igor, which asks Jenkins; here the stage asks Jenkins itself.

Tasks, all external (they talk to Jenkins outside the database transaction):

1. `startJenkinsJob` reads the job (is it buildable, which parameters it defines), then POSTs `build` or
   `buildWithParameters` and records the queue item as `queuedBuild`. Network errors and 429/502/503/504
   are retried with backoff for `ci.jenkins.startTimeoutSeconds` (15 min); other errors fail at once.
   A task that already recorded `queuedBuild` does not start a second build.
2. `waitForJenkinsJobStart` polls the queue item until it names its build (`buildNumber`). A build still
   queued after `ci.jenkins.queueTimeoutSeconds` (2 h) fails the stage, naming master, job and why Jenkins
   kept it (and the stage's cancellation takes it out of the queue).
3. With `waitForCompletion` (default): `monitorJenkinsJob` polls the build with a growing interval (a
   quarter of the time waited so far, between 0.25 s and `ci.jenkins.maxPollIntervalSeconds`) and maps its
   result as Orca: SUCCESS → SUCCEEDED; UNSTABLE → TERMINAL, or SUCCEEDED with `markUnstableAsSuccessful`;
   FAILURE → TERMINAL; ABORTED → CANCELED. `buildInfo` (Igor's GenericBuild: url, number, result,
   artifacts, …) goes to the context and the outputs.
4. `getBuildProperties`, with a `propertyFile`: the archived artifact of that file name is downloaded and
   parsed (YAML, JSON or Java properties); its keys go to the context (except the stage's own keys) and to
   the outputs, plus `propertyFileContents`, so downstream stages can write `${KEY}`. A missing, empty or
   malformed file fails the stage with a message naming it. A build that failed still gets its property
   file read when it has one (what Orca's "Try to get properties file" after-stage does).

Cancelling the stage (the execution is cancelled, or the stage fails while the build still runs) stops the
build, or takes it out of the queue, from a background thread so that no transaction waits on Jenkins.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field

from gennaker.artifacts.fetchers import OutboundPolicy, public_only_guard
from gennaker.artifacts.fetchers.guard import ConnectGuard
from gennaker.ci.jenkins import (
    JenkinsClient,
    JenkinsError,
    JenkinsMaster,
    JenkinsMasters,
    PropertyFileError,
    generic_build,
    jenkins_masters,
    parameter_definitions,
    parse_property_file,
)
from gennaker.engine.contracts import (
    Cancellation,
    EngineServices,
    StageDefinition,
    StageFailure,
    Task,
    TaskContext,
    TaskResult,
    exception_details,
)
from gennaker.engine.registry import Registry
from gennaker.model.execution import Execution, Stage
from gennaker.model.stage_context import FlagValue, Loc, MapValue, StageContext, TextValue, present
from gennaker.model.status import Status
from gennaker.stages.artifacts import with_artifact_binding

log = logging.getLogger(__name__)

MIN_POLL_MS = 250
MONITOR_TIMEOUT_MS = 2 * 3600 * 1000  # Orca's monitorJenkinsJob; `stageTimeoutMs` overrides it
PROPERTIES_TIMEOUT_MS = 60 * 1000
MAX_PROPERTY_FILE_BYTES = 4 * 1024 * 1024
MAX_CONSECUTIVE_ERRORS = 5
# Keys a property file may not overwrite in the stage context (they still reach the outputs).
STAGE_KEYS = frozenset(
    {
        "master",
        "job",
        "parameters",
        "propertyFile",
        "property",
        "markUnstableAsSuccessful",
        "waitForCompletion",
        "expectedArtifacts",
        "queuedBuild",
        "buildNumber",
        "buildInfo",
        "consecutiveErrors",
        "propertyFileContents",
        "exception",
        "type",
        "name",
        "refId",
        "requisiteStageRefIds",
        "stageTimeoutMs",
        "failPipeline",
        "continuePipeline",
        "completeOtherBranchesThenFail",
    }
)

AccountCheck = Callable[[str | None, Mapping[str, Any], str], bool]
ClientMaker = Callable[[JenkinsMaster, ConnectGuard | None], JenkinsClient]


class JenkinsContext(StageContext):
    """The keys Deck's Jenkins stage writes (echo-igor.md §3.1)."""

    master: TextValue = Field(None, title="Jenkins master")
    job: TextValue = Field(None, title="Job", description="A job in a folder is folder/job/name")
    parameters: MapValue = Field(None, title="Parameters (YAML)", description="Sent as the build's parameters")
    propertyFile: TextValue = Field(
        None, title="Property file", description="An archived artifact whose keys become stage outputs"
    )
    property: TextValue = Field(None, description="Older spelling of propertyFile")
    markUnstableAsSuccessful: FlagValue = Field(False, title="Consider unstable builds successful")
    waitForCompletion: FlagValue = Field(True, title="Wait for the build to finish")

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return [((key,), "is required") for key in ("master", "job") if not present(data, key)]


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def waits_for_completion(stage: Stage) -> bool:
    return _flag(stage.context.get("waitForCompletion"), True)


def property_file(context: Mapping[str, Any]) -> str | None:
    value = context.get("propertyFile") or context.get("property")
    return (str(value).strip() or None) if value else None


class JenkinsAccess:
    """The configured masters and how the stage reaches them: the outbound guard and the permission check."""

    def __init__(
        self,
        masters: JenkinsMasters,
        guard: ConnectGuard | None,
        account_check: AccountCheck | None = None,
        client_maker: ClientMaker | None = None,
    ):
        self.masters = masters
        self.guard = guard
        self.account_check = account_check
        self.client_maker: ClientMaker = client_maker or JenkinsClient

    def client(self, master: JenkinsMaster) -> JenkinsClient:
        return self.client_maker(master, self.guard)

    def allows(self, user: str | None, master: JenkinsMaster, permission: str) -> bool:
        return self.account_check is None or self.account_check(user, master.permissions, permission)

    def master_of(self, context: Mapping[str, Any]) -> JenkinsMaster:
        name = context.get("master")
        if not name:
            raise StageFailure("the jenkins stage needs `master`: the name of a Jenkins master (ci.jenkins.masters)")
        master = self.masters.get(str(name))
        if master is None:
            known = ", ".join(self.masters.names) or "none"
            raise StageFailure(f"Jenkins master '{name}' is not configured (ci.jenkins.masters: {known})")
        return master

    def stage_client(self, tc: TaskContext, permission: str | None = None) -> tuple[JenkinsClient, str]:
        """The client of the stage's master and the job, after checking the execution's user may use it."""
        master = self.master_of(tc.ctx)
        job = tc.ctx.get("job")
        if not job or not isinstance(job, str):
            raise StageFailure("the jenkins stage needs `job`: the job's name (folder/job/name for a job in a folder)")
        user = tc.execution.authentication.get("user")
        if permission is not None and not self.allows(user, master, permission):
            raise StageFailure(f"{user or 'anonymous'} lacks {permission} permission on Jenkins master '{master.name}'")
        return self.client(master), job

    def stop(self, master_name: str, job: str, queued: str, number: int | None) -> None:
        """Stop the build (or take the queued build out of the queue); failures are logged, as Orca does."""
        master = self.masters.get(master_name)
        if master is None:
            return
        client = self.client(master)
        try:
            if number:
                client.stop(job, number)
            else:
                client.cancel_queue_item(queued)
            log.info("stopped %s #%s (queue item %s) on Jenkins master %s", job, number or "-", queued, master_name)
        except JenkinsError as exc:
            log.warning("stopping %s on Jenkins master %s failed: %s", job, master_name, exc)
        except Exception:  # runs on its own thread: nothing else would report it
            log.exception("stopping %s on Jenkins master %s failed", job, master_name)


class JenkinsStage(StageDefinition):
    type = "jenkins"
    context_schema = JenkinsContext

    def __init__(self, access: JenkinsAccess):
        self.access = access

    def tasks(self, stage: Stage) -> list[str]:
        tasks = [StartJenkinsJobTask.name, WaitForJenkinsJobStartTask.name]
        if waits_for_completion(stage):
            tasks += [MonitorJenkinsJobTask.name, GetBuildPropertiesTask.name]
        return with_artifact_binding(stage, tasks)

    def prepare_for_restart(self, stage: Stage) -> None:
        for key in ("queuedBuild", "buildNumber", "buildInfo", "consecutiveErrors", "propertyFileContents"):
            stage.context.pop(key, None)
        for key in stage.outputs:  # property-file keys copied into the context
            if key not in STAGE_KEYS:
                stage.context.pop(key, None)
        stage.outputs.clear()

    def cancel(self, execution: Execution, stage: Stage, services: EngineServices) -> Cancellation:
        """Stop the build the stage started unless it is known to have finished."""
        ctx = stage.context
        queued, master, job = ctx.get("queuedBuild"), ctx.get("master"), ctx.get("job")
        if not queued or not master or not isinstance(job, str):
            return Cancellation()
        info = ctx.get("buildInfo")
        if isinstance(info, dict) and info.get("building") is False and info.get("result") not in (None, "BUILDING"):
            return Cancellation()
        number = ctx.get("buildNumber")
        known = int(number) if isinstance(number, int | str) and str(number).isdigit() else None
        threading.Thread(
            target=self.access.stop, args=(str(master), job, str(queued), known), name="jenkins-stop", daemon=True
        ).start()
        return Cancellation()


class _JenkinsTask(Task):
    external = True

    def __init__(self, access: JenkinsAccess):
        self.access = access

    def _elapsed_ms(self, tc: TaskContext) -> int:
        for task in tc.stage.tasks:
            if task.implementing_class == self.name and task.status is Status.RUNNING and task.start_time:
                return max(0, tc.now - task.start_time)
        return 0

    def _poll_ms(self, tc: TaskContext, limit_ms: float | None = None) -> int:
        """A quarter of the time waited so far, within [0.25 s, maxPollIntervalSeconds] and the time left."""
        elapsed = self._elapsed_ms(tc)
        backoff = int(max(MIN_POLL_MS, min(self.access.masters.max_poll_s * 1000, elapsed / 4)))
        if limit_ms is not None:
            backoff = int(max(1, min(backoff, limit_ms - elapsed + 1)))
        return backoff


class StartJenkinsJobTask(_JenkinsTask):
    name = "startJenkinsJob"

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("queuedBuild"):
            return TaskResult.succeeded()  # already started: a retried task must not start a second build
        client, job = self.access.stage_client(tc, "WRITE")
        parameters = build_parameters(tc.ctx.get("parameters"))
        limit_ms = self.access.masters.start_timeout_s * 1000
        try:
            raw_job = client.job(job)
            if raw_job.get("buildable") is False:
                raise StageFailure(
                    f"Job '{job}' on Jenkins master '{client.name}' is not buildable. It may be disabled."
                )
            definitions = parameter_definitions(raw_job)
            check_parameters(client.name, job, definitions, parameters)
            queued = client.start(job, parameters, with_parameters=bool(definitions))
        except JenkinsError as exc:
            if not exc.retryable:
                raise StageFailure(str(exc)) from None
            if self._elapsed_ms(tc) >= limit_ms:
                raise StageFailure(
                    f"Could not start job '{job}' on Jenkins master '{client.name}' within {_seconds(limit_ms)}: {exc}"
                ) from None
            log.info("starting %s on %s failed, will retry: %s", job, client.name, exc)
            return TaskResult.running(backoff_ms=self._poll_ms(tc, limit_ms))
        return TaskResult.succeeded({"queuedBuild": queued})


class WaitForJenkinsJobStartTask(_JenkinsTask):
    name = "waitForJenkinsJobStart"

    def execute(self, tc: TaskContext) -> TaskResult:
        queued = tc.ctx.get("queuedBuild")
        if not queued:
            raise StageFailure("no queued build to wait for: startJenkinsJob recorded none")
        client, job = self.access.stage_client(tc)
        limit_ms = self.access.masters.queue_timeout_s * 1000
        why = ""
        try:
            item = client.queue_item(str(queued))
        except JenkinsError as exc:
            if not (exc.retryable or exc.status in (500, 503)):
                raise StageFailure(str(exc)) from None
            item, why = None, str(exc)
        if item is not None:
            executable = item.get("executable")
            number = executable.get("number") if isinstance(executable, dict) else None
            if isinstance(number, int):
                url = executable.get("url") if isinstance(executable, dict) else None
                info = {k: v for k, v in {"name": job, "number": number, "url": url}.items() if v is not None}
                return TaskResult.succeeded({"buildNumber": number, "buildInfo": info})
            if item.get("cancelled") is True:
                message = f"The queued build of job '{job}' on Jenkins master '{client.name}' was cancelled in Jenkins"
                return TaskResult(Status.CANCELED, {"exception": exception_details(message)})
            why = str(item.get("why") or "")
        if self._elapsed_ms(tc) >= limit_ms:
            reason = f"; Jenkins says: {why}" if why else ""
            raise StageFailure(
                f"The build of job '{job}' on Jenkins master '{client.name}' did not leave the queue within "
                f"{_seconds(limit_ms)} (queue item {queued}{reason})"
            )
        return TaskResult.running(backoff_ms=self._poll_ms(tc, limit_ms))


class MonitorJenkinsJobTask(_JenkinsTask):
    name = "monitorJenkinsJob"
    timeout_ms = MONITOR_TIMEOUT_MS
    timeout_overridable = True

    def execute(self, tc: TaskContext) -> TaskResult:
        number = _build_number(tc.ctx)
        client, job = self.access.stage_client(tc)
        try:
            raw = client.build(job, number)
        except JenkinsError as exc:
            if exc.retryable or exc.status in (404, 500, 503):
                return TaskResult.running(backoff_ms=self._poll_ms(tc))
            raise StageFailure(str(exc)) from None
        info = generic_build(job, raw)
        result = raw.get("result")
        if raw.get("building") is True or result not in ("SUCCESS", "UNSTABLE", "FAILURE", "ABORTED"):
            return TaskResult.running(backoff_ms=self._poll_ms(tc), buildInfo=info)
        context: dict[str, Any] = {"buildInfo": info}
        outputs: dict[str, Any] = {"buildInfo": info}
        unstable_ok = _flag(tc.ctx.get("markUnstableAsSuccessful"), False)
        if result == "SUCCESS" or (result == "UNSTABLE" and unstable_ok):
            return TaskResult(Status.SUCCEEDED, context, outputs)
        described = f"Build #{number} of job '{job}' on Jenkins master '{client.name}'"
        link = f" (see {info['url']})" if info.get("url") else " (see Jenkins)"
        status, message = {
            "UNSTABLE": (Status.TERMINAL, f"{described} is unstable{link}"),
            "FAILURE": (Status.TERMINAL, f"{described} failed{link}"),
            "ABORTED": (Status.CANCELED, f"{described} was aborted{link}"),
        }[str(result)]
        self._properties_after_failure(tc, client, job, number, raw, context, outputs)
        context["exception"] = exception_details(message)
        return TaskResult(status, context, outputs)

    def _properties_after_failure(
        self,
        tc: TaskContext,
        client: JenkinsClient,
        job: str,
        number: int,
        raw: Mapping[str, Any],
        context: dict[str, Any],
        outputs: dict[str, Any],
    ) -> None:
        """Read the property file of a failed build when it archived one; problems are only logged."""
        name = property_file(tc.ctx)
        if not name:
            return
        try:
            properties = read_properties(client, job, number, name, generic_build(job, raw).get("artifacts") or [])
        except (StageFailure, JenkinsError) as exc:
            log.info("no properties from failed build %s #%s: %s", job, number, exc)
            return
        context.update(_context_properties(properties))
        outputs.update({**properties, "propertyFileContents": properties})


class GetBuildPropertiesTask(_JenkinsTask):
    name = "getBuildProperties"
    timeout_ms = PROPERTIES_TIMEOUT_MS

    def execute(self, tc: TaskContext) -> TaskResult:
        name = property_file(tc.ctx)
        if not name:
            return TaskResult.succeeded()
        if tc.ctx.get("buildNumber") in (None, ""):
            raise StageFailure(
                "Can't retrieve property file because the build number is not available, check for build start failures"
            )
        number = _build_number(tc.ctx)
        client, job = self.access.stage_client(tc)
        info = tc.ctx.get("buildInfo")
        try:
            artifacts = info.get("artifacts") if isinstance(info, dict) and "artifacts" in info else None
            if artifacts is None:
                artifacts = generic_build(job, client.build(job, number)).get("artifacts") or []
            properties = read_properties(client, job, number, name, artifacts)
        except JenkinsError as exc:
            errors = int(tc.ctx.get("consecutiveErrors") or 0) + 1
            if not (exc.retryable or exc.status in (500, 503)) or errors >= MAX_CONSECUTIVE_ERRORS:
                raise StageFailure(f"Could not read property file {name}: {exc}") from None
            return TaskResult.running(backoff_ms=self._poll_ms(tc, PROPERTIES_TIMEOUT_MS), consecutiveErrors=errors)
        context = {**_context_properties(properties), "propertyFileContents": properties, "consecutiveErrors": 0}
        return TaskResult.succeeded(context, {**properties, "propertyFileContents": properties})


def read_properties(
    client: JenkinsClient, job: str, number: int, name: str, artifacts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The key/values of the archived file called `name` (its file name, else its relative path)."""
    described = f"build #{number} of job '{job}' on Jenkins master '{client.name}'"
    found = next((a for a in artifacts if a.get("fileName") == name), None) or next(
        (a for a in artifacts if a.get("relativePath") == name.lstrip("/")), None
    )
    if found is None or not found.get("relativePath"):
        archived = ", ".join(str(a.get("relativePath")) for a in artifacts[:20]) or "nothing"
        raise StageFailure(f"Expected properties file {name} but {described} did not archive it (archived: {archived})")
    content = client.artifact(job, number, str(found["relativePath"]), MAX_PROPERTY_FILE_BYTES)
    try:
        return parse_property_file(name, content)
    except PropertyFileError as exc:
        raise StageFailure(f"Expected properties file {name} of {described} to hold key/values, but {exc}") from None


def build_parameters(value: Any) -> dict[str, str]:
    """The stage's `parameters` as Jenkins query parameters (text; booleans as true/false; lists joined by ,)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, Mapping):
        raise StageFailure(f"parameters must be a map of names to values, not {type(value).__name__}")
    return {str(k): _parameter_text(v) for k, v in value.items()}


def _parameter_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_parameter_text(v) for v in value)
    return str(value)


def check_parameters(master: str, job: str, definitions: list[dict[str, Any]], parameters: Mapping[str, str]) -> None:
    """Refuse what Jenkins would silently mishandle: parameters for a job that has none, a value outside a
    choice parameter's choices (as Igor does)."""
    if parameters and not definitions:
        raise StageFailure(
            f"Job '{job}' on Jenkins master '{master}' takes no parameters, but the stage sets {', '.join(parameters)}"
        )
    for definition in definitions:
        choices = definition.get("choices")
        name = str(definition.get("name"))
        if (
            isinstance(choices, list)
            and name in parameters
            and str(definition.get("type") or "").endswith("ChoiceParameterDefinition")
            and parameters[name] not in [str(c) for c in choices]
        ):
            raise StageFailure(
                f"`{parameters[name]}` is not a valid choice for `{name}`. Valid choices are: "
                + ", ".join(str(c) for c in choices)
            )


def _build_number(context: Mapping[str, Any]) -> int:
    value = context.get("buildNumber")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise StageFailure("no build number: the build never started, check for build start failures")
    return int(value)


def _context_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if k not in STAGE_KEYS}


def _seconds(ms: float) -> str:
    seconds = ms / 1000
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def jenkins_stage(
    config: Mapping[str, Any], account_check: AccountCheck | None = None, client_maker: ClientMaker | None = None
) -> tuple[JenkinsStage, Task, Task, Task, Task]:
    """The stage and its tasks, for `Registry.add_stage(*…)`, on the masters of the configuration file
    (`ci.jenkins`) reached through its `outbound` policy; `account_check(user, permissions, READ|WRITE)`
    decides who may use a master (None: everyone)."""
    masters = jenkins_masters(config)
    guard = public_only_guard(OutboundPolicy.from_config(config.get("outbound")))
    access = JenkinsAccess(masters, guard, account_check, client_maker)
    return (
        JenkinsStage(access),
        StartJenkinsJobTask(access),
        WaitForJenkinsJobStartTask(access),
        MonitorJenkinsJobTask(access),
        GetBuildPropertiesTask(access),
    )


def jenkins_access(registry: Registry) -> JenkinsAccess | None:
    """The masters the registered `jenkins` stage uses (for the build routes and `account list`)."""
    definition = registry.find(JenkinsStage.type)
    return definition.access if isinstance(definition, JenkinsStage) else None
