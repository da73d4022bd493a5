"""Fetching a canary run's metric sets from a Prometheus account (kayenta.md §4).

For each metric of a canary config and each side of its scope pair, the PromQL is built with the account's scope
label, sent as a range query over that side's window, and the answer converted to metric sets. Control and
experiment are fetched separately, each with its own window.

Every failure is a `MetricsSourceError` naming the metric (and the side) whose `retryable` tells a Prometheus that
is down or overloaded (ask again later) from a config it cannot answer: a query that does not build or that
Prometheus rejects, an unknown account, a scope the run does not have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gennaker.artifacts.fetchers.guard import ConnectGuard
from gennaker.canary.accounts import MetricsAccountError, MetricsAccounts
from gennaker.canary.intervals import DEFAULT_STEP_SECONDS
from gennaker.canary.metric_sets import MetricSet
from gennaker.canary.prometheus_client import ClientFactory, PrometheusClient, PrometheusError
from gennaker.canary.prometheus_query import (
    PrometheusQueryConfig,
    PrometheusQueryError,
    PrometheusScope,
    build_query,
)
from gennaker.canary.prometheus_response import PrometheusResponseError, metric_sets_for_response

__all__ = [
    "MAX_METRICS",
    "MAX_RUN_POINTS",
    "MetricsSourceError",
    "PrometheusMetricsSource",
    "fetch_metric_sets",
    "fetch_run",
]

MAX_METRICS = 500  # metrics one canary config may fetch in a run (two range queries each)
MAX_RUN_POINTS = 2_000_000  # values one run may hold over all its series, both sides together
SIDES = (("control", "controlScope"), ("experiment", "experimentScope"))


class MetricsSourceError(Exception):
    """Fetching a run's metrics failed. `retryable`: the account is unreachable, timing out or answering 5xx, so
    trying again later may help; otherwise the config, the scope or the account has to change. `metric` names the
    metric that failed (None when the whole run did)."""

    def __init__(self, message: str, retryable: bool, *, metric: str | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.metric = metric


def fetch_metric_sets(
    client: PrometheusClient,
    canary_config: Mapping[str, Any],
    metric: Mapping[str, Any],
    scope: Mapping[str, Any],
    *,
    side: str = "",
) -> list[MetricSet]:
    """One metric of `canary_config` over one side's scope JSON (`scope`, `location`, ISO `start`/`end`, `step`
    in seconds, `extendedScopeParams`), as metric sets; `side` ("control", "experiment") goes into messages."""
    name = str(metric.get("name") or "")
    where = f"metric '{name}'" + (f" ({side})" if side else "")
    try:
        query = _prometheus_query(metric, client.name)
        prometheus_scope, start, end = _scope(scope)
        promql = build_query(
            PrometheusQueryConfig.from_json(query),
            prometheus_scope,
            _templates(canary_config),
            scope_label=client.account.scopeLabel,
        )
        body = client.query_range(promql, start, end, prometheus_scope.step_seconds)
        return metric_sets_for_response(
            body, name, promql, start=start, end=end, step_seconds=prometheus_scope.step_seconds
        )
    except PrometheusError as exc:
        raise MetricsSourceError(f"{where}: {exc}", exc.retryable, metric=name) from None
    except (PrometheusQueryError, PrometheusResponseError, ValueError) as exc:
        raise MetricsSourceError(f"{where}: {exc}", False, metric=name) from None


def fetch_run(
    client: PrometheusClient, canary_config: Mapping[str, Any], scopes: Mapping[str, Any]
) -> tuple[list[MetricSet], list[MetricSet]]:
    """Every metric of `canary_config` over the run's scope pairs (`{scopeName: {controlScope,
    experimentScope}}`, as `intervals.plan_intervals` makes them): (control sets, experiment sets)."""
    metrics = canary_config.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise MetricsSourceError("the canary config has no metrics", False)
    if len(metrics) > MAX_METRICS:
        raise MetricsSourceError(f"the canary config has {len(metrics)} metrics, more than {MAX_METRICS}", False)
    fetched: dict[str, list[MetricSet]] = {"control": [], "experiment": []}
    points = 0
    for index, metric in enumerate(metrics):
        if not isinstance(metric, Mapping):
            raise MetricsSourceError(f"metric #{index + 1} of the canary config is not an object", False)
        pair = _scope_pair(metric, scopes)
        for side, key in SIDES:
            scope = pair.get(key)
            if not isinstance(scope, Mapping):
                raise MetricsSourceError(
                    f"metric '{metric.get('name')}': the run's scope has no {key}", False, metric=metric.get("name")
                )
            sets = fetch_metric_sets(client, canary_config, metric, scope, side=side)
            points += sum(len(s.values) for s in sets)
            if points > MAX_RUN_POINTS:
                raise MetricsSourceError(
                    f"the canary run fetched more than {MAX_RUN_POINTS:,} points (at metric '{metric.get('name')}'): "
                    "use a larger step or a shorter interval",
                    False,
                    metric=metric.get("name"),
                )
            fetched[side].extend(sets)
    return fetched["control"], fetched["experiment"]


class PrometheusMetricsSource:
    """The configured metrics accounts, one long-lived client each (its metric names cached), for the canary stage
    and the metric picker. Thread-safe; close it on shutdown."""

    def __init__(
        self,
        accounts: MetricsAccounts,
        guard: ConnectGuard | None,
        *,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] | None = None,
    ):
        self.accounts = accounts
        self.guard = guard
        self.client_factory = client_factory
        self.clock = clock
        self._clients: dict[str, PrometheusClient] = {}
        self._lock = threading.Lock()

    def client(self, name: str | None) -> PrometheusClient:
        """The client of the named account, or of the default one for None."""
        try:
            account = self.accounts.resolve(name)
        except MetricsAccountError as exc:
            raise MetricsSourceError(str(exc), False) from None
        with self._lock:
            found = self._clients.get(account.name)
            if found is None:
                options: dict[str, Any] = {"cache_seconds": self.accounts.metadata_caching_ms / 1000}
                if self.clock is not None:
                    options["clock"] = self.clock
                found = PrometheusClient(account, self.guard, client_factory=self.client_factory, **options)
                self._clients[account.name] = found
            return found

    def account_permissions(self, name: str | None) -> tuple[str, Mapping[str, Any]]:
        """The account's name (the default one for None) and its permissions."""
        try:
            account = self.accounts.resolve(name)
        except MetricsAccountError as exc:
            raise MetricsSourceError(str(exc), False) from None
        return account.name, account.permissions

    def fetch_run(
        self, account: str | None, canary_config: Mapping[str, Any], scopes: Mapping[str, Any]
    ) -> tuple[list[MetricSet], list[MetricSet]]:
        """`fetch_run` on the named account (the default one for None)."""
        return fetch_run(self.client(account), canary_config, scopes)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _prometheus_query(metric: Mapping[str, Any], account: str) -> Mapping[str, Any]:
    query = metric.get("query")
    if not isinstance(query, Mapping):
        raise PrometheusQueryError("the metric has no query object")
    kind = query.get("type") or query.get("serviceType")
    if kind != "prometheus":
        raise PrometheusQueryError(
            f"the metric's query is of type {kind!r}, but metrics account '{account}' is a Prometheus account"
        )
    return query


def _templates(canary_config: Mapping[str, Any]) -> dict[str, str]:
    templates = canary_config.get("templates") or {}
    if not isinstance(templates, Mapping):
        raise PrometheusQueryError("the canary config's templates must be an object of name to template")
    return {str(k): str(v) for k, v in templates.items()}


def _scope_pair(metric: Mapping[str, Any], scopes: Mapping[str, Any]) -> Mapping[str, Any]:
    name = metric.get("name")
    scope_name = metric.get("scopeName")
    if not scope_name:
        raise MetricsSourceError(f"metric '{name}' has no scopeName", False, metric=name)
    pair = scopes.get(str(scope_name))
    if not isinstance(pair, Mapping):
        raise MetricsSourceError(
            f"metric '{name}' uses scope '{scope_name}', which the run does not have "
            f"(it has: {', '.join(map(str, scopes)) or 'none'})",
            False,
            metric=name,
        )
    return pair


def _scope(scope: Mapping[str, Any]) -> tuple[PrometheusScope, datetime, datetime]:
    """The scope JSON as the query builder reads it, with its (required) window."""
    step = scope.get("step")
    if step is None or step == "":
        step = DEFAULT_STEP_SECONDS
    if isinstance(step, bool) or not isinstance(step, int | float | str):
        raise ValueError(f"the scope's step must be a number of seconds, not {step!r}")
    try:
        step_seconds = int(float(step))
    except ValueError:
        raise ValueError(f"the scope's step must be a number of seconds, not {step!r}") from None
    if step_seconds <= 0:
        raise ValueError(f"the scope's step must be a positive number of seconds, not {step!r}")
    params = scope.get("extendedScopeParams") or {}
    if not isinstance(params, Mapping):
        raise ValueError("the scope's extendedScopeParams must be an object")
    start = _instant(scope.get("start"), "start")
    end = _instant(scope.get("end"), "end")
    prometheus_scope = PrometheusScope(
        scope=str(scope.get("scope") or ""),
        location=str(scope.get("location") or ""),
        start=start,
        end=end,
        step_seconds=step_seconds,
        extended_scope_params={str(k): "" if v is None else str(v) for k, v in params.items()},
    )
    return prometheus_scope, start, end


def _instant(value: Any, key: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"the scope needs an ISO-8601 {key}, not {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"the scope's {key} is not an ISO-8601 instant: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"the scope's {key} needs a time zone (e.g. a trailing Z): {value!r}")
    return moment
