"""What every Kubernetes manifest stage shares: finding its account and target, the artifacts it may
bind, and turning provider errors into a failed stage with the provider's message."""

from __future__ import annotations

from typing import Any, ClassVar

from gennaker.engine.contracts import Task, TaskContext, TaskResult
from gennaker.providers.kubernetes import KubernetesError, KubernetesProvider, UnknownAccountError
from gennaker.providers.kubernetes.deploy import DeployError
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError
from gennaker.providers.kubernetes.provider import AccountDenied

# How often stages poll the cluster; tests shorten it through the engine settings.
POLL_SETTING = "manifest_poll_ms"
DEFAULT_POLL_MS = 5000


def account_of(ctx: dict[str, Any]) -> str:
    account = ctx.get("account") or ctx.get("credentials")
    if not account:
        raise OperationError("account is required")
    return str(account)


class ManifestTask(Task):
    """A task that talks to a cluster; provider errors fail the stage with their message."""

    external = True

    def __init__(self, provider: KubernetesProvider):
        self.provider = provider

    # Tasks that only read the cluster need no WRITE permission on the account.
    changes_cluster: ClassVar[bool] = True

    def execute(self, tc: TaskContext) -> TaskResult:
        try:
            account = account_of(tc.ctx)
            if self.changes_cluster:
                self.provider.require_write((tc.execution.authentication or {}).get("user"), account)
            return self.run(tc, self.provider.operations(account))
        except (OperationError, DeployError, KubernetesError, UnknownAccountError, AccountDenied) as error:
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
