"""The one way an execution starts.

A person (API, UI, CLI), an inbound webhook, a scheduler event (cron, a polled tag or build), a finished
parent (`pipeline` triggers), a `pipeline` stage and an ad-hoc task all start executions here, so who an
execution acts as is decided in one place (docs/security.md, "Who an execution acts as"), every start by a
saved trigger is recorded in the trigger history, and the workers are woken once the start is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from gennaker.auth.permissions import Permissions
from gennaker.engine.contracts import StageFailure
from gennaker.engine.launcher import Launcher, LaunchError
from gennaker.engine.wakeup import Wakeup
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.ids import new_id
from gennaker.model.pipeline import FieldError
from gennaker.model.status import Status
from gennaker.stages.find_artifact_from_execution import execution_artifacts
from gennaker.store.applications import ApplicationStore
from gennaker.store.database import Database
from gennaker.store.pipelines import PipelineStore
from gennaker.store.triggers import FIRED, SKIPPED, TriggerEvent, TriggerStore
from gennaker.triggers.scheduler import TriggerRefused, start_once


class StartRefused(LaunchError):
    """A start request asks for something the server decides (e.g. `runAsUser` in a request body)."""


class Starts:
    def __init__(
        self,
        db: Database,
        pipelines: PipelineStore,
        applications: ApplicationStore,
        launcher: Launcher,
        permissions: Permissions,
        enforce_permissions: bool,
        wakeup: Callable[[], Wakeup],
    ):
        self.db = db
        self.pipelines = pipelines
        self.applications = applications
        self.launcher = launcher
        self.permissions = permissions
        self.enforce_permissions = enforce_permissions
        self.wakeup = wakeup
        self.triggers = TriggerStore()

    # -- by a person -------------------------------------------------------------------------------
    def manual(self, config: Mapping[str, Any], request: Mapping[str, Any], user: str) -> str:
        """A start by a person or a script, as that person: a `runAsUser` in the request is refused."""
        trigger = dict(request)
        if trigger.get("runAsUser"):
            problem = "cannot be set when starting a pipeline; it belongs to a saved trigger"
            raise StartRefused(f"runAsUser: {problem}", [FieldError("runAsUser", problem)])
        trigger.setdefault("type", "manual")
        trigger.setdefault("notifications", [])
        with self.db.transaction() as conn:
            execution_id = self.launcher.start(conn, dict(config), trigger, user)
        self.wakeup().notify()
        return execution_id

    def manual_by_name(self, application: str, name: str, request: Mapping[str, Any], user: str) -> str:
        with self.db.read() as conn:
            config = self.pipelines.get_by_name(conn, application, name)
        if config is None:
            raise LaunchError(f"pipeline '{name}' not found in application '{application}'")
        return self.manual(config, request, user)

    # -- by a saved trigger ------------------------------------------------------------------------
    def run_as(self, config: Mapping[str, Any], trigger: Mapping[str, Any], caller: str) -> str:
        """Who an execution started by a saved trigger runs as: the trigger's `runAsUser` when the pipeline's
        last editor may act as that user (checked now: roles change), else the caller."""
        run_as = trigger.get("runAsUser")
        if not run_as:
            return caller
        editor = config.get("lastModifiedBy")
        if self.enforce_permissions and not self.permissions.may_run_as(editor, str(run_as)):
            raise TriggerRefused(f"the trigger's runAsUser {run_as} is refused: {editor} may not run pipelines as it")
        return str(run_as)

    def allows(self, conn: Connection, user: str | None, application: str, permission: str) -> bool:
        """Whether `user` has READ/WRITE/EXECUTE on the application (always, where permissions are not enforced)."""
        if not self.enforce_permissions:
            return True
        return self.permissions.application(user, self.applications.get(conn, application), permission)

    def by_trigger(self, conn: Connection, config: Mapping[str, Any], trigger: dict[str, Any], caller: str) -> str:
        """Start `config` for a saved trigger's event in `conn`'s transaction (the caller commits and wakes
        the workers); raises `TriggerRefused` with the reason when it cannot start."""
        user = self.run_as(config, trigger, caller)
        if not self.allows(conn, user, str(config["application"]), "EXECUTE"):
            raise TriggerRefused(f"{user} lacks EXECUTE permission on application '{config['application']}'")
        try:  # the launcher refuses before it writes anything
            return self.launcher.start(conn, dict(config), {**trigger, "user": user}, user)
        except LaunchError as error:
            raise TriggerRefused(str(error)) from None

    def event(
        self, config: Mapping[str, Any], trigger: dict[str, Any], caller: str, event_key: str, now: int
    ) -> tuple[str | None, str | None]:
        """A pushed event (a webhook): start `config` once per `event_key` and record it in the trigger history.
        Returns (execution id, None) when started, (None, reason) when refused, (None, None) for a repeat."""
        trigger_type = str(trigger.get("type") or "webhook")
        record = TriggerEvent(event_key, str(config["id"]), str(config["application"]), trigger_type, FIRED)
        with self.db.transaction() as conn:
            started = start_once(
                self.triggers, conn, record, partial(self.by_trigger, conn, config, trigger, caller), now
            )
        if started[0] is not None:
            self.wakeup().notify()
        return started

    def skipped(self, config: Mapping[str, Any], trigger_type: str, event_key: str, reason: str, now: int) -> None:
        """Record an event a pipeline's trigger saw and did not act on (e.g. a caller without EXECUTE)."""
        record = TriggerEvent(
            event_key, str(config["id"]), str(config["application"]), trigger_type, SKIPPED, reason=reason
        )
        with self.db.transaction() as conn:
            self.triggers.record(conn, record, now)

    # -- by the engine -----------------------------------------------------------------------------
    def child(self, conn: Connection, parent: Execution, stage: Stage, parameters: Mapping[str, Any]) -> str:
        """A `pipeline` stage's child, started as the parent's user if that user may EXECUTE it."""
        config = self.pipelines.get(conn, str(stage.context["pipeline"]))
        if config is None:
            raise StageFailure("The referenced pipeline cannot be located")
        user = parent.authentication.get("user")
        if not self.allows(conn, user, config["application"], "EXECUTE"):
            raise StageFailure(f"{user} lacks EXECUTE permission on application '{config['application']}'")
        trigger = {
            "type": "pipeline",
            "user": user or parent.trigger.get("user"),
            "parentExecution": parent.to_json(),
            "parentPipelineStageId": stage.id,
            "parentPipelineId": parent.pipeline_config_id,
            "parentPipelineName": parent.name,
            "parentPipelineApplication": parent.application,
            "parameters": dict(parameters),
            "dryRun": bool(parent.trigger.get("dryRun")),
            "correlationId": f"{parent.id}_{stage.id}_{config['id']}_{parent.start_time}",
        }
        try:
            return self.launcher.start(conn, config, trigger, str(trigger["user"] or "anonymous"))
        except LaunchError as error:
            raise StageFailure(str(error)) from None

    def dependents(self, conn: Connection, parent: Execution) -> None:
        """Start the pipelines whose `pipeline` trigger waits for `parent`'s config to end this way, in the
        transaction that ends it; each start is recorded once per parent execution (echo-igor.md §2.5)."""
        if not parent.pipeline_config_id:
            return
        outcome = PARENT_OUTCOMES.get(parent.status, "failed")
        parent_json = parent.to_json()
        caller = str(parent.authentication.get("user"))
        for config in self.pipelines.mentioning(conn, parent.pipeline_config_id):
            if config.get("disabled"):
                continue
            for index, trigger in enumerate(config.get("triggers") or []):
                if not _waits_for(trigger, parent.pipeline_config_id, outcome):
                    continue
                event_key = f"pipeline:{parent.id}:{config['id']}:{trigger.get('id') or index}"
                record = TriggerEvent(event_key, str(config["id"]), str(config["application"]), "pipeline", FIRED)
                runtime_trigger = {
                    **trigger,
                    "parentExecution": parent_json,
                    "parentPipelineStageId": None,
                    "parentPipelineId": parent.pipeline_config_id,
                    "parentPipelineName": parent.name,
                    "parentPipelineApplication": parent.application,
                    "parentStatus": outcome,
                    "strategy": False,
                    "artifacts": [dict(a) for a in execution_artifacts(parent_json)],
                    "dryRun": bool(parent.trigger.get("dryRun")),
                    "correlationId": f"{parent.id}_null_{config['id']}_{parent.start_time}",
                }
                start = partial(self.by_trigger, conn, config, runtime_trigger, caller)
                start_once(self.triggers, conn, record, start, now_ms())

    # -- ad-hoc tasks ------------------------------------------------------------------------------
    def task(self, application: str, description: str, jobs: list[dict[str, Any]], user: str) -> str:
        """An ad-hoc task (ORCHESTRATION) running `jobs` as stages in sequence; returns its id."""
        with self.db.transaction() as conn:
            task_id = self.launcher.start_orchestration(conn, application, description, jobs, user)
        self.wakeup().notify()
        return task_id

    def recorded_task(self, application: str, description: str, stages: list[Stage], user: str, started: int) -> str:
        """An ad-hoc task whose jobs already ran in the request (application changes): recorded as a finished
        ORCHESTRATION, TERMINAL if a job failed, so its page shows what was done, by whom, and why a job failed."""
        failed = any(stage.status is Status.TERMINAL for stage in stages)
        task = Execution(
            id=new_id(),
            application=application,
            name=description,
            type="ORCHESTRATION",
            status=Status.TERMINAL if failed else Status.SUCCEEDED,
            start_time=started,
            end_time=now_ms(),
            authentication={"user": user, "allowedAccounts": []},
            trigger={"type": "manual", "user": user},
            stages=stages,
        )
        with self.db.transaction() as conn:
            self.launcher.executions.insert(conn, task)
        return task.id


# How a parent's end reads in a `pipeline` trigger's `status` list (Orca's DependentPipelineExecutionListener).
PARENT_OUTCOMES = {Status.SUCCEEDED: "successful", Status.CANCELED: "canceled", Status.SUSPENDED: "suspended"}


def _waits_for(trigger: Any, pipeline_id: str, outcome: str) -> bool:
    return (
        isinstance(trigger, Mapping)
        and trigger.get("type") == "pipeline"
        and trigger.get("enabled", True) is not False
        and trigger.get("pipeline") == pipeline_id
        and outcome in [str(s).lower() for s in trigger.get("status") or []]
    )
