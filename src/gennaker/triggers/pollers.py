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
from gennaker.triggers.docker.accounts import docker_registry_accounts, is_repository_name
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient
from gennaker.triggers.helm.poller import DEFAULT_INTERVAL_S, MAX_INDEX_BYTES, HelmPoller
from gennaker.triggers.jenkins_poller import jenkins_pollers_from_config
from gennaker.triggers.scheduler import Poller, enabled_triggers, poll_interval

log = logging.getLogger("gennaker.triggers")
HELM_TIMEOUT_S = 60.0
_warned: set[tuple[str, str]] = set()


def pollers_from_config(config: Mapping[str, Any], pipelines: list[dict[str, Any]]) -> list[Poller]:
    """Docker and Helm pollers for `config` (the whole configuration file) and the saved `pipelines`.

    Raises `DockerConfigError`, `ArtifactConfigError` or `OutboundConfigError` for an invalid section."""
    guard = public_only_guard(OutboundPolicy.from_config(config.get("outbound")))
    pollers: list[Poller] = []

    docker = {account.name: account for account in docker_registry_accounts(config)}
    wanted: dict[str, list[str]] = {name: list(account.repositories) for name, account in docker.items()}
    for trigger in enabled_triggers(pipelines, "docker"):
        name, repository = str(trigger.get("account") or ""), str(trigger.get("repository") or "")
        if not name or not repository:
            continue
        if name not in docker:
            _warn_once("docker", f"account {name!r}", "providers.dockerRegistry has no account of that name")
            continue
        if not is_repository_name(repository):  # it goes into the registry's URL paths
            _warn_once("docker", f"repository {repository!r}", "it is not a repository name such as library/nginx")
            continue
        if repository not in wanted[name]:
            wanted[name].append(repository)
    for name, repositories in wanted.items():
        if not repositories:
            continue
        client = RegistryClient(docker[name], guard)
        pollers += [DockerPoller(docker[name], repository, client) for repository in repositories]

    helm_interval = poll_interval(config, "helm", DEFAULT_INTERVAL_S)
    accounts = artifact_accounts(config.get("artifacts") or {})
    http = HttpGetter(default_client_factory(HELM_TIMEOUT_S), guard, MAX_INDEX_BYTES)
    charts: dict[tuple[str, str], HelmAccount] = {}
    for trigger in enabled_triggers(pipelines, "helm"):
        name, chart = str(trigger.get("account") or ""), str(trigger.get("chart") or "")
        if not name or not chart:
            continue
        account = accounts.get(name)
        if not isinstance(account, HelmAccount):
            _warn_once("helm", f"account {name!r}", "artifacts.helm has no account of that name")
            continue
        charts.setdefault((name, chart), account)
    pollers += [HelmPoller(account, chart, http, helm_interval) for (_, chart), account in charts.items()]
    pollers += jenkins_pollers_from_config(config, pipelines)
    return pollers


def _warn_once(kind: str, what: str, why: str) -> None:
    if (kind, what) in _warned:
        return
    _warned.add((kind, what))
    log.warning("%s triggers naming %s are not polled: %s", kind, what, why)
