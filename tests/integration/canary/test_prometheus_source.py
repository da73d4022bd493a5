"""The Prometheus metric source against a real Prometheus scraping a healthy baseline and a degraded canary:
canary config metrics become the right range queries, each side gets its own target's series, the judge sees the
canary is worse, a query Prometheus rejects is not retryable, and a Prometheus that stops is."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.canary.accounts import PrometheusAccount, metrics_accounts
from gennaker.canary.intervals import plan_intervals
from gennaker.canary.judge import judge
from gennaker.canary.metric_sets import MetricSet, mix_metric_sets
from gennaker.canary.metrics_source import MetricsSourceError, PrometheusMetricsSource, fetch_metric_sets
from gennaker.canary.prometheus_client import ClientFactory, PrometheusClient, default_client
from tests.integration.canary.conftest import BASELINE_POD, CANARY_POD, StartPrometheus
from tests.prometheus_support import MetricsService, Prometheus

pytestmark = pytest.mark.slow

LOOPBACK_GUARD = public_only_guard(OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]}))
ERRORS = 'PromQL:sum(rate(http_requests_total{code="500",pod=~"${scope}-.*"}[5s]))'
JUDGED_SCRAPES = 20
ERRORS_BY_POD = 'PromQL:sum by (pod) (rate(http_requests_total{code="500",pod=~"${scope}-.*"}[5s]))'


def source(
    prometheus: Prometheus, client_factory: ClientFactory | None = None, **account: Any
) -> PrometheusMetricsSource:
    config = {
        "canary": {
            "serviceIntegrations": [
                {
                    "name": "prometheus",
                    "enabled": True,
                    "accounts": [{"name": "local", "endpoint": {"baseUrl": prometheus.url}, **account}],
                }
            ]
        }
    }
    return PrometheusMetricsSource(metrics_accounts(config), LOOPBACK_GUARD, client_factory=client_factory)


def run_scopes(**scope: Any) -> Mapping[str, Any]:
    """The scope pair of one retrospective run over the last minute at a 1 s step (Prometheus returns the points
    it has, from the first scrape on)."""
    now = datetime.now(UTC).replace(microsecond=0)
    stage_config = {
        "scopes": [
            {
                "scopeName": "default",
                "controlScope": "checkout-baseline",
                "experimentScope": "checkout-canary",
                "startTimeIso": (now - timedelta(minutes=1)).isoformat(),
                "endTimeIso": now.isoformat(),
                "step": 1,
                **scope,
            }
        ]
    }
    return plan_intervals(stage_config, now).runs[0].scopes


def metric(name: str, query: Mapping[str, Any], group: str = "golden") -> dict[str, Any]:
    return {
        "name": name,
        "scopeName": "default",
        "groups": [group],
        "query": {"type": "prometheus", **query},
        "analysisConfigurations": {"canary": {"direction": "increase"}},
    }


def numbers(metric_set: MetricSet) -> list[float]:
    return [v for v in metric_set.values if not math.isnan(v)]


def mean(metric_set: MetricSet) -> float:
    values = numbers(metric_set)
    assert values, f"no values in {metric_set}"
    return sum(values) / len(values)


def test_a_promql_template_gives_each_side_the_series_of_its_own_target(prometheus: Prometheus) -> None:
    config = {"name": "checkout", "metrics": [metric("errors", {"customInlineTemplate": ERRORS_BY_POD})]}
    metrics = source(prometheus)
    try:
        control, experiment = metrics.fetch_run("local", config, run_scopes())
    finally:
        metrics.close()
    assert [s.tags for s in control] == [{"pod": BASELINE_POD}]
    assert [s.tags for s in experiment] == [{"pod": CANARY_POD}]
    assert control[0].attributes["query"] == ERRORS_BY_POD.removeprefix("PromQL:").replace(
        "${scope}", "checkout-baseline"
    )
    assert control[0].step_millis == 1000 and len(numbers(control[0])) >= 5
    assert mean(experiment[0]) > 5 * mean(control[0])  # ~20 % against ~1 % of the same request rate


def test_a_metric_name_with_a_filter_template_and_scope_params(prometheus: Prometheus) -> None:
    config: dict[str, Any] = {
        "name": "checkout",
        "templates": {"by-pod": 'job="${job}",pod=~"$\\{scope}-.*"'},  # one stored escaped, as Deck saves it
        "metrics": [
            metric(
                "latency",
                {
                    "metricName": "http_request_latency_seconds",
                    "customFilterTemplate": "by-pod",
                    "groupByFields": ["pod"],
                },
            )
        ],
    }
    with PrometheusClient(source(prometheus).accounts.resolve("local"), LOOPBACK_GUARD) as client:
        scopes = run_scopes(extendedScopeParams={"job": "checkout"})
        control = fetch_metric_sets(client, config, config["metrics"][0], scopes["default"]["controlScope"])
        experiment = fetch_metric_sets(client, config, config["metrics"][0], scopes["default"]["experimentScope"])
    assert control[0].attributes["query"] == (
        'avg(http_request_latency_seconds{job="checkout",pod=~"checkout-baseline-.*"}) by (pod)'
    )
    assert [s.tags for s in control] == [{"pod": BASELINE_POD}] and [s.tags for s in experiment] == [
        {"pod": CANARY_POD}
    ]
    assert 0.04 < mean(control[0]) < 0.06 and 0.2 < mean(experiment[0]) < 0.3


def test_the_accounts_scope_label_selects_the_target(prometheus: Prometheus) -> None:
    config: dict[str, Any] = {
        "name": "checkout",
        "metrics": [metric("latency", {"metricName": "http_request_latency_seconds", "resourceType": "gce_instance"})],
    }
    scope = run_scopes(experimentLocation="us-central1", extendedScopeParams={"project": "demo"})["default"]
    by_pod = source(prometheus, scopeLabel="pod")
    by_instance = source(prometheus)  # the default label, `instance`, holds 127.0.0.1:port here
    try:
        found = fetch_metric_sets(by_pod.client(None), config, config["metrics"][0], scope["experimentScope"])
        missing = fetch_metric_sets(by_instance.client(None), config, config["metrics"][0], scope["experimentScope"])
    finally:
        by_pod.close()
        by_instance.close()
    assert found[0].attributes["query"] == (
        'avg(http_request_latency_seconds{pod=~"checkout-canary-.{4}",zone=~".+/projects/demo/zones/us-central1-.{1}"})'
    )
    assert found[0].tags == {} and 0.2 < mean(found[0]) < 0.3
    # Nothing matches: one empty set over the requested window, which the mixer pads with NaN.
    assert [(s.values, s.step_millis, s.expected_data_points) for s in missing] == [((), 1000, 60)]


def test_the_judge_finds_the_degraded_canary_worse(prometheus: Prometheus) -> None:
    # Enough points per side for Mann-Whitney's interval to exclude no difference even when a loaded machine
    # makes the 1 % error rate of the baseline noisy over the 5 s windows.
    prometheus.wait_for_samples(JUDGED_SCRAPES)
    config = {
        "name": "checkout",
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [
            metric("errors", {"customInlineTemplate": ERRORS}, "errors"),
            metric(
                "latency",
                {"metricName": "http_request_latency_seconds", "customInlineTemplate": 'pod=~"${scope}-.*"'},
                "latency",
            ),
        ],
        "classifier": {"groupWeights": {"errors": 50, "latency": 50}},
    }
    metrics = source(prometheus)
    try:
        control, experiment = metrics.fetch_run(None, config, run_scopes())
    finally:
        metrics.close()
    result = judge(config, mix_metric_sets(control, experiment), {"pass": 75, "marginal": 50})
    assert {r["name"]: r["classification"] for r in result["results"]} == {"errors": "High", "latency": "High"}
    assert result["score"]["score"] == 0 and result["score"]["classification"] == "Fail"


def test_a_query_prometheus_rejects_is_not_retryable(prometheus: Prometheus) -> None:
    config = {"name": "checkout", "metrics": [metric("broken", {"customInlineTemplate": "PromQL:sum(rate(up[1m])"})]}
    metrics = source(prometheus)
    try:
        with pytest.raises(MetricsSourceError) as caught:
            metrics.fetch_run("local", config, run_scopes())
    finally:
        metrics.close()
    error = caught.value
    assert error.retryable is False and error.metric == "broken"
    assert str(error).startswith(
        "metric 'broken' (control): Prometheus account 'local' rejected the query `sum(rate(up[1m])`: "
    )
    assert "parse error" in str(error)


def test_health_and_metric_names(prometheus: Prometheus) -> None:
    metrics = source(prometheus)
    try:
        client = metrics.client("local")
        assert client.healthy() is True
        names = client.metric_names()
    finally:
        metrics.close()
    assert {"http_requests_total", "http_request_latency_seconds", "http_request_duration_seconds_bucket"} <= set(names)


def test_prometheus_stopping_mid_run_is_retryable(start_prometheus: StartPrometheus) -> None:
    own = start_prometheus(1)  # the run fails before it needs any data
    queries = []

    def stop_before_the_third_query(request: httpx.Request) -> None:
        if request.url.path.endswith("/query_range"):
            queries.append(request.url.params["query"])
            if len(queries) == 3:
                own.stop()

    def client_factory(account: PrometheusAccount) -> httpx.Client:
        client = default_client(account)
        client.event_hooks["request"] = [stop_before_the_third_query]
        return client

    config = {
        "name": "checkout",
        "metrics": [
            metric("errors", {"customInlineTemplate": ERRORS}),
            metric(
                "latency", {"metricName": "http_request_latency_seconds", "customInlineTemplate": 'pod=~"${scope}-.*"'}
            ),
        ],
    }
    metrics = source(own, client_factory)
    try:
        with pytest.raises(MetricsSourceError) as caught:
            metrics.fetch_run("local", config, run_scopes())
        assert metrics.client("local").healthy() is False
    finally:
        metrics.close()
    error = caught.value
    assert error.retryable is True and error.metric == "latency" and len(queries) == 3
    assert str(error).startswith(
        f"metric 'latency' (control): Prometheus account 'local' at {own.url} cannot be reached"
    )


def test_a_service_can_degrade_later() -> None:
    def latency(service: MetricsService) -> float:
        text = httpx.get(service.url, timeout=5).text
        line = next(line for line in text.splitlines() if line.startswith("http_request_latency_seconds "))
        return float(line.split()[1])

    with MetricsService("healthy", degrade_after_s=1.0) as service:
        before = latency(service)
        deadline = time.monotonic() + 10
        while latency(service) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = latency(service)
    assert before < 0.06 and after > 0.2
