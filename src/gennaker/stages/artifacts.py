"""Artifacts as stages see them: what an execution has produced so far, what an expected artifact id is
bound to, and binding a stage's produced artifacts to its `expectedArtifacts` (orca.md §1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gennaker.artifacts import ArtifactResolutionError, resolve_expected_artifacts
from gennaker.engine.contracts import StageFailure, Task, TaskContext, TaskResult
from gennaker.model.execution import Execution, Stage


def all_ancestors(execution: Execution, stage: Stage) -> Iterator[Stage]:
    """The stage, everything upstream of it, and its parents and theirs (Orca's `ancestors()`)."""
    seen: set[str] = set()
    frontier = [stage]
    while frontier:
        current = frontier.pop(0)
        if current.id in seen:
            continue
        seen.add(current.id)
        yield current
        frontier.extend(execution.upstream(current))
        if current.parent_stage_id:
            parent = execution.stage(current.parent_stage_id)
            if parent is not None:
                frontier.append(parent)


def visible_artifacts(execution: Execution, stage: Stage) -> list[dict[str, Any]]:
    """Every artifact the stage can see: those its ancestors produced, then the trigger's."""
    found: list[dict[str, Any]] = []
    sources = [(a.outputs or {}).get("artifacts") or [] for a in all_ancestors(execution, stage)]
    trigger = execution.trigger or {}
    sources.append(trigger.get("artifacts") or [])
    sources.append([(e or {}).get("boundArtifact") for e in trigger.get("resolvedExpectedArtifacts") or []])
    for source in sources:
        for artifact in source:
            if isinstance(artifact, dict) and artifact not in found:
                found.append(artifact)
    return found


def bound_artifact(execution: Execution, stage: Stage, expected_id: str | None) -> dict[str, Any] | None:
    """The artifact bound to an expected artifact id, by the trigger or by an upstream stage; an expected
    artifact that was never bound falls back to its default when `useDefaultArtifact` is set."""
    if not expected_id:
        return None
    candidates: list[Any] = list((execution.trigger or {}).get("resolvedExpectedArtifacts") or [])
    for ancestor in all_ancestors(execution, stage):
        candidates += (ancestor.outputs or {}).get("resolvedExpectedArtifacts") or []
        candidates += ancestor.context.get("expectedArtifacts") or []
    candidates += (execution.trigger or {}).get("expectedArtifacts") or []
    matching = [e for e in candidates if isinstance(e, dict) and e.get("id") == expected_id]
    for expected in matching:
        if expected.get("boundArtifact"):
            return dict(expected["boundArtifact"])
    for expected in matching:
        if expected.get("useDefaultArtifact") and expected.get("defaultArtifact"):
            return dict(expected["defaultArtifact"])
    return None


def with_artifact_binding(stage: Stage, tasks: list[str]) -> list[str]:
    """`tasks`, then `bindProducedArtifacts` when the stage declares artifacts it produces."""
    return [*tasks, BindProducedArtifactsTask.name] if stage.context.get("expectedArtifacts") else tasks


class BindProducedArtifactsTask(Task):
    """Bind the stage's `expectedArtifacts` to the artifacts it produced (`outputs.artifacts`)."""

    name = "bindProducedArtifacts"

    def execute(self, tc: TaskContext) -> TaskResult:
        expected = tc.ctx.get("expectedArtifacts") or []
        if not expected:
            return TaskResult.succeeded()
        produced = (tc.stage.outputs or {}).get("artifacts") or []
        try:
            resolution = resolve_expected_artifacts(expected, produced, require_unique=False)
        except ArtifactResolutionError as error:
            raise StageFailure(str(error)) from None
        resolved = [dict(e) for e in resolution.expected]
        return TaskResult.succeeded(
            {"expectedArtifacts": resolved},
            {"resolvedExpectedArtifacts": resolved, "artifacts": [dict(a) for a in resolution.artifacts]},
        )
