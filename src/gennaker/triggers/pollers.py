"""The pollers the scheduler runs, built from the configuration file and the saved pipelines.

- Docker: one poller per repository of each `providers.dockerRegistry` account — the account's
  `repositories`, plus every repository a saved, enabled docker trigger names for that account. Pollers of
  one account share a registry client (and its cached tokens).
- Helm: one poller per (helm artifact account, chart) that a saved, enabled helm trigger names; it polls
  every `scheduler.helm.intervalSeconds` (60).

Building them touches no network, so the caller may build them again whenever the pipelines change. Every
request goes through the same connect guard as artifact fetches (`outbound` in the configuration). Triggers
naming an account that is not configured, or a docker repository that is not a repository name, are skipped,
with one warning per account (or repository) and trigger kind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gennaker.artifacts.accounts import HelmAccount, artifact_accounts
from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.artifacts.fetchers.http_client import HttpGetter, default_client_factory
from gennaker.ci.jenkins import jenkins_masters
from gennaker.triggers.docker.accounts import docker_registry_accounts, is_repository_name
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient
from gennaker.triggers.helm.poller import DEFAULT_INTERVAL_S, MAX_INDEX_BYTES, HelmPoller
from gennaker.triggers.jenkins_poller import DEFAULT_INTERVAL_S as JENKINS_INTERVAL_S
from gennaker.triggers.jenkins_poller import jenkins_pollers
from gennaker.triggers.scheduler import Poller, enabled_triggers, poll_interval

log = logging.getLogger("gennaker.triggers")
HELM_TIMEOUT_S = 60.0
_warned: set[tuple[str, str]] = set()


class PollerFactory:
    """The Docker, Helm and Jenkins pollers the saved pipelines need. The configuration (accounts, secret
    files, the outbound policy, intervals) is read once, when the factory is made; the scheduler then asks it
    for the pollers of the pipelines at every reload.

    Raises `DockerConfigError`, `ArtifactConfigError`, `JenkinsConfigError`, `OutboundConfigError` or
    `ValueError` for an invalid section."""

    def __init__(self, config: Mapping[str, Any]):
        self.guard = public_only_guard(OutboundPolicy.from_config(config.get("outbound")))
        self.docker = {account.name: account for account in docker_registry_accounts(config)}
        self.helm_interval = poll_interval(config, "helm", DEFAULT_INTERVAL_S)
        self.artifact_accounts = artifact_accounts(config.get("artifacts") or {})
        self.helm_http = HttpGetter(default_client_factory(HELM_TIMEOUT_S), self.guard, MAX_INDEX_BYTES)
        self.jenkins_masters = jenkins_masters(config)
        self.jenkins_interval = poll_interval(config, "jenkins", JENKINS_INTERVAL_S)

    def __call__(self, pipelines: list[dict[str, Any]]) -> list[Poller]:
        pollers = self._docker(pipelines) + self._helm(pipelines)
        pollers += jenkins_pollers(self.jenkins_masters, pipelines, guard=self.guard, interval_s=self.jenkins_interval)
        return pollers

    def _docker(self, pipelines: list[dict[str, Any]]) -> list[Poller]:
        wanted: dict[str, list[str]] = {name: list(account.repositories) for name, account in self.docker.items()}
        for trigger in enabled_triggers(pipelines, "docker"):
            name, repository = str(trigger.get("account") or ""), str(trigger.get("repository") or "")
            if not name or not repository:
                continue
            if name not in self.docker:
                _warn_once("docker", f"account {name!r}", "providers.dockerRegistry has no account of that name")
                continue
            if not is_repository_name(repository):  # it goes into the registry's URL paths
                _warn_once("docker", f"repository {repository!r}", "it is not a repository name such as library/nginx")
                continue
            if repository not in wanted[name]:
                wanted[name].append(repository)
        pollers: list[Poller] = []
        for name, repositories in wanted.items():
            if repositories:
                client = RegistryClient(self.docker[name], self.guard)
                pollers += [DockerPoller(self.docker[name], repository, client) for repository in repositories]
        return pollers

    def _helm(self, pipelines: list[dict[str, Any]]) -> list[Poller]:
        charts: dict[tuple[str, str], HelmAccount] = {}
        for trigger in enabled_triggers(pipelines, "helm"):
            name, chart = str(trigger.get("account") or ""), str(trigger.get("chart") or "")
            if not name or not chart:
                continue
            account = self.artifact_accounts.get(name)
            if not isinstance(account, HelmAccount):
                _warn_once("helm", f"account {name!r}", "artifacts.helm has no account of that name")
                continue
            charts.setdefault((name, chart), account)
        return [
            HelmPoller(account, chart, self.helm_http, self.helm_interval) for (_, chart), account in charts.items()
        ]


def pollers_from_config(config: Mapping[str, Any], pipelines: list[dict[str, Any]]) -> list[Poller]:
    """The pollers `config` (the whole configuration file) and the saved `pipelines` need."""
    return PollerFactory(config)(pipelines)


def _warn_once(kind: str, what: str, why: str) -> None:
    if (kind, what) in _warned:
        return
    _warned.add((kind, what))
    log.warning("%s triggers naming %s are not polled: %s", kind, what, why)
