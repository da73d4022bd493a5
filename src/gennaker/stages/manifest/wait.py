"""Target resolution and waiting for manifests to become stable (kubernetes.md §2.1, §3.4)."""

from __future__ import annotations

from typing import Any

from gennaker.engine.contracts import TaskContext, TaskResult, exception_details
from gennaker.model.status import Status
from gennaker.providers.kubernetes import KubernetesError
from gennaker.providers.kubernetes.kinds import full_name
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.stages.manifest.common import ManifestTask, account_of


class ResolveTargetManifestTask(ManifestTask):
    """Turn a dynamic target (`cluster` + `criteria`) into a `manifestName`, once, reading the cluster live."""

    name = "resolveTargetManifest"
    changes_cluster = False

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        if (ctx.get("manifestName") and ctx.get("mode") != "dynamic") or ctx.get("resolvedManifestName"):
            return TaskResult.succeeded()
        if not ctx.get("manifestName") and not ctx.get("cluster") and ctx.get("kinds"):
            return TaskResult.succeeded()  # a delete by kinds and label selectors has no single target
        location = ctx.get("location") or ""
        if not ctx.get("cluster") or not ctx.get("criteria"):
            raise OperationError("a target needs manifestName, or cluster and criteria")
        kind = str(ctx.get("kind") or "replicaSet")
        app = str(ctx.get("app") or ctx.get("moniker", {}).get("app") or tc.execution.application)
        target = ops.dynamic_target(location, kind, app, str(ctx["cluster"]), str(ctx["criteria"]))
        name = full_name(target)
        return TaskResult.succeeded({"manifestName": name, "resolvedManifestName": name})


class WaitForManifestStableTask(ManifestTask):
    """Poll each deployed manifest until all are stable or one failed; a pod that cannot start fails at once."""

    name = "waitForManifestToStabilize"
    changes_cluster = False
    timeout_ms = 30 * 60 * 1000
    timeout_overridable = True

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        ctx = tc.ctx
        account = account_of(ctx)
        names = ctx.get("outputs.manifestNamesByNamespace") or (tc.stage.outputs or {}).get("manifestNamesByNamespace")
        stable: list[dict[str, str]] = list(ctx.get("stableManifests") or [])
        failed: list[dict[str, str]] = list(ctx.get("failedManifests") or [])
        done = {(m["location"], m["manifestName"]) for m in stable + failed}
        messages: list[str] = []
        errors: list[str] = []
        for location, manifest_names in (names or {}).items():
            for manifest_name in manifest_names:
                if (location, manifest_name) in done:
                    continue
                identity = {"manifestName": manifest_name, "location": location}
                prefix = f"'{manifest_name}' in '{location}' for account {account}"
                try:
                    observed = ops.observe(location, manifest_name)
                except (KubernetesError, OperationError) as error:
                    messages.append(f"{prefix}: {error}")  # the cluster may be briefly unreachable: keep waiting
                    continue
                if observed.status.failed.state or observed.pod_failure:
                    failed.append(identity)
                    errors.append(f"{prefix}: {observed.status.failed.message or observed.pod_failure}")
                elif observed.status.stable.state:
                    stable.append(identity)
                else:
                    messages.append(
                        f"{prefix}: {observed.status.stable.message or 'waiting for manifest to stabilize'}"
                    )
        context: dict[str, Any] = {"stableManifests": stable, "failedManifests": failed, "messages": messages}
        if errors:
            context["messages"] = messages + errors
            context["exception"] = exception_details(errors[0], errors)
            return TaskResult(Status.TERMINAL, context)
        if messages:
            return TaskResult(Status.RUNNING, context)
        return TaskResult.succeeded(context)

