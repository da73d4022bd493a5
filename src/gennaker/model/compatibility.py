"""Spinnaker types Gennaker stores but cannot act on yet, and the warnings a pipeline using them gets.

Import never loses a pipeline: a stage, trigger or notification type that Spinnaker itself defines saves
with a warning naming what is missing, and a stage of such a type fails when it runs with the same reason.
A type Spinnaker does not define (a typo, a plugin) is refused unless the caller asks to import anyway.
Nothing is silently inert: whatever is stored and not acted on is named in `pipeline_warnings`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

_VM_CLOUD = "needs a VM cloud provider (AWS, GCE, Azure, …), which Gennaker does not have; on Kubernetes use {}"
_CLOUD_FOUNDRY = "needs the Cloud Foundry provider, which Gennaker does not have"
_ECS_LAMBDA = "needs the AWS provider (ECS, Lambda, CloudFormation), which Gennaker does not have"
_CI = "needs the {} CI integration, which Gennaker does not have yet"
_NOT_YET = "is not implemented in Gennaker yet"

# Stage types of Spinnaker's core (Orca and Deck) that Gennaker does not run, with what is missing.
SPINNAKER_STAGES_NOT_RUN: dict[str, str] = {
    **{
        name: _VM_CLOUD.format(instead)
        for name, instead in {
            "deploy": "deployManifest",
            "bake": "bakeManifest",
            "createServerGroup": "deployManifest",
            "cloneServerGroup": "deployManifest",
            "destroyServerGroup": "deleteManifest",
            "disableServerGroup": "disableManifest",
            "enableServerGroup": "enableManifest",
            "resizeServerGroup": "scaleManifest",
            "rollbackCluster": "undoRolloutManifest",
            "rollbackServerGroup": "undoRolloutManifest",
            "scaleDownCluster": "scaleManifest",
            "shrinkCluster": "deleteManifest",
            "disableCluster": "disableManifest",
            "findImage": "bakeManifest with artifacts",
            "findImageFromTags": "bakeManifest with artifacts",
            "tagImage": "artifacts",
            "upsertImageTags": "artifacts",
            "rollingPush": "deployManifest",
            "upsertLoadBalancer": "deployManifest of a Service",
            "deleteLoadBalancer": "deleteManifest",
            "upsertSecurityGroup": "deployManifest of a NetworkPolicy",
            "deleteSecurityGroup": "deleteManifest",
            "upsertScalingPolicy": "deployManifest of a HorizontalPodAutoscaler",
            "modifyAwsScalingProcess": "scaleManifest",
            "modifyScalingProcess": "scaleManifest",
            "upsertDiscovery": "enableManifest / disableManifest",
            "applySourceServerGroupCapacity": "scaleManifest",
            "migrateServerGroup": "deployManifest",
            "deployAppEngine": "deployManifest",
            "startAppEngineServerGroup": "scaleManifest",
            "stopAppEngineServerGroup": "scaleManifest",
        }.items()
    },
    **{
        name: _CLOUD_FOUNDRY
        for name in (
            "deployService",
            "destroyService",
            "createServiceKey",
            "deleteServiceKey",
            "shareService",
            "unshareService",
            "createServiceBindings",
            "deleteServiceBindings",
        )
    },
    **{
        name: _ECS_LAMBDA
        for name in (
            "deployCloudFormation",
            "deleteCloudFormationStack",
            "deleteCloudFormationChangeSet",
            "Aws.LambdaDeploymentStage",
            "Aws.LambdaTrafficRoutingStage",
            "Aws.LambdaInvokeStage",
            "Aws.LambdaDeleteStage",
        )
    },
    "travis": _CI.format("Travis"),
    "wercker": _CI.format("Wercker"),
    "concourse": _CI.format("Concourse"),
    "googleCloudBuild": _CI.format("Google Cloud Build"),
    "script": _CI.format("Jenkins (the script stage runs a Jenkins job)"),
    "canary": "the classic canary stage (ACA) is not supported; use kayentaCanary or canaryDeployment",
    "acaTask": "the classic canary stage (ACA) is not supported; use kayentaCanary or canaryDeployment",
    "deployCanary": "the classic canary stage (ACA) is not supported; use kayentaCanary or canaryDeployment",
    "createApplication": "runs as an ad-hoc task (POST /tasks), not as a pipeline stage",
    "savePipeline": "the savePipeline stage (pipelines as code) " + _NOT_YET,
    "importDeploymentArtifacts": "the importDeploymentArtifacts stage " + _NOT_YET,
    "deployServiceAccount": "needs Fiat service accounts, which Gennaker does not have",
    "cloudfoundryRunJob": _CLOUD_FOUNDRY,
}

# Notification types Echo sends (echo-igor.md); stored with the pipeline or stage that names them.
SPINNAKER_NOTIFICATIONS = (
    "email",
    "slack",
    "googlechat",
    "microsoftteams",
    "sms",
    "bearychat",
    "githubStatus",
    "pubsub",
    "cdevents",
)


@dataclass(frozen=True, slots=True)
class FieldWarning:
    """Something a saved pipeline names that Gennaker stores but will not act on, by JSON path."""

    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def stage_not_run_reason(stage_type: str) -> str:
    """Why a stage of this type does not run: what is missing, or that the type is unknown."""
    known = SPINNAKER_STAGES_NOT_RUN.get(stage_type)
    if known is not None:
        return f"stage type '{stage_type}' {known}"
    return f"unknown stage type '{stage_type}' (not a Spinnaker stage; a plugin or a typo?)"


def pipeline_warnings(
    config: Mapping[str, Any],
    runs_stage: Callable[[str, str | None], bool],
    firing_triggers: Collection[str],
    sent_notifications: Collection[str],
) -> list[FieldWarning]:
    """Every stage, trigger and notification of `config` that will not act, with the reason.

    `runs_stage(type, alias)` says whether a stage resolves to a stage Gennaker runs."""
    warnings: list[FieldWarning] = []
    stages = config.get("stages") or []
    for i, stage in enumerate(stages if isinstance(stages, list) else []):
        if not isinstance(stage, Mapping):
            continue
        stage_type, alias = str(stage.get("type") or ""), stage.get("alias")
        if not runs_stage(stage_type, str(alias) if alias else None):
            warnings.append(FieldWarning(f"stages[{i}].type", stage_not_run_reason(stage_type) + "; it fails if run"))
        warnings += _notification_warnings(stage.get("notifications"), f"stages[{i}]", sent_notifications)
    triggers = config.get("triggers") or []
    for i, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        kind = str(trigger.get("type")) if isinstance(trigger, Mapping) else ""
        if kind and kind not in firing_triggers and trigger.get("enabled", True) is not False:
            warnings.append(FieldWarning(f"triggers[{i}].type", f"{kind} triggers do not fire in Gennaker yet"))
    warnings += _notification_warnings(config.get("notifications"), "", sent_notifications)
    return warnings


def _notification_warnings(notifications: Any, where: str, sent: Collection[str]) -> list[FieldWarning]:
    prefix = f"{where}.notifications" if where else "notifications"
    return [
        FieldWarning(f"{prefix}[{i}].type", f"{n.get('type')} notifications are not sent by Gennaker yet")
        for i, n in enumerate(notifications if isinstance(notifications, list) else [])
        if isinstance(n, Mapping) and n.get("type") not in sent
    ]
