"""The Kubernetes provider as the rest of Gennaker sees it (`providers.base.Provider`): accounts, one client
per account, live views kept by watches, live objects, and the changes the pages ask for as stage contexts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from gennaker.providers.base import InvalidRequest, LiveObject
from gennaker.providers.kubernetes import jobs
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.accounts import KubernetesAccount, KubernetesAccounts
from gennaker.providers.kubernetes.client import KubeClient
from gennaker.providers.kubernetes.deploy import Deployer
from gennaker.providers.kubernetes.infrastructure import Infrastructure, container_logs, instance, manifest_view
from gennaker.providers.kubernetes.operations import ManifestOperations, OperationError

# Whether a user may use an account: (username, account, "READ" or "WRITE") → allowed.
AccountCheck = Callable[[str, KubernetesAccount, str], bool]


class AccountDenied(PermissionError):
    pass


class KubernetesProvider:
    name = "kubernetes"

    def __init__(
        self,
        accounts: KubernetesAccounts,
        client_factory: Callable[[KubernetesAccount], KubeClient] = KubeClient,
    ):
        self.accounts = accounts
        self._client_factory = client_factory
        self._clients: dict[str, KubeClient] = {}
        self._lock = threading.Lock()
        self.infrastructure = Infrastructure(self.client, lambda: [a.name for a in self.accounts])
        # Set by a server with authentication; executions then use an account only as a user allowed to.
        self.account_check: AccountCheck | None = None

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> KubernetesProvider:
        return cls(KubernetesAccounts.from_config(section))

    def client(self, account: str) -> KubeClient:
        """The account's client, created on first use (raises UnknownAccountError for unknown names)."""
        with self._lock:
            if account not in self._clients:
                self._clients[account] = self._client_factory(self.accounts.get(account))
            return self._clients[account]

    def require_write(self, user: str | None, account: str) -> None:
        """Refuse an execution's change to an account its user (the pipeline's service account) may not write."""
        found = self.accounts.get(account)
        if self.account_check is not None and not self.account_check(user or "anonymous", found, "WRITE"):
            raise AccountDenied(f"{user or 'anonymous'} lacks WRITE permission on account '{account}'")

    def operations(self, account: str) -> ManifestOperations:
        return ManifestOperations(self.client(account))

    def deployer(self, account: str) -> Deployer:
        return Deployer(self.client(account))

    # -- live objects ------------------------------------------------------------------------------
    def live_object(
        self, account: str, location: str, name: str, *, view: bool = False, pods: bool = False
    ) -> LiveObject | None:
        operations = self.operations(account)
        try:
            found = operations.get(location, name)
        except OperationError as error:
            raise InvalidRequest(str(error), "name") from None
        if found is None:
            return None
        return LiveObject(
            manifest=found,
            application=str(mf.read_moniker(found).get("app") or ""),
            editable=mf.editable(found),
            view=manifest_view(operations.client, account, location, found) if view else {},
            pods=operations.newest_pods(found) if pods else [],
        )

    def instance(self, account: str, location: str, name: str) -> dict[str, Any] | None:
        pod = self.client(account).get("v1", "Pod", location, name)
        return None if pod is None else {**instance(pod), "account": account, "region": location, "manifest": pod}

    def console(
        self, account: str, location: str, name: str, tail_lines: int | None = None
    ) -> list[tuple[str, str]] | None:
        client = self.client(account)
        pod = client.get("v1", "Pod", location, name)
        return None if pod is None else container_logs(client, pod, tail_lines=tail_lines)

    # -- changes as stage contexts ---------------------------------------------------------------------
    def action_stage(
        self, action: str, account: str, location: str, name: str, application: str, values: Mapping[str, str]
    ) -> dict[str, Any]:
        try:
            return jobs.action_job(action, account, location, name, application, values)
        except jobs.BadValue as error:
            raise InvalidRequest(error.problem, error.field) from None

    def replace_stage(self, account: str, location: str, name: str, application: str, manifest: Any) -> dict[str, Any]:
        try:
            return jobs.replace_job(account, location, name, application, manifest)
        except jobs.BadValue as error:
            raise InvalidRequest(error.problem, error.field) from None

    def close(self) -> None:
        self.infrastructure.close()
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
