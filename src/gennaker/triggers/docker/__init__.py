"""Docker registry triggers: accounts (`providers.dockerRegistry`), a Registry API v2 client and the poller."""

from gennaker.triggers.docker.accounts import DockerConfigError, DockerRegistryAccount, docker_registry_accounts
from gennaker.triggers.docker.poller import DockerPoller, docker_runtime_trigger, docker_trigger_matches
from gennaker.triggers.docker.registry_client import RegistryClient, RegistryError

__all__ = [
    "DockerConfigError",
    "DockerPoller",
    "DockerRegistryAccount",
    "RegistryClient",
    "RegistryError",
    "docker_registry_accounts",
    "docker_runtime_trigger",
    "docker_trigger_matches",
]
