"""Fetching a run's metric sets against a stub Prometheus: the query each side sends, and errors that name the
metric and say whether trying again may help."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gennaker.artifacts.fetchers.guard import loopback_only_guard
from gennaker.canary import metrics_source
from gennaker.canary.accounts import metrics_accounts
from gennaker.canary.metric_sets import MetricSet
from gennaker.canary.metrics_source import MetricsSourceError, PrometheusMetricsSource, fetch_metric_sets, fetch_run
from gennaker.canary.prometheus_client import PrometheusClient
from tests.unit.canary.prometheus_stub import StubPrometheus, json_reply, matrix

QUERY_RANGE = "/api/v1/query_range"
SCOPE = {
    "scope": "checkout-canary",
    "location": "us-central1",
    "start": "2026-03-01T12:00:00Z",
    "end": "2026-03-01T12:05:00Z",
    "step": 60,
    "extendedScopeParams": {"namespace": "shop"},
}
SCOPES = {"default": {"controlScope": {**SCOPE, "scope": "checkout-baseline"}, "experimentScope": SCOPE}}
TEMPLATES = {"by-pod": 'namespace="${namespace}",pod=~"${scope}-.*"'}


def metric(name: str, **query: Any) -> dict[str, Any]:
    return {"name": name, "scopeName": "default", "query": {"type": "prometheus", **query}}


def canary_config(*metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": "checkout", "templates": TEMPLATES, "metrics": list(metrics)}


@pytest.fixture
def stub() -> Iterator[StubPrometheus]:
    with StubPrometheus() as running:
        yield running


def source(stub: StubPrometheus, **account: Any) -> PrometheusMetricsSource:
    accounts = [{"name": "prom", "endpoint": {"baseUrl": stub.url}, **account}]
    config = {"canary": {"serviceIntegrations": [{"name": "prometheus", "enabled": True, "accounts": accounts}]}}
    return PrometheusMetricsSource(metrics_accounts(config), loopback_only_guard())


@pytest.fixture
def client(stub: StubPrometheus) -> Iterator[PrometheusClient]:
    metrics = source(stub, scopeLabel="pod")
    yield metrics.client(None)
    metrics.close()


def failure(call: Any) -> MetricsSourceError:
    with pytest.raises(MetricsSourceError) as caught:
        call()
    return caught.value


def test_one_metric_over_one_scope(stub: StubPrometheus, client: PrometheusClient) -> None:
    stub.replies[QUERY_RANGE] = json_reply(
        matrix(({"pod": "checkout-canary-wxyz"}, [(1772366400, "0.25"), (1772366460, "0.5")]))
    )
    sets = fetch_metric_sets(
        client, canary_config(), metric("latency", metricName="latency_seconds", customFilterTemplate="by-pod"), SCOPE
    )
    promql = 'avg(latency_seconds{namespace="shop",pod=~"checkout-canary-.*"})'
    assert sets == [
        MetricSet(
            name="latency",
            tags={"pod": "checkout-canary-wxyz"},
            start_time_millis=1772366400000,
            end_time_millis=1772366520000,
            step_millis=60000,
            values=(0.25, 0.5),
            attributes={"query": promql},
        )
    ]
    [request] = stub.received
    assert request.query == {"query": promql, "start": SCOPE["start"], "end": SCOPE["end"], "step": "60"}


def test_the_accounts_scope_label_and_an_empty_answer(stub: StubPrometheus, client: PrometheusClient) -> None:
    stub.replies[QUERY_RANGE] = json_reply(matrix())
    gce = metric("cpu", metricName="cpu", resourceType="gce_instance")
    [empty] = fetch_metric_sets(client, canary_config(), gce, {**SCOPE, "step": "30"})
    assert stub.received[0].query["query"] == 'avg(cpu{pod=~"checkout-canary-.{4}",zone=~".+/zones/us-central1-.{1}"})'
    assert (empty.values, empty.step_millis, empty.expected_data_points) == ((), 30_000, 10)


def test_a_whole_run_fetches_each_side_with_its_own_scope(stub: StubPrometheus) -> None:
    stub.replies[QUERY_RANGE] = json_reply(matrix(({}, [(1772366400, "1")])))
    config = canary_config(
        metric("errors", customInlineTemplate="PromQL:sum(rate(errors_total{pod=~'${scope}-.*'}[1m]))"),
        metric("latency", metricName="latency_seconds", customFilterTemplate="by-pod"),
    )
    metrics = source(stub)
    try:
        control, experiment = metrics.fetch_run(None, config, SCOPES)
    finally:
        metrics.close()
    assert [s.name for s in control] == ["errors", "latency"] and [s.name for s in experiment] == ["errors", "latency"]
    assert [r.query["query"] for r in stub.received] == [
        "sum(rate(errors_total{pod=~'checkout-baseline-.*'}[1m]))",
        "sum(rate(errors_total{pod=~'checkout-canary-.*'}[1m]))",
        'avg(latency_seconds{namespace="shop",pod=~"checkout-baseline-.*"})',
        'avg(latency_seconds{namespace="shop",pod=~"checkout-canary-.*"})',
    ]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"name": "dd", "scopeName": "default", "query": {"type": "datadog", "metricName": "x"}},
            "metric 'dd' (control): the metric's query is of type 'datadog', but metrics account 'prom' is a "
            "Prometheus account",
        ),
        (
            {"name": "q", "scopeName": "default"},
            "metric 'q' (control): the metric has no query object",
        ),
        (
            metric("tpl", metricName="x", customInlineTemplate="pod=${nowhere}"),
            "metric 'tpl' (control): Problem evaluating custom filter template: Cannot resolve variable 'nowhere'",
        ),
        (
            metric("res", metricName="x"),
            "metric 'res' (control): Either a resource type or a custom filter is required.",
        ),
        ({**metric("s", metricName="x"), "scopeName": None}, "metric 's' has no scopeName"),
        (
            {**metric("s", metricName="x"), "scopeName": "eu"},
            "metric 's' uses scope 'eu', which the run does not have (it has: default)",
        ),
    ],
)
def test_a_metric_that_cannot_be_fetched_is_not_retryable(
    stub: StubPrometheus, client: PrometheusClient, bad: Mapping[str, Any], message: str
) -> None:
    error = failure(lambda: fetch_run(client, canary_config(bad), SCOPES))
    assert (str(error), error.retryable, error.metric) == (message, False, bad["name"])
    assert stub.received == []


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"start": None}, "the scope needs an ISO-8601 start, not None"),
        ({"end": "yesterday"}, "the scope's end is not an ISO-8601 instant: 'yesterday'"),
        ({"end": "2026-03-01T12:05:00"}, "the scope's end needs a time zone (e.g. a trailing Z)"),
        ({"step": 0}, "the scope's step must be a positive number of seconds, not 0"),
        ({"step": "often"}, "the scope's step must be a number of seconds, not 'often'"),
        ({"extendedScopeParams": ["a"]}, "the scope's extendedScopeParams must be an object"),
    ],
)
def test_a_scope_that_cannot_be_queried(
    stub: StubPrometheus, client: PrometheusClient, scope: Mapping[str, Any], message: str
) -> None:
    error = failure(lambda: fetch_metric_sets(client, canary_config(), metric("m", metricName="m"), {**SCOPE, **scope}))
    assert error.retryable is False and message in str(error) and stub.received == []


def test_prometheus_down_on_one_side_is_retryable_and_names_it(stub: StubPrometheus, client: PrometheusClient) -> None:
    stub.replies[QUERY_RANGE] = json_reply({"status": "error", "errorType": "unavailable", "error": "overloaded"}, 503)
    error = failure(
        lambda: fetch_run(client, canary_config(metric("m", resourceType="gce_instance", metricName="m")), SCOPES)
    )
    assert error.retryable is True and error.metric == "m"
    assert str(error) == (
        f"metric 'm' (control): Prometheus account 'prom' at {stub.url} answered HTTP 503 for the range query: "
        "overloaded"
    )


def test_a_rejected_query_is_not_retryable(stub: StubPrometheus, client: PrometheusClient) -> None:
    stub.replies[QUERY_RANGE] = json_reply({"status": "error", "errorType": "bad_data", "error": "parse error"}, 400)
    bad = metric("m", customInlineTemplate="PromQL:sum(")
    error = failure(lambda: fetch_metric_sets(client, canary_config(), bad, SCOPE, side="experiment"))
    assert (str(error), error.retryable) == (
        "metric 'm' (experiment): Prometheus account 'prom' rejected the query `sum(`: parse error",
        False,
    )


def test_an_unknown_account(stub: StubPrometheus) -> None:
    metrics = source(stub)
    try:
        error = failure(lambda: metrics.fetch_run("other", canary_config(metric("m", metricName="m")), SCOPES))
        assert metrics.account_permissions(None) == ("prom", {})
        assert failure(lambda: metrics.account_permissions("other")).retryable is False
    finally:
        metrics.close()
    assert str(error) == "metrics account 'other' is not configured (configured: prom)" and not error.retryable


def test_budgets(stub: StubPrometheus, client: PrometheusClient, monkeypatch: pytest.MonkeyPatch) -> None:
    many = canary_config(*(metric(f"m{i}", metricName="m") for i in range(metrics_source.MAX_METRICS + 1)))
    assert str(failure(lambda: fetch_run(client, many, SCOPES))) == "the canary config has 501 metrics, more than 500"
    assert str(failure(lambda: fetch_run(client, canary_config(), SCOPES))) == "the canary config has no metrics"
    assert stub.received == []
    stub.replies[QUERY_RANGE] = json_reply(matrix(({}, [(1772366400 + 60 * i, "1") for i in range(3)])))
    monkeypatch.setattr(metrics_source, "MAX_RUN_POINTS", 5)
    gce = metric("m", resourceType="gce_instance", metricName="m")
    error = failure(lambda: fetch_run(client, canary_config(gce), SCOPES))
    assert str(error) == (
        "the canary run fetched more than 5 points (at metric 'm'): use a larger step or a shorter interval"
    )
    assert len(stub.received) == 2


def test_values_prometheus_would_not_send(stub: StubPrometheus, client: PrometheusClient) -> None:
    stub.replies[QUERY_RANGE] = json_reply(matrix(({}, [(1772366400, "many")])))
    error = failure(
        lambda: fetch_metric_sets(
            client, canary_config(), metric("m", resourceType="gce_instance", metricName="m"), SCOPE
        )
    )
    assert error.retryable is False and str(error).startswith("metric 'm': could not convert string to float")
