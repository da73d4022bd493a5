"""Turning a pipeline config and a trigger into a stored execution and its StartExecution message."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from gennaker.artifacts import ArtifactResolutionError, prior_artifact_lookup, resolve_trigger_artifacts
from gennaker.artifacts.matching import PriorLookup
from gennaker.engine.evaluation import evaluate_at_trigger
from gennaker.engine.messages import Kind
from gennaker.engine.templated import PipelineTemplates
from gennaker.expressions import Expressions
from gennaker.model.execution import Execution, Stage
from gennaker.model.ids import new_id
from gennaker.model.pipeline import FieldError, assign_ref_ids
from gennaker.model.pipeline_templates import TemplateError, is_templated
from gennaker.model.status import Status
from gennaker.store.executions import ExecutionStore, stage_event
from gennaker.store.queue import QueueStore

STAGE_KEYS = ("type", "name", "refId", "requisiteStageRefIds", "startTimeExpiry")


class LaunchError(ValueError):
    """The execution cannot start; `errors` say which field is wrong."""

    def __init__(self, message: str, errors: list[FieldError] | None = None):
        super().__init__(message)
        self.errors = errors or []


def resolve_parameters(config: dict[str, Any], supplied: dict[str, Any]) -> dict[str, Any]:
    """Defaults for missing parameters, then required and option checks (orca.md §1.1 parameterConfig)."""
    values = dict(supplied)
    errors: list[FieldError] = []
    for param in config.get("parameterConfig") or []:
        name = param.get("name")
        if not name:
            continue
        if name not in values and param.get("default") is not None:
            values[name] = param["default"]
        value = values.get(name)
        if param.get("required") and value in (None, ""):
            errors.append(FieldError(f"parameters.{name}", "is required"))
            continue
        options = [o.get("value") for o in param.get("options") or [] if isinstance(o, dict)]
        if param.get("hasOptions") and options and value not in (None, "") and value not in options:
            errors.append(FieldError(f"parameters.{name}", f"'{value}' is not one of {options}"))
    if errors:
        raise LaunchError("; ".join(f"{e.field} {e.problem}" for e in errors), errors)
    return values


def build_execution(
    config: dict[str, Any],
    trigger: dict[str, Any],
    user: str,
    expressions: Expressions | None = None,
    prior: PriorLookup | None = None,
) -> Execution:
    config = assign_ref_ids(config)
    trigger = dict(trigger)
    trigger.setdefault("type", "manual")
    trigger["user"] = user  # who acts is the server's decision, never the request's
    trigger["parameters"] = resolve_parameters(config, dict(trigger.get("parameters") or {}))
    if expressions is not None:
        config = evaluate_at_trigger(expressions, config, trigger)
    for key, default in (
        ("artifacts", []),
        ("notifications", []),
        ("resolvedExpectedArtifacts", []),
        ("rebake", False),
        ("dryRun", False),
        ("strategy", False),
    ):
        trigger.setdefault(key, default)
    bind_trigger_artifacts(config, trigger, prior)
    stages = []
    for raw in config.get("stages") or []:
        if not raw.get("type"):
            raise LaunchError("type missing from pipeline", [FieldError("stages.type", "is missing")])
        stages.append(
            Stage(
                id=new_id(),
                ref_id=str(raw.get("refId")),
                type=raw["type"],
                name=raw.get("name") or raw["type"],
                context={k: v for k, v in raw.items() if k not in STAGE_KEYS},
                requisite_stage_ref_ids=[str(r) for r in raw.get("requisiteStageRefIds") or []],
                start_time_expiry=raw.get("startTimeExpiry"),
            )
        )
    return Execution(
        id=new_id(),
        application=config["application"].lower(),
        name=config.get("name") or "",
        pipeline_config_id=config.get("id"),
        limit_concurrent=bool(config.get("limitConcurrent")),
        max_concurrent_executions=int(config.get("maxConcurrentExecutions") or 0),
        keep_waiting_pipelines=bool(config.get("keepWaitingPipelines")),
        spel_evaluator=config.get("spelEvaluator"),
        start_time_expiry=config.get("startTimeExpiry"),
        # The caller decides who the execution acts as (a trigger's runAsUser is checked before it gets here).
        authentication={"user": user, "allowedAccounts": []},
        trigger=trigger,
        # The config's notifications, and those the starter asked for (Deck's "notify me" on a manual start).
        notifications=[*(config.get("notifications") or []), *_mappings(trigger.get("notifications"))],
        extra={
            "description": config.get("description"),
            "origin": trigger.get("origin", "api"),
            **{key: config[key] for key in ("templateVariables", "source") if key in config},  # rendered templates
        },
        stages=stages,
    )


def bind_trigger_artifacts(config: dict[str, Any], trigger: dict[str, Any], prior: PriorLookup | None = None) -> None:
    """Resolve the pipeline's expected artifacts against what the trigger brought (orca.md §1).

    A trigger resolves the expected artifacts its `expectedArtifactIds` name; a manual run (from the UI, the
    CLI or the API) resolves all of them, so defaults and prior artifacts apply without extra configuration.
    """
    expected = config.get("expectedArtifacts") or []
    if not expected:
        return
    if trigger.get("type") == "manual" and not trigger.get("expectedArtifactIds"):
        trigger["expectedArtifactIds"] = [e.get("id") for e in expected if isinstance(e, dict)]
    try:
        resolution = resolve_trigger_artifacts({"trigger": trigger, "expectedArtifacts": expected}, prior)
    except ArtifactResolutionError as error:
        raise LaunchError(str(error), [FieldError("trigger.artifacts", str(error))]) from None
    trigger["artifacts"] = [dict(a) for a in resolution.artifacts]
    trigger["resolvedExpectedArtifacts"] = [dict(e) for e in resolution.expected]
    trigger["expectedArtifacts"] = [dict(e) for e in resolution.expected]


class Launcher:
    def __init__(self, executions: ExecutionStore, queue: QueueStore, expressions: Expressions | None = None):
        self.executions = executions
        self.queue = queue
        self.expressions = expressions
        self.templates = PipelineTemplates(expressions)

    def start(self, conn: Connection, config: dict[str, Any], trigger: dict[str, Any], user: str) -> str:
        """Store a new execution and queue its start; returns its id (or the correlated one's)."""
        if config.get("disabled"):
            raise LaunchError("Pipeline is disabled and cannot be started.")
        correlation_id = trigger.get("correlationId")
        if correlation_id:
            existing = self.executions.find_by_correlation(conn, correlation_id)
            if existing:
                return existing
        if is_templated(config):
            try:
                config = self.templates.plan(conn, config, trigger)
            except TemplateError as error:
                return self._failed_on_startup(conn, config, trigger, user, str(error), correlation_id)
        execution = build_execution(config, trigger, user, self.expressions, self._prior_artifacts(conn, config))
        return self._enqueue(conn, execution, correlation_id)

    def _failed_on_startup(
        self,
        conn: Connection,
        config: dict[str, Any],
        trigger: dict[str, Any],
        user: str,
        reason: str,
        correlation_id: str | None,
    ) -> str:
        """A pipeline that cannot be planned (its template is missing, a variable has no value, ...) is stored
        finished, as Orca records a startup failure: TERMINAL, no stages, canceled by "system" with the reason."""
        bare = {**config, "stages": [], "parameterConfig": [], "expectedArtifacts": []}
        execution = build_execution(bare, trigger, user)
        execution.status, execution.canceled, execution.canceled_by = Status.TERMINAL, True, "system"
        execution.start_time = execution.end_time = execution.build_time
        execution.cancellation_reason = f"Failed on startup: {reason}"
        self.executions.insert(conn, execution, correlation_id=correlation_id)
        self.executions.record_events(conn, [stage_event(execution, None, "ExecutionComplete", Status.TERMINAL)])
        return execution.id

    def _enqueue(self, conn: Connection, execution: Execution, correlation_id: str | None = None) -> str:
        """Store a new execution and queue its start."""
        self.executions.insert(conn, execution, correlation_id=correlation_id)
        self.queue.push(conn, [(execution.id, Kind.START_EXECUTION.value, {}, execution.build_time)])
        return execution.id

    def _prior_artifacts(self, conn: Connection, config: dict[str, Any]) -> PriorLookup | None:
        """`usePriorArtifact` matches against the pipeline's last successful execution: its stages' artifacts,
        newest first, then its trigger's."""
        wanted = any(isinstance(e, dict) and e.get("usePriorArtifact") for e in config.get("expectedArtifacts") or [])
        if not wanted or not config.get("id"):
            return None
        previous = self.executions.list_json(
            conn, config["application"], statuses=["SUCCEEDED"], pipeline_config_ids=[config["id"]], limit=1
        )
        if not previous:
            return None
        produced = [
            artifact
            for stage in reversed(previous[0]["stages"])
            for artifact in (stage.get("outputs") or {}).get("artifacts") or []
        ]
        return prior_artifact_lookup(produced + list((previous[0].get("trigger") or {}).get("artifacts") or []))

    def start_orchestration(
        self, conn: Connection, application: str, description: str, jobs: list[dict[str, Any]], user: str
    ) -> str:
        """An ad-hoc task (an ORCHESTRATION): each job is a stage, run in sequence by the engine."""
        stages = [
            {**job, "refId": str(index), "requisiteStageRefIds": [str(index - 1)] if index else []}
            for index, job in enumerate(jobs)
        ]
        config = {"application": application, "name": description, "stages": stages}
        execution = build_execution(config, {"type": "manual", "user": user}, user)
        execution.type = "ORCHESTRATION"
        return self._enqueue(conn, execution)


def _mappings(value: Any) -> list[dict[str, Any]]:
    return [dict(item) for item in value if isinstance(item, dict)] if isinstance(value, list) else []
