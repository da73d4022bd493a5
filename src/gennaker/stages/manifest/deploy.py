"""`deployManifest`: resolve the manifests, deploy them, wait until stable, trim old versions, then let
the rollout strategy disable or delete older ReplicaSets (kubernetes.md §1.1, §3.2)."""

from __future__ import annotations

from typing import Any

import yaml

from gennaker.artifacts import Fetch
from gennaker.engine.contracts import StageDefinition, SyntheticStage, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.providers.kubernetes import KubernetesProvider
from gennaker.providers.kubernetes.deploy import DeployRequest
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.stages.artifacts import bound_artifact, visible_artifacts, with_artifact_binding
from gennaker.stages.manifest.common import (
    ManifestTask,
    account_of,
)
from gennaker.stages.manifest.wait import WaitForManifestStableTask
from gennaker.stages.schemas import DeployManifestContext

STRATEGIES = {"redblack": "RED_BLACK", "bluegreen": "BLUE_GREEN", "highlander": "HIGHLANDER", "none": "NONE"}
SUMMARY_KEY = "expressionEvaluationSummary"


class DeployManifestStage(StageDefinition):
    type = "deployManifest"
    context_schema = DeployManifestContext

    def tasks(self, stage: Stage) -> list[str]:
        tasks = [DeployManifestTask.name, WaitForManifestStableTask.name, CleanupArtifactsTask.name]
        return with_artifact_binding(stage, [*tasks, PlanStrategyTask.name])

    def after_stages(self, stage: Stage) -> list[SyntheticStage]:
        """One disable or delete stage per older ReplicaSet, as planned by the strategy task."""
        synthetic = []
        for step in stage.context.get("strategySteps") or []:
            stage_type = "disableManifest" if step["action"] == "disable" else "deleteManifest"
            verb = "Disable" if step["action"] == "disable" else "Delete"
            context = {
                "account": stage.context.get("account"),
                "cloudProvider": "kubernetes",
                "app": (stage.context.get("moniker") or {}).get("app"),
                "manifestName": step["manifestName"],
                "location": step["location"],
            }
            if stage_type == "deleteManifest":
                context["options"] = {"cascading": True}
            synthetic.append(SyntheticStage(stage_type, f"{verb} {step['manifestName']}", context))
        return synthetic


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """Multi-document YAML; a document that is itself a list is flattened (kubernetes.md §1.1)."""
    documents: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(text):
        if isinstance(document, list):
            documents.extend(d for d in document if d)
        elif document:
            documents.append(document)
    return documents


class DeployManifestTask(ManifestTask):
    name = "deployManifest"

    def __init__(self, provider: KubernetesProvider, fetch: Fetch):
        super().__init__(provider)
        self.fetch = fetch

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        account = account_of(ctx)
        manifests, summary = self._manifests(tc)
        if ctx.get("failOnFailedExpressions") and summary:
            raise OperationError(f"Failure evaluating manifest expressions: {summary}")
        request = self._request(tc, manifests)
        result = self.provider.deployer(account).deploy(request)
        outputs = result.outputs()
        context: dict[str, Any] = {
            "deploy.account.name": account,
            "outputs.manifestNamesByNamespace": result.manifest_names_by_namespace,
            "kato.result.expected": True,
            "strategy": request.strategy,
        }
        if summary:
            context[SUMMARY_KEY] = {**(ctx.get(SUMMARY_KEY) or {}), **summary}
        return TaskResult.succeeded(context, {} if ctx.get("noOutput") else outputs)

    def _manifests(self, tc: TaskContext) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ctx = tc.ctx
        if ctx.get("source") != "artifact":
            manifests = ctx.get("manifests") or ([ctx["manifest"]] if ctx.get("manifest") else [])
            if not isinstance(manifests, list) or not manifests:
                raise OperationError("manifests: at least one manifest is required when source is text")
            return manifests, {}
        artifact = self._manifest_artifact(tc)
        try:
            text = self.fetch(artifact).decode()
            manifests = parse_manifests(text)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise OperationError(f"could not read manifests from artifact {artifact.get('name')}: {error}") from None
        if ctx.get("skipExpressionEvaluation") is True:
            return manifests, {}
        evaluated, summary = tc.services.expressions.evaluate_value(tc.execution, tc.stage, manifests)
        return evaluated, summary

    def _manifest_artifact(self, tc: TaskContext) -> dict[str, Any]:
        ctx = tc.ctx
        artifact = ctx.get("manifestArtifact")
        if ctx.get("manifestArtifactId"):
            artifact = bound_artifact(tc.execution, tc.stage, str(ctx["manifestArtifactId"]))
            if artifact is None:
                raise OperationError(f"No artifact could be bound to '{ctx['manifestArtifactId']}'")
        if not isinstance(artifact, dict):
            raise OperationError("manifestArtifactId or manifestArtifact is required when source is artifact")
        artifact = dict(artifact)
        if ctx.get("manifestArtifactAccount"):
            artifact["artifactAccount"] = ctx["manifestArtifactAccount"]
        return artifact

    def _request(self, tc: TaskContext, manifests: list[dict[str, Any]]) -> DeployRequest:
        ctx = tc.ctx
        traffic = ctx.get("trafficManagement") or {}
        options = traffic.get("options") or {}
        required = [a for i in ctx.get("requiredArtifactIds") or [] if (a := bound_artifact(tc.execution, tc.stage, i))]
        for binding in ctx.get("requiredArtifacts") or []:
            artifact = binding.get("artifact") or bound_artifact(
                tc.execution, tc.stage, binding.get("expectedArtifactId")
            )
            if artifact:
                required.append(artifact)
        moniker = dict(ctx.get("moniker") or {})
        moniker.setdefault("app", tc.execution.application)
        return DeployRequest(
            manifests=manifests,
            moniker=moniker,
            required_artifacts=required,
            optional_artifacts=visible_artifacts(tc.execution, tc.stage),
            versioned=ctx.get("versioned"),
            namespace_override=ctx.get("namespaceOverride") or None,
            enable_artifact_binding=ctx.get("enableArtifactBinding", True) is not False,
            enable_traffic=bool(options.get("enableTraffic")) if traffic.get("enabled") else True,
            services=list(options.get("services") or []) if traffic.get("enabled") else [],
            strategy=STRATEGIES.get(str(options.get("strategy") or "none").lower(), "NONE")
            if traffic.get("enabled")
            else "NONE",
            skip_spec_template_labels=bool(ctx.get("skipSpecTemplateLabels")),
            label_selectors=ctx.get("labelSelectors") or None,
            allow_nothing_selected=bool(ctx.get("allowNothingSelected")),
        )


class CleanupArtifactsTask(ManifestTask):
    """Enforce `strategy.spinnaker.io/max-version-history` after a successful deploy (kubernetes.md §1.5)."""

    name = "cleanupArtifacts"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        deleted = ops.cleanup_versions((tc.stage.outputs or {}).get("manifests") or [])
        return TaskResult.succeeded({"deletedManifests": deleted} if deleted else {})


class PlanStrategyTask(ManifestTask):
    """List older ReplicaSets of the deployed cluster live, for the strategy's after-stages."""

    name = "planRolloutStrategy"
    changes_cluster = False

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        strategy = str(tc.ctx.get("strategy") or "NONE")
        app = str((tc.ctx.get("moniker") or {}).get("app") or tc.execution.application)
        steps = ops.strategy_steps((tc.stage.outputs or {}).get("manifests") or [], app, strategy)
        return TaskResult.succeeded({"strategySteps": steps})
