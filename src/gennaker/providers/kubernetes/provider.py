"""The Kubernetes provider as the rest of Gennaker sees it: accounts, and one client per account."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gennaker.providers.kubernetes.accounts import KubernetesAccount, KubernetesAccounts
from gennaker.providers.kubernetes.client import KubeClient
from gennaker.providers.kubernetes.deploy import Deployer
from gennaker.providers.kubernetes.infrastructure import Infrastructure
from gennaker.providers.kubernetes.operations import ManifestOperations

# Whether a user may use an account: (username, account, "READ" or "WRITE") → allowed.
AccountCheck = Callable[[str, KubernetesAccount, str], bool]


class AccountDenied(PermissionError):
    pass


class KubernetesProvider:
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

    def close(self) -> None:
        self.infrastructure.close()
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
