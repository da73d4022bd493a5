"""Kubernetes accounts from the configuration file (`providers.kubernetes.accounts`, kubernetes.md §8).

Keys keep Spinnaker's halconfig spelling so an existing `hal config` account block can be pasted in.
Settings that only tuned Spinnaker's cache (`cacheThreads`, `liveManifestCalls`, …) are accepted and
ignored: Gennaker reads the cluster live and watches it instead of caching it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from gennaker.providers.base import UnknownAccount
from gennaker.providers.kubernetes.kinds import CUSTOM_RESOURCE_PRIORITY


class CustomResource(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    kubernetes_kind: str = Field(alias="kubernetesKind")
    spinnaker_kind: str = Field("unclassified", alias="spinnakerKind")
    deploy_priority: int = Field(CUSTOM_RESOURCE_PRIORITY, alias="deployPriority")
    versioned: bool = False
    namespaced: bool = True


class KubernetesAccount(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str = Field(min_length=1)
    environment: str | None = None
    account_type: str | None = Field(None, alias="accountType")
    kubeconfig_file: str | None = Field(None, alias="kubeconfigFile")
    kubeconfig_contents: SecretStr | None = Field(None, alias="kubeconfigContents")
    context: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    omit_namespaces: list[str] = Field(default_factory=list, alias="omitNamespaces")
    kinds: list[str] = Field(default_factory=list)
    omit_kinds: list[str] = Field(default_factory=list, alias="omitKinds")
    custom_resources: list[CustomResource] = Field(default_factory=list, alias="customResources")
    only_spinnaker_managed: bool = Field(False, alias="onlySpinnakerManaged")
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    request_timeout_seconds: float = Field(30.0, alias="kubectlRequestTimeoutSeconds", gt=0)

    @model_validator(mode="after")
    def _exclusive_lists(self) -> KubernetesAccount:
        if self.namespaces and self.omit_namespaces:
            raise ValueError("namespaces and omitNamespaces are mutually exclusive")
        if self.kinds and self.omit_kinds:
            raise ValueError("kinds and omitKinds are mutually exclusive")
        if self.kubeconfig_file and self.kubeconfig_contents:
            raise ValueError("kubeconfigFile and kubeconfigContents are mutually exclusive")
        return self

    def allows_namespace(self, namespace: str | None) -> str | None:
        """Why a deploy into `namespace` is refused, or None when it is allowed (a manifest without one passes)."""
        if namespace is None:
            return None
        if self.namespaces and namespace not in self.namespaces:
            return f"namespace '{namespace}' is not one of account '{self.name}''s namespaces {self.namespaces}"
        if namespace in self.omit_namespaces:
            return f"namespace '{namespace}' is omitted by account '{self.name}'"
        return None

    def allows_kind(self, kind: str) -> str | None:
        """Why deploying `kind` is refused; Gennaker enforces kinds/omitKinds at deploy time as Halyard documents."""
        lowered = kind.lower()
        if self.kinds and lowered not in {k.lower() for k in self.kinds}:
            return f"kind '{kind}' is not one of account '{self.name}''s kinds {self.kinds}"
        if lowered in {k.lower() for k in self.omit_kinds}:
            return f"kind '{kind}' is omitted by account '{self.name}'"
        return None

    def custom_resource(self, kind: str) -> CustomResource | None:
        lowered = kind.lower()
        return next((c for c in self.custom_resources if c.kubernetes_kind.lower() == lowered), None)

    def public(self) -> dict[str, Any]:
        """The account as `/credentials` lists it: never the kubeconfig or anything else secret."""
        return {
            "name": self.name,
            "type": "kubernetes",
            "cloudProvider": "kubernetes",
            "providerVersion": "v2",
            "accountType": self.account_type or self.name,
            "environment": self.environment or self.name,
            "namespaces": list(self.namespaces),
            "omitNamespaces": list(self.omit_namespaces),
            "kinds": list(self.kinds),
            "omitKinds": list(self.omit_kinds),
            "onlySpinnakerManaged": self.only_spinnaker_managed,
            "permissions": {k: list(v) for k, v in self.permissions.items()},
            "context": self.context,
        }


class UnknownAccountError(UnknownAccount):
    pass


class KubernetesAccounts:
    """The configured accounts by name."""

    def __init__(self, accounts: list[KubernetesAccount]):
        names = [a.name for a in accounts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"providers.kubernetes.accounts: duplicate account name(s) {duplicates}")
        self._by_name = {a.name: a for a in accounts}

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> KubernetesAccounts:
        """Accounts from the `providers.kubernetes` section of the configuration file."""
        section = section or {}
        if section.get("enabled") is False:
            return cls([])
        accounts = []
        for index, raw in enumerate(section.get("accounts") or []):
            try:
                accounts.append(KubernetesAccount.model_validate(raw))
            except ValidationError as error:
                problems = "; ".join(
                    f"providers.kubernetes.accounts[{index}]" + "".join(f".{p}" for p in e["loc"]) + f": {e['msg']}"
                    for e in error.errors()
                )
                raise ValueError(problems) from None
        return cls(accounts)

    def get(self, name: str) -> KubernetesAccount:
        account = self._by_name.get(name)
        if account is None:
            raise UnknownAccountError(f"unknown Kubernetes account '{name}'")
        return account

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
