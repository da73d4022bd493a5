"""Spinnaker's manifest-based Kubernetes provider: accounts, deploys, strategies, live infrastructure."""

from gennaker.providers.kubernetes.accounts import KubernetesAccount, KubernetesAccounts, UnknownAccountError
from gennaker.providers.kubernetes.client import KubeClient, KubernetesError
from gennaker.providers.kubernetes.provider import KubernetesProvider

__all__ = [
    "KubeClient",
    "KubernetesAccount",
    "KubernetesAccounts",
    "KubernetesError",
    "KubernetesProvider",
    "UnknownAccountError",
]
