"""The pollers the scheduler runs, built from the configuration file and the saved pipelines.

- Docker: one poller per repository of each `providers.dockerRegistry` account — the account's
  `repositories`, plus every repository a saved, enabled docker trigger names for that account. Pollers of
  one account share a registry client (and its cached tokens).
- Helm: one poller per (helm artifact account, chart) that a saved, enabled helm trigger names; it polls
  every `scheduler.helm.intervalSeconds` (60).

Building them touches no network, so the caller may build them again whenever the pipelines change. Every
request goes through the same connect guard as artifact fetches (`outbound` in the configuration). Triggers
naming an account that is not configured are skipped, with one warning per account and trigger kind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from gennaker.artifacts.accounts import HelmAccount, artifact_accounts
from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.artifacts.fetchers.http_client import HttpGetter, default_client_factory
from gennaker.triggers.docker.accounts import docker_registry_accounts
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient
from gennaker.triggers.helm.poller import DEFAULT_INTERVAL_S, MAX_INDEX_BYTES, HelmPoller
from gennaker.triggers.jenkins_poller import jenkins_pollers_from_config
from gennaker.triggers.scheduler import Poller

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
            _warn_once("docker", name, "providers.dockerRegistry has no account of that name")
            continue
        if repository not in wanted[name]:
            wanted[name].append(repository)
    for name, repositories in wanted.items():
        if not repositories:
            continue
        client = RegistryClient(docker[name], guard)
        pollers += [DockerPoller(docker[name], repository, client) for repository in repositories]

    helm_interval = _helm_interval(config)
    accounts = artifact_accounts(config.get("artifacts") or {})
    http = HttpGetter(default_client_factory(HELM_TIMEOUT_S), guard, MAX_INDEX_BYTES)
    charts: dict[tuple[str, str], HelmAccount] = {}
    for trigger in enabled_triggers(pipelines, "helm"):
        name, chart = str(trigger.get("account") or ""), str(trigger.get("chart") or "")
        if not name or not chart:
            continue
        account = accounts.get(name)
        if not isinstance(account, HelmAccount):
            _warn_once("helm", name, "artifacts.helm has no account of that name")
            continue
        charts.setdefault((name, chart), account)
    pollers += [HelmPoller(account, chart, http, helm_interval) for (_, chart), account in charts.items()]
    pollers += jenkins_pollers_from_config(config, pipelines)
    return pollers


def enabled_triggers(pipelines: list[dict[str, Any]], trigger_type: str) -> Iterator[Mapping[str, Any]]:
    """The enabled triggers of `trigger_type` of the enabled pipelines (the scheduler fires only those)."""
    for config in pipelines:
        if not isinstance(config, Mapping) or config.get("disabled"):
            continue
        for trigger in config.get("triggers") or []:
            if isinstance(trigger, Mapping) and trigger.get("type") == trigger_type and trigger.get("enabled", True):
                yield trigger


def _helm_interval(config: Mapping[str, Any]) -> float:
    scheduler = config.get("scheduler") or {}
    helm = (scheduler.get("helm") if isinstance(scheduler, Mapping) else None) or {}
    value = helm.get("intervalSeconds", DEFAULT_INTERVAL_S) if isinstance(helm, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError("scheduler.helm.intervalSeconds must be a positive number of seconds")
    return float(value)


def _warn_once(kind: str, account: str, why: str) -> None:
    if (kind, account) in _warned:
        return
    _warned.add((kind, account))
    log.warning("%s triggers naming account %r are not polled: %s", kind, account, why)
