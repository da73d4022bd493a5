"""Canary stages: `kayentaCanary` (Kayenta-compatible analysis over intervals), its planned `runCanary` judgments,
and `canaryDeployment` (baseline and canary copies of a plain Deployment, analysed, then promoted or rolled back)."""

from gennaker.engine.registry import Registry
from gennaker.providers.kubernetes import KubernetesProvider
from gennaker.stages.canary.access import CanaryAccess, MetricsSource
from gennaker.stages.canary.deployment import CanaryDeploymentStage, DeployCanaryCopiesTask
from gennaker.stages.canary.kayenta import AggregateCanaryResultsTask, KayentaCanaryStage, RunCanaryIntervalsStage
from gennaker.stages.canary.run_canary import ResolveCanaryConfigIdTask, RunCanaryStage, RunCanaryTask


def add_canary_stages(registry: Registry, access: CanaryAccess, kubernetes: KubernetesProvider | None = None) -> None:
    """The analysis stages, and `canaryDeployment` where a Kubernetes provider is given (it needs the manifest
    stages it plans: deployManifest, deleteManifest and the wait task)."""
    registry.add_stage(KayentaCanaryStage(), AggregateCanaryResultsTask())
    registry.add_stage(RunCanaryIntervalsStage())
    registry.add_stage(RunCanaryStage(), ResolveCanaryConfigIdTask(access), RunCanaryTask(access))
    if kubernetes is not None:
        registry.add_stage(CanaryDeploymentStage(), DeployCanaryCopiesTask(kubernetes))


__all__ = ["CanaryAccess", "MetricsSource", "add_canary_stages"]
