"""`findArtifactFromExecution`: bind expected artifacts to what the latest run of another pipeline produced.

Context (what Deck saves): `application`, `pipeline` (the config id to look in), `executionOptions`
(`succeeded` — or `successful`, which Deck writes —, `terminal`, `running`: which statuses count; none
checked means any), and `expectedArtifacts` (or the older single `expectedArtifact`).

As Orca's task does: the latest matching execution is the one that started last (executions not started
come last, ties broken by the larger id). Its artifacts are those its top-level stages emitted
(`outputs.artifacts`), stages in dependency order and the list then reversed so later stages come first,
followed by its trigger's artifacts. When the pipeline looks in its own earlier runs, the artifacts of the
stage with this stage's refId are left out. Each expected artifact binds the first artifact it matches
(several matches are not an error), else its default artifact when `useDefaultArtifact` is set; one that
binds nothing fails the stage. The stage's outputs (and context) are `resolvedExpectedArtifacts` (each
expected artifact with its `boundArtifact`) and `artifacts` (the bound artifacts, each once), which
downstream stages use like any other produced artifacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.artifacts import ArtifactResolutionError, resolve_expected_artifacts
from gennaker.artifacts.model import artifact_identity
from gennaker.engine.contracts import StageDefinition, StageFailure, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.stages.schemas import FindArtifactFromExecutionContext

# How many of the newest executions are read to find the one that started last.
CANDIDATES = 25


class FindArtifactFromExecutionStage(StageDefinition):
    type = "findArtifactFromExecution"
    context_schema = FindArtifactFromExecutionContext

    def tasks(self, stage: Stage) -> list[str]:
        return [FindArtifactFromExecutionTask.name]


def wanted_statuses(options: Any) -> list[str]:
    """`executionOptions` as execution statuses; an empty list means every status."""
    options = options if isinstance(options, Mapping) else {}
    statuses = []
    if options.get("succeeded") is True or options.get("successful") is True:
        statuses.append("SUCCEEDED")
    if options.get("terminal") is True:
        statuses.append("TERMINAL")
    if options.get("running") is True:
        statuses.append("RUNNING")
    return statuses


def latest(executions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The execution that started last; executions without a start time come after all others."""
    by_id = sorted(executions, key=lambda e: str(e.get("id") or ""), reverse=True)
    started = sorted((e for e in by_id if e.get("startTime") is not None), key=lambda e: -int(e["startTime"]))
    unstarted = [e for e in by_id if e.get("startTime") is None]
    return (started + unstarted)[0] if executions else None


def in_dependency_order(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top-level stages, each after every stage it requires (rounds of stages whose requisites are placed)."""
    unsorted = [s for s in stages if not s.get("parentStageId")]
    placed: set[str] = set()
    ordered: list[dict[str, Any]] = []
    while unsorted:
        ready = [s for s in unsorted if {str(r) for r in s.get("requisiteStageRefIds") or []} <= placed]
        if not ready:
            names = ", ".join(str(s.get("refId")) for s in unsorted)
            raise StageFailure(f"Invalid stage relationships found in the execution searched: {names}")
        for stage in ready:
            unsorted.remove(stage)
            placed.add(str(stage.get("refId")))
            ordered.append(stage)
    return ordered


def execution_artifacts(execution: Mapping[str, Any], skip_ref_id: str | None = None) -> list[Mapping[str, Any]]:
    """What an execution produced, latest stages first, then what its trigger brought."""
    emitted: list[Mapping[str, Any]] = []
    for stage in in_dependency_order(list(execution.get("stages") or [])):
        if skip_ref_id is not None and str(stage.get("refId")) == skip_ref_id:
            continue
        outputs = stage.get("outputs") or {}
        if "artifacts" in outputs:
            emitted.extend(a for a in outputs.get("artifacts") or [] if isinstance(a, Mapping))
    emitted.reverse()
    trigger = execution.get("trigger") or {}
    return emitted + [a for a in trigger.get("artifacts") or [] if isinstance(a, Mapping)]


class FindArtifactFromExecutionTask(Task):
    name = "findArtifactFromExecution"

    def execute(self, tc: TaskContext) -> TaskResult:
        ctx = tc.ctx
        pipeline_id = ctx.get("pipeline")
        if not pipeline_id or not isinstance(pipeline_id, str):
            raise StageFailure("pipeline (the id of the pipeline to find artifacts in) is required")
        expected = ctx.get("expectedArtifacts")
        if expected is None:
            single = ctx.get("expectedArtifact")
            expected = [single] if single is not None else None
        if not isinstance(expected, list) or not all(isinstance(e, Mapping) for e in expected):
            raise StageFailure("expectedArtifacts (a list of expected artifacts) is required")
        if tc.services.list_executions is None or tc.conn is None:
            raise StageFailure("this server cannot read executions")
        application = str(ctx.get("application") or tc.execution.application)
        user = tc.execution.authentication.get("user")
        allows = tc.services.application_allows
        if allows is not None and not allows(tc.conn, user, application, "READ"):
            raise StageFailure(f"{user} lacks READ permission on application '{application}'")
        statuses = wanted_statuses(ctx.get("executionOptions"))
        found = latest(
            tc.services.list_executions(
                tc.conn, application, statuses=statuses, pipeline_config_ids=[pipeline_id], limit=CANDIDATES
            )
        )
        same_pipeline = tc.execution.pipeline_config_id == pipeline_id
        artifacts = execution_artifacts(found, tc.stage.ref_id if same_pipeline else None) if found else []
        # Only what the execution found counts: a binding left from an earlier run of this stage does not.
        unbound = [{k: v for k, v in e.items() if k != "boundArtifact"} for e in expected]
        try:
            resolution = resolve_expected_artifacts(unbound, artifacts, require_unique=False)
        except ArtifactResolutionError as error:
            if found is None:
                which = " or ".join(statuses) if statuses else "any status"
                raise StageFailure(
                    f"{error} No execution of pipeline {pipeline_id} in application {application} with status "
                    f"{which} was found."
                ) from None
            raise StageFailure(f"{error} (searched execution {found.get('id')})") from None
        resolved = [dict(e) for e in resolution.expected]
        bound: dict[str, dict[str, Any]] = {}
        for entry in resolution.expected:
            artifact = dict(entry["boundArtifact"])
            bound.setdefault(artifact_identity(artifact), artifact)
        values = {"resolvedExpectedArtifacts": resolved, "artifacts": list(bound.values())}
        return TaskResult.succeeded(dict(values), dict(values))
