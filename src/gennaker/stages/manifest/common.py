"""What every Kubernetes manifest stage shares: finding its account and target, the artifacts it may
bind, and turning provider errors into a failed stage with the provider's message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gennaker.engine.contracts import Task, TaskContext, TaskResult
from gennaker.model.execution import Execution, Stage
from gennaker.providers.kubernetes import KubernetesError, KubernetesProvider, UnknownAccountError
from gennaker.providers.kubernetes.deploy import DeployError
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError

# How often stages poll the cluster; tests shorten it through the engine settings.
POLL_SETTING = "manifest_poll_ms"
DEFAULT_POLL_MS = 5000
ArtifactFetch = Callable[[dict[str, Any]], bytes]


def account_of(ctx: dict[str, Any]) -> str:
    account = ctx.get("account") or ctx.get("credentials")
    if not account:
        raise OperationError("account is required")
    return str(account)


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
    """Every artifact the stage can see: the trigger's and those its ancestors produced (kubernetes.md §1.1)."""
    found: list[dict[str, Any]] = []
    for ancestor in all_ancestors(execution, stage):
        for artifact in (ancestor.outputs or {}).get("artifacts") or []:
            if isinstance(artifact, dict) and artifact not in found:
                found.append(artifact)
    trigger = execution.trigger or {}
    for artifact in trigger.get("artifacts") or []:
        if isinstance(artifact, dict) and artifact not in found:
            found.append(artifact)
    for expected in trigger.get("resolvedExpectedArtifacts") or []:
        bound = (expected or {}).get("boundArtifact")
        if isinstance(bound, dict) and bound not in found:
            found.append(bound)
    return found


def bound_artifact(execution: Execution, stage: Stage, expected_id: str) -> dict[str, Any] | None:
    """The artifact bound to an expected artifact id, by the trigger or by an upstream stage."""
    expected_lists = [(execution.trigger or {}).get("resolvedExpectedArtifacts") or []]
    for ancestor in all_ancestors(execution, stage):
        expected_lists.append((ancestor.outputs or {}).get("resolvedExpectedArtifacts") or [])
        expected_lists.append(ancestor.context.get("expectedArtifacts") or [])
    for expected_list in expected_lists:
        for expected in expected_list:
            if (expected or {}).get("id") == expected_id and (expected or {}).get("boundArtifact"):
                return dict(expected["boundArtifact"])
    return None


class ManifestTask(Task):
    """A task that talks to a cluster; provider errors fail the stage with their message."""

    external = True

    def __init__(self, provider: KubernetesProvider):
        self.provider = provider

    def execute(self, tc: TaskContext) -> TaskResult:
        try:
            return self.run(tc, self.provider.operations(account_of(tc.ctx)))
        except (OperationError, DeployError, KubernetesError, UnknownAccountError) as error:
            return TaskResult.terminal(str(error))

    def run(self, tc: TaskContext, ops: ManifestOperations) -> TaskResult:
        raise NotImplementedError

    def dynamic_backoff_ms(self, tc: TaskContext) -> int:
        return int(tc.services.settings.get(POLL_SETTING, DEFAULT_POLL_MS))


def written_manifest_context(account: str, location: str, manifest_name: str) -> dict[str, Any]:
    """What Orca's generic manifest tasks leave for the wait task (kubernetes.md §4)."""
    return {
        "manifest.account.name": account,
        "manifest.name": manifest_name,
        "manifest.location": location,
        "outputs.manifestNamesByNamespace": {location: [manifest_name]},
    }
