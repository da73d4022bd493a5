"""`bakeManifest`: render a Helm chart or a Kustomize directory into one `embedded/base64` artifact that
a later `deployManifest` consumes through `manifestArtifactId` (orca.md §3.6, kubernetes.md §5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.artifacts import Fetch
from gennaker.bake import BakeError, bake, parse_bake_request
from gennaker.bake.helm import HelmBinaryRenderer, HelmEngineRenderer, HelmRenderer, render_helm
from gennaker.bake.limits import DEFAULT_LIMITS, BakeConfigError, BakeLimits
from gennaker.engine.contracts import StageDefinition, StageFailure, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.stages.artifacts import BindProducedArtifactsTask, bound_artifact
from gennaker.stages.schemas import BakeManifestContext


class BakeManifestStage(StageDefinition):
    type = "bakeManifest"
    context_schema = BakeManifestContext

    def tasks(self, stage: Stage) -> list[str]:
        return [CreateBakeManifestTask.name, BindProducedArtifactsTask.name]


class CreateBakeManifestTask(Task):
    """Fetch the inputs, render, and output the baked manifest as the stage's one artifact."""

    name = "createBake"
    external = True
    timeout_ms = 5 * 60 * 1000

    def __init__(self, fetch: Fetch, helm: HelmRenderer = render_helm, limits: BakeLimits = DEFAULT_LIMITS):
        self.fetch = fetch
        self.helm = helm
        self.limits = limits

    @classmethod
    def from_config(cls, fetch: Fetch, section: Mapping[str, Any] | None) -> CreateBakeManifestTask:
        """The task as the configuration's `bake:` section sets it up: its limits, and `helmExecutable` to
        render with that `helm` binary rather than Helm's engine in a child process."""
        limits = BakeLimits.from_config(section)
        executable = (section or {}).get("helmExecutable")
        if executable is not None and not (isinstance(executable, str) and executable):
            raise BakeConfigError(f"bake.helmExecutable must be the path of a helm binary, not {executable!r}")
        helm = HelmBinaryRenderer(executable, limits=limits) if executable else HelmEngineRenderer(limits)
        return cls(fetch, helm, limits)

    def execute(self, tc: TaskContext) -> TaskResult:
        try:
            request = parse_bake_request(tc.ctx, lambda i: bound_artifact(tc.execution, tc.stage, i))
            artifact = bake(request, self.fetch, helm=self.helm, limits=self.limits)
        except BakeError as error:
            raise StageFailure(f"Bake failed: {error}") from None
        return TaskResult.succeeded({}, {"artifacts": [artifact]})
