"""`runJob` on Kubernetes: run one Job (always re-created), wait for it, and capture what it printed
as stage outputs (`SPINNAKER_PROPERTY_*`, `SPINNAKER_CONFIG_JSON`) (kubernetes.md §4.8)."""

from __future__ import annotations

import json
from typing import Any

from gennaker.artifacts import Fetch
from gennaker.engine.contracts import StageDefinition, TaskContext, TaskResult, exception_details
from gennaker.model.execution import Stage
from gennaker.model.status import Status
from gennaker.providers.kubernetes import KubernetesError, KubernetesProvider, stability
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.deploy import DeployRequest
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.stages.artifacts import bound_artifact, visible_artifacts, with_artifact_binding
from gennaker.stages.manifest.common import ManifestTask, account_of
from gennaker.stages.schemas import RunJobContext

PROPERTY_PREFIX = "SPINNAKER_PROPERTY_"
CONFIG_JSON_PREFIX = "SPINNAKER_CONFIG_JSON="


class RunJobStage(StageDefinition):
    type = "runJob"
    context_schema = RunJobContext
    aliases = ("runJobManifest",)  # Deck saves {"type": "runJobManifest", "alias": "runJob"}

    def tasks(self, stage: Stage) -> list[str]:
        tasks = [RunJobTask.name]
        if stage.context.get("waitForCompletion", True) is not False:
            tasks.append(WaitOnJobCompletionTask.name)
        tasks = with_artifact_binding(stage, tasks)
        if stage.context.get("consumeArtifactSource") == "artifact":
            tasks.append(ConsumeArtifactTask.name)
        return tasks


def parse_properties(log: str) -> dict[str, Any]:
    """Properties a job printed; keys are lower-cased and values holding `=` are dropped, as Spinnaker does."""
    properties: dict[str, Any] = {}
    for line in log.splitlines():
        stripped = line.strip()
        if stripped.startswith(CONFIG_JSON_PREFIX):
            try:
                value = json.loads(stripped[len(CONFIG_JSON_PREFIX) :])
            except ValueError as error:
                raise OperationError(f"{CONFIG_JSON_PREFIX} is not valid JSON: {error}") from None
            if not isinstance(value, dict):
                raise OperationError(f"{CONFIG_JSON_PREFIX} must be followed by a JSON object")
            properties.update(value)
        elif PROPERTY_PREFIX in line:
            parts = line[line.index(PROPERTY_PREFIX) + len(PROPERTY_PREFIX) :].split("=")
            if len(parts) == 2:
                properties[parts[0].strip().lower()] = parts[1].strip()
    return properties


class RunJobTask(ManifestTask):
    name = "runJob"

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        if ctx.get("jobName"):
            return TaskResult.succeeded()  # already started: a retried task must not start a second job
        manifests = ctx.get("manifests") or ([ctx["manifest"]] if ctx.get("manifest") else [])
        if len(manifests) != 1:
            raise OperationError("Run Job only supports manifests with a single Job.")
        job = dict(manifests[0])
        if job.get("kind") != "Job":
            raise OperationError("Only kind of Job is accepted for the Run Job operation.")
        if ctx.get("namespace"):
            job.setdefault("metadata", {})["namespace"] = ctx["namespace"]
        request = DeployRequest(
            manifests=[job],
            moniker={"app": ctx.get("application") or tc.execution.application},
            optional_artifacts=visible_artifacts(tc.execution, tc.stage),
            force_recreate=True,
        )
        result = self.provider.deployer(account_of(ctx)).deploy(request)
        deployed = result.manifests[0]
        outputs = result.outputs()
        context = {
            "jobName": mf.name(deployed),
            "jobNamespace": mf.namespace(deployed),
            "deploy.account.name": account_of(ctx),
            "outputs.manifestNamesByNamespace": result.manifest_names_by_namespace,
        }
        logs_template = mf.annotations_of(deployed).get("job.spinnaker.io/logs")
        if logs_template:
            context["logs"] = logs_template.replace("{{ manifest.metadata.name }}", mf.name(deployed))
        return TaskResult.succeeded(context, outputs)

    def on_cancel(self, tc: TaskContext) -> None:
        if tc.ctx.get("jobName"):
            try:
                ops = self.provider.operations(account_of(tc.ctx))
                ops.delete(
                    str(tc.ctx.get("jobNamespace") or ""), f"job {tc.ctx['jobName']}", options={"cascading": True}
                )
            except (KubernetesError, OperationError):
                pass  # best effort, as Orca's destroy-job task


class WaitOnJobCompletionTask(ManifestTask):
    name = "waitOnJobCompletion"
    changes_cluster = False
    timeout_ms = 120 * 60 * 1000
    timeout_overridable = True

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        namespace, name = str(ctx.get("jobNamespace") or ""), str(ctx.get("jobName") or "")
        job = ops.get(namespace, f"job {name}")
        if job is None:
            raise OperationError(f"Job '{name}' in '{namespace}' no longer exists")
        state, failure = _job_state(job)
        pods = sorted(ops.newest_pods(job), key=lambda p: (p.get("status") or {}).get("startTime") or "")
        pod_name = mf.name(pods[-1]) if pods else None
        if state == "Running":
            return TaskResult.running(jobStatus={"name": name, "location": namespace, "status": state})
        context: dict[str, Any] = {
            "jobStatus": {"name": name, "location": namespace, "status": state, "mostRecentPodName": pod_name}
        }
        outputs: dict[str, Any] = {}
        container = ctx.get("propertyFile")
        if ctx.get("consumeArtifactSource") == "propertyFile" and container and pod_name:
            log = ops.client.log(namespace, pod_name, str(container))
            properties = parse_properties(log)
            outputs.update(properties)
            outputs["propertyFileContents"] = properties
        if state == "Failed":
            details = [d for d in (failure, pods and _pod_details(pods[-1])) if d]
            message = f"Job: '{name}' failed." + "".join(f" {d}" for d in details)
            context["exception"] = exception_details(message)
            return TaskResult(Status.TERMINAL, context, outputs)
        return TaskResult.succeeded(context, outputs)


def _job_state(job: dict[str, Any]) -> tuple[str, str | None]:
    """Succeeded, Failed (with Orca's "Reason: … Details: …") or Running, by the Job stability rules."""
    status = stability.status_of(job)
    failed = stability.job_failure(job)
    if status.failed.state and failed is not None:
        return "Failed", f"Reason: {failed.get('reason')}. Details: {failed.get('message')}"
    return ("Succeeded", None) if status.stable.state else ("Running", None)


def _pod_details(pod: dict[str, Any]) -> str | None:
    """The first container that exited non-zero or is stuck waiting."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated") or {}, state.get("waiting") or {}
        if terminated and terminated.get("exitCode"):
            return (
                f"Additional Details: container '{container.get('name')}' exited with code "
                f"{terminated['exitCode']} ({terminated.get('reason') or 'Error'})"
            )
        if waiting.get("reason"):
            return f"Additional Details: container '{container.get('name')}' is waiting: {waiting['reason']}"
    return None


class ConsumeArtifactTask(ManifestTask):
    """Read a JSON object from a bound artifact into the stage outputs (`consumeArtifactSource: artifact`)."""

    name = "consumeArtifact"
    changes_cluster = False

    def __init__(self, provider: KubernetesProvider, fetch: Fetch):
        super().__init__(provider)
        self.fetch = fetch

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        expected_id = str(tc.ctx.get("consumeArtifactId") or "")
        artifact = bound_artifact(tc.execution, tc.stage, expected_id)
        if artifact is None:
            raise OperationError(f"No artifact could be bound to '{expected_id}'")
        if tc.ctx.get("consumeArtifactAccount"):
            artifact["artifactAccount"] = tc.ctx["consumeArtifactAccount"]
        try:
            value = json.loads(self.fetch(artifact))
        except ValueError as error:
            raise OperationError(f"artifact {artifact.get('name')} is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise OperationError(f"artifact {artifact.get('name')} must hold a JSON object")
        return TaskResult.succeeded({}, {k: v for k, v in value.items() if v is not None})
