"""Kubernetes manifest stages (kubernetes.md §1 to §4), registered when a Kubernetes provider is configured."""

from gennaker.artifacts import Fetch
from gennaker.engine.registry import Registry
from gennaker.providers.kubernetes import KubernetesProvider
from gennaker.stages import check_preconditions
from gennaker.stages.manifest import changes
from gennaker.stages.manifest.deploy import (
    CleanupArtifactsTask,
    DeployManifestStage,
    DeployManifestTask,
    PlanStrategyTask,
)
from gennaker.stages.manifest.run_job import ConsumeArtifactTask, RunJobStage, RunJobTask, WaitOnJobCompletionTask
from gennaker.stages.manifest.wait import ResolveTargetManifestTask, WaitForManifestStableTask


def add_manifest_stages(registry: Registry, provider: KubernetesProvider, fetch: Fetch) -> None:
    shared = (ResolveTargetManifestTask(provider), WaitForManifestStableTask(provider))
    registry.add_stage(
        DeployManifestStage(),
        DeployManifestTask(provider, fetch),
        CleanupArtifactsTask(provider),
        PlanStrategyTask(provider),
        *shared,
    )
    registry.add_stage(changes.ScaleManifestStage(), changes.ScaleManifestTask(provider))
    registry.add_stage(changes.PatchManifestStage(), changes.PatchManifestTask(provider))
    registry.add_stage(changes.DeleteManifestStage(), changes.DeleteManifestTask(provider))
    registry.add_stage(changes.UndoRolloutManifestStage(), changes.UndoRolloutManifestTask(provider))
    registry.add_stage(changes.PauseRolloutManifestStage(), changes.PauseRolloutManifestTask(provider))
    registry.add_stage(changes.ResumeRolloutManifestStage(), changes.ResumeRolloutManifestTask(provider))
    registry.add_stage(changes.RollingRestartManifestStage(), changes.RollingRestartManifestTask(provider))
    registry.add_stage(changes.EnableManifestStage(), changes.EnableManifestTask(provider))
    registry.add_stage(changes.DisableManifestStage(), changes.DisableManifestTask(provider))
    registry.add_stage(changes.FindArtifactsFromResourceStage(), changes.FindArtifactsFromResourceTask(provider))
    registry.add_stage(
        RunJobStage(), RunJobTask(provider), WaitOnJobCompletionTask(provider), ConsumeArtifactTask(provider, fetch)
    )
    registry.add_tasks(check_preconditions.ClusterSizePreconditionTask(provider))
