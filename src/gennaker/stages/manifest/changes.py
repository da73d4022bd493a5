"""Stages that change objects already running: scale, patch, delete, undo/pause/resume/restart a
rollout, enable and disable traffic, and find the artifacts a resource uses (kubernetes.md §3.4, §4).

Each is "resolve the target, change it, then (for most) wait until stable", like Orca's task graphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gennaker.engine.contracts import ContextSchema, StageDefinition, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.providers.kubernetes import binding
from gennaker.providers.kubernetes.manifest import optional_whole_number, whole_number
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.stages.artifacts import bound_artifact, visible_artifacts, with_artifact_binding
from gennaker.stages.manifest.common import (
    ManifestTask,
    account_of,
    written_manifest_context,
)
from gennaker.stages.manifest.wait import ResolveTargetManifestTask, WaitForManifestStableTask
from gennaker.stages.schemas import (
    DeleteManifestContext,
    ManifestTargetContext,
    PatchManifestContext,
    ScaleManifestContext,
    TrafficContext,
    UndoRolloutManifestContext,
)


def _target(tc: TaskContext) -> tuple[str, str]:
    manifest_name = tc.ctx.get("manifestName")
    if not manifest_name:
        raise OperationError("manifestName is required (or cluster and criteria for a dynamic target)")
    return str(tc.ctx.get("location") or ""), str(manifest_name)


def _written(tc: TaskContext, location: str, manifest_name: str, **extra: Any) -> TaskResult:
    context = {**written_manifest_context(account_of(tc.ctx), location, manifest_name), **extra}
    return TaskResult.succeeded(context, {"manifestNamesByNamespace": {location: [manifest_name]}})


class ManifestChangeStage(StageDefinition):
    """Resolve the target, run `change_task`, then wait for stability when `waits`."""

    change_task: ClassVar[str]
    waits: ClassVar[bool] = True
    context_schema: ClassVar[ContextSchema | None] = ManifestTargetContext

    def tasks(self, stage: Stage) -> list[str]:
        tasks = [ResolveTargetManifestTask.name, self.change_task]
        return with_artifact_binding(stage, [*tasks, WaitForManifestStableTask.name] if self.waits else tasks)


class ScaleManifestTask(ManifestTask):
    name = "scaleManifest"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        replicas = whole_number(tc.ctx.get("replicas"))
        if replicas is None:
            raise OperationError("replicas must be a whole number")
        ops.scale(location, manifest_name, replicas)
        return _written(tc, location, manifest_name)


class PatchManifestTask(ManifestTask):
    name = "patchManifest"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        options = tc.ctx.get("options") or {}
        required = [
            artifact
            for expected_id in tc.ctx.get("requiredArtifactIds") or []
            if (artifact := bound_artifact(tc.execution, tc.stage, expected_id))
        ]
        patched, bound = ops.patch(
            location,
            manifest_name,
            tc.ctx.get("patchBody"),
            str(options.get("mergeStrategy") or "strategic"),
            options.get("record", True) is not False,
            artifacts=visible_artifacts(tc.execution, tc.stage) if tc.ctx.get("allArtifacts", True) else [],
            required_artifacts=required,
        )
        result = _written(tc, location, manifest_name)
        result.outputs.update({"manifests": [patched], "boundArtifacts": bound})
        return result


class DeleteManifestTask(ManifestTask):
    name = "deleteManifest"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location = str(tc.ctx.get("location") or "")
        selectors = tc.ctx.get("labelSelectors")  # {selectors: [{key, kind: EQUALS, values}]}, as Deck sends
        deleted = ops.delete(
            location, tc.ctx.get("manifestName"), tc.ctx.get("kinds"), selectors, tc.ctx.get("options") or {}
        )
        return TaskResult.succeeded(
            {"manifest.account.name": account_of(tc.ctx), "deletedManifests": deleted},
            {"manifestNamesByNamespace": {location: deleted}},
        )


class UndoRolloutManifestTask(ManifestTask):
    name = "undoRolloutManifest"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        revision, back = (_optional_whole_number(tc.ctx, key) for key in ("revision", "numRevisionsBack"))
        chosen = ops.undo_rollout(location, manifest_name, revision, back or None)
        return _written(tc, location, manifest_name, revision=chosen)


class RolloutPauseTask(ManifestTask):
    """Pause (or resume) a rollout: `paused` says which."""

    paused: ClassVar[bool]

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        ops.pause(location, manifest_name, self.paused)
        return _written(tc, location, manifest_name)


class PauseRolloutManifestTask(RolloutPauseTask):
    name = "pauseRolloutManifest"
    paused = True


class ResumeRolloutManifestTask(RolloutPauseTask):
    name = "resumeRolloutManifest"
    paused = False


class RollingRestartManifestTask(ManifestTask):
    name = "rollingRestartManifest"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        ops.rolling_restart(location, manifest_name)
        return _written(tc, location, manifest_name)


class TrafficTask(ManifestTask):
    enable: ClassVar[bool]

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        touched = ops.set_traffic(location, manifest_name, self.enable, tc.ctx.get("loadBalancers") or None)
        return _written(tc, location, manifest_name, loadBalancers=touched)


class EnableManifestTask(TrafficTask):
    name = "enableManifest"
    enable = True


class DisableManifestTask(TrafficTask):
    name = "disableManifest"
    enable = False


class FindArtifactsFromResourceTask(ManifestTask):
    name = "findArtifactsFromResource"
    changes_cluster = False

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        location, manifest_name = _target(tc)
        manifest = ops.require(location, manifest_name)
        artifacts = binding.discover(manifest, account_of(tc.ctx))
        return TaskResult.succeeded({}, {"manifest": manifest, "artifacts": artifacts})


# Which stages wait for stability after their change follows Orca's task graphs (kubernetes.md §2.1).


class ScaleManifestStage(ManifestChangeStage):
    type = "scaleManifest"
    context_schema = ScaleManifestContext
    change_task = ScaleManifestTask.name


class PatchManifestStage(ManifestChangeStage):
    type = "patchManifest"
    context_schema = PatchManifestContext
    change_task = PatchManifestTask.name


class DeleteManifestStage(ManifestChangeStage):
    type = "deleteManifest"
    context_schema = DeleteManifestContext
    change_task = DeleteManifestTask.name
    waits = False


class UndoRolloutManifestStage(ManifestChangeStage):
    type = "undoRolloutManifest"
    context_schema = UndoRolloutManifestContext
    change_task = UndoRolloutManifestTask.name


class PauseRolloutManifestStage(ManifestChangeStage):
    type = "pauseRolloutManifest"
    change_task = PauseRolloutManifestTask.name
    waits = False


class ResumeRolloutManifestStage(ManifestChangeStage):
    type = "resumeRolloutManifest"
    change_task = ResumeRolloutManifestTask.name


class RollingRestartManifestStage(ManifestChangeStage):
    type = "rollingRestartManifest"
    change_task = RollingRestartManifestTask.name
    waits = False


class EnableManifestStage(ManifestChangeStage):
    type = "enableManifest"
    context_schema = TrafficContext
    change_task = EnableManifestTask.name


class DisableManifestStage(ManifestChangeStage):
    type = "disableManifest"
    context_schema = TrafficContext
    change_task = DisableManifestTask.name


class FindArtifactsFromResourceStage(ManifestChangeStage):
    type = "findArtifactFromResource"
    aliases = ("findArtifactsFromResource",)  # the name of its task, which some exports use
    change_task = FindArtifactsFromResourceTask.name
    waits = False


def _optional_whole_number(ctx: Mapping[str, Any], key: str) -> int | None:
    """The context's `key` as a whole number, None when absent or empty; anything else fails the task, naming
    the key (a typo must not roll back some other revision)."""
    try:
        return optional_whole_number(ctx.get(key))
    except ValueError as error:
        raise OperationError(f"{key} {error}") from None
