"""`canaryDeployment`: canary a plain Kubernetes Deployment, then promote it or leave it as it was.

Spinnaker's Kubernetes provider has no canary strategy, and Argo Rollouts and Flagger need their own resource or a
`-primary` twin. This stage works on the Deployment as it is:

1. `deployCanaryCopies` starts two small copies next to the live Deployment `<name>`: `<name>-baseline` runs the
   live pod template (the current version) and `<name>-canary` the new one. Both keep the pod labels the live
   Service selects, so they take traffic in proportion to their replicas; each adds `gennaker.io/canary-role`
   (baseline or canary) to its selector and pods, so the copies never adopt each other's pods and metrics can
   tell them apart (their pod names start with `<name>-baseline-` and `<name>-canary-`).
2. The copies must become stable (the manifest stages' wait task).
3. A `kayentaCanary` analysis compares them: `analysis` is its `canaryConfig`; scopes default to the two copies
   (`controlScope: <name>-baseline`, `experimentScope: <name>-canary`, location and `namespace` the namespace).
4. When it passes, `deployManifest` rolls the real Deployment to the new version, then the copies are deleted.

When anything fails, or the execution is cancelled, the copies are deleted and the live Deployment is left as it
was: that is the rollback, since the new version only ever ran in the canary copy.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import Field

from gennaker.engine.contracts import (
    Cancellation,
    EngineServices,
    StageDefinition,
    SyntheticStage,
    TaskContext,
    TaskResult,
)
from gennaker.model.execution import Execution, Stage
from gennaker.model.stage_context import AnyValue, Loc, Number, ObjectOf, StageContext, TextValue, present
from gennaker.model.status import Status
from gennaker.providers.kubernetes.deploy import DeployRequest
from gennaker.providers.kubernetes.jobs import action_job, deploy_job
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.stages.canary.schema import CanaryAnalysis
from gennaker.stages.manifest.common import ManifestTask, account_of

ROLE_LABEL = "gennaker.io/canary-role"
ROLES = ("baseline", "canary")
MAX_COPY_REPLICAS = 100


class CanaryDeploymentContext(StageContext):
    account: TextValue = Field(None, title="Account")
    manifests: AnyValue = Field(None, title="Deployment (YAML)", description="The Deployment at its new version")
    namespaceOverride: TextValue = None
    replicas: Annotated[int | None, Number(1, MAX_COPY_REPLICAS, whole=True)] = Field(
        None, title="Replicas of each copy", description="Baseline and canary each run this many pods (default 1)"
    )
    analysis: ObjectOf[CanaryAnalysis] = Field(
        None, title="Canary analysis", description="kayentaCanary's canaryConfig"
    )

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return [((key,), "is required") for key in ("account", "manifests", "analysis") if not present(data, key)]


def target_deployment(ctx: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The stage's one Deployment manifest, its name and its namespace."""
    manifests = ctx.get("manifests")
    if isinstance(manifests, dict):
        manifests = [manifests]
    if not isinstance(manifests, list) or len(manifests) != 1 or not isinstance(manifests[0], dict):
        raise OperationError("manifests: canaryDeployment takes exactly one manifest, the Deployment to canary")
    manifest = manifests[0]
    if manifest.get("kind") != "Deployment":
        raise OperationError(f"manifests: canaryDeployment needs a Deployment, not {manifest.get('kind') or 'no kind'}")
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise OperationError("manifests: the Deployment needs metadata.name")
    namespace = ctx.get("namespaceOverride") or metadata.get("namespace") or "default"
    return manifest, str(name), str(namespace)


def copy_name(name: str, role: str) -> str:
    return f"{name}-{role}"


def canary_copy(name: str, namespace: str, role: str, source: dict[str, Any], replicas: int) -> dict[str, Any]:
    """A Deployment of `replicas` pods running `source`'s pod template, labelled and selected by role."""
    spec = source.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    template_metadata = template.setdefault("metadata", {})
    for key in ("creationTimestamp", "annotations"):
        template_metadata.pop(key, None)
    labels = template_metadata.setdefault("labels", {})
    labels.pop("pod-template-hash", None)
    labels[ROLE_LABEL] = role
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[ROLE_LABEL] = role
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": copy_name(name, role),
            "namespace": namespace,
            "labels": {ROLE_LABEL: role, "gennaker.io/canary-of": name},
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    }


def analysis_config(ctx: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """The kayentaCanary `canaryConfig`: the stage's `analysis`, with scopes defaulting to the two copies."""
    analysis = dict(ctx.get("analysis") or {})
    defaults = {
        "scopeName": "default",
        "controlScope": copy_name(name, "baseline"),
        "controlLocation": namespace,
        "experimentScope": copy_name(name, "canary"),
        "experimentLocation": namespace,
    }
    scopes = analysis.get("scopes") or [{}]
    filled = []
    for scope in scopes:
        merged = {**defaults, **{k: v for k, v in dict(scope).items() if v not in (None, "")}}
        merged["extendedScopeParams"] = {"namespace": namespace, **dict(scope.get("extendedScopeParams") or {})}
        filled.append(merged)
    analysis["scopes"] = filled
    return analysis


def delete_copy(account: str, namespace: str, name: str, role: str) -> dict[str, Any]:
    """The `deleteManifest` job that removes one copy of the Deployment `name` (and its pods)."""
    return action_job("delete", account, namespace, f"deployment {copy_name(name, role)}", "", {})


class CanaryDeploymentStage(StageDefinition):
    type = "canaryDeployment"
    context_schema = CanaryDeploymentContext

    def tasks(self, stage: Stage) -> list[str]:
        return [DeployCanaryCopiesTask.name, "waitForManifestToStabilize"]

    def after_stages(self, stage: Stage) -> list[SyntheticStage]:
        ctx = stage.context
        manifest, name, namespace = target_deployment(ctx)
        account = account_of(ctx)
        promote = {**deploy_job(account, "", [manifest]), "namespaceOverride": namespace}
        promote.pop("moniker")  # the stage's own moniker, else the execution's application
        if ctx.get("moniker"):
            promote["moniker"] = ctx["moniker"]
        stages = [
            SyntheticStage(
                "kayentaCanary",
                "Canary analysis",
                {"canaryConfig": analysis_config(ctx, name, namespace), "continuePipeline": False},
            ),
            SyntheticStage("deployManifest", f"Promote {name}", promote),
        ]
        deletes = [(copy_name(name, role), delete_copy(account, namespace, name, role)) for role in ROLES]
        stages += [SyntheticStage("deleteManifest", f"Delete {copy}", context) for copy, context in deletes]
        return stages

    def cancel(self, execution: Execution, stage: Stage, services: EngineServices) -> Cancellation:
        """Delete the copies, if their deploy began, in a task started with the cancellation (durable: a restart
        finishes it); the live Deployment stays as it is. What to delete comes from the stage's own manifest and
        account, as the copies were named, never from a context value a pipeline could set."""
        deployed = any(
            t.implementing_class == DeployCanaryCopiesTask.name and t.status is not Status.NOT_STARTED
            for t in stage.tasks
        )
        if not deployed:
            return Cancellation()
        try:
            _, name, namespace = target_deployment(stage.context)
            account = account_of(stage.context)
        except OperationError:  # the deploy refused this context: there are no copies
            return Cancellation()
        jobs = tuple(delete_copy(account, namespace, name, role) for role in ROLES)
        return Cancellation(cleanup=jobs, cleanup_description=f"Delete the canary copies of {stage.name}")


class DeployCanaryCopiesTask(ManifestTask):
    name = "deployCanaryCopies"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        account = account_of(ctx)
        manifest, name, namespace = target_deployment(ctx)
        live = ops.get(namespace, f"deployment {name}")
        if live is None:
            raise OperationError(
                f"deployment {name} does not exist in namespace '{namespace}': a canary compares the new version "
                "with the running one, so deploy the first version with deployManifest"
            )
        replicas = int(ctx.get("replicas") or 1)
        copies = [
            canary_copy(name, namespace, "baseline", live, replicas),
            canary_copy(name, namespace, "canary", manifest, replicas),
        ]
        moniker = {"app": str((ctx.get("moniker") or {}).get("app") or tc.execution.application)}
        request = DeployRequest(manifests=copies, moniker=moniker, versioned=False, enable_traffic=False)
        result = self.provider.deployer(account).deploy(request)
        return TaskResult.succeeded(
            {"outputs.manifestNamesByNamespace": result.manifest_names_by_namespace},
            {"canaryCopies": [copy_name(name, role) for role in ROLES]},
        )
