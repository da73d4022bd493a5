"""The Prometheus client against a stub on 127.0.0.1: what it sends, where credentials go, and which failures are
retryable (Prometheus down, 5xx, timeouts) or not (a rejected query, refused credentials, odd or huge answers)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gennaker.artifacts.fetchers.guard import OutboundPolicy, loopback_only_guard, public_only_guard
from gennaker.canary.accounts import PrometheusAccount
from gennaker.canary.prometheus_client import (
    MAX_BODY_BYTES,
    MAX_POINTS_PER_SERIES,
    PrometheusClient,
    PrometheusError,
)
from tests.unit.canary.prometheus_stub import Reply, StubPrometheus, json_reply, matrix

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
PASSWORD = "s3cret-prometheus-password"
QUERY_RANGE = "/api/v1/query_range"


@pytest.fixture
def stub() -> Iterator[StubPrometheus]:
    with StubPrometheus() as running:
        yield running


def account(base_url: str, **settings: Any) -> PrometheusAccount:
    values = {"name": "prom", "endpoint": {"baseUrl": base_url}, "username": "canary", "password": PASSWORD}
    return PrometheusAccount.model_validate({**values, **settings})


def client(base_url: str, **settings: Any) -> PrometheusClient:
    return PrometheusClient(account(base_url, **settings), loopback_only_guard())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def failure(call: Any) -> PrometheusError:
    with pytest.raises(PrometheusError) as caught:
        call()
    assert PASSWORD not in str(caught.value)
    return caught.value


def test_a_range_query_sends_iso_times_the_step_and_the_credentials(stub: StubPrometheus) -> None:
    body = matrix(({"__name__": "up", "pod": "a"}, [(1772366400, "1"), (1772366460, "NaN")]))
    stub.replies[QUERY_RANGE] = json_reply(body)
    with client(stub.url + "/") as prometheus:
        answer = prometheus.query_range('avg(up{pod="a"})', START, END + timedelta(microseconds=500_000), 60)
    assert answer == body
    [request] = stub.received
    assert request.path == QUERY_RANGE
    assert request.query == {
        "query": 'avg(up{pod="a"})',
        "start": "2026-03-01T12:00:00Z",
        "end": "2026-03-01T13:00:00.500Z",
        "step": "60",
    }
    assert request.authorization == "Basic Y2FuYXJ5OnMzY3JldC1wcm9tZXRoZXVzLXBhc3N3b3Jk"


def test_a_bearer_token_and_a_path_prefix(stub: StubPrometheus) -> None:
    stub.replies["/prometheus/-/healthy"] = Reply(200, b"Prometheus Server is Healthy.\n")
    settings = {"username": None, "password": None, "bearerToken": "tok-123"}
    with client(stub.url + "/prometheus", **settings) as prometheus:
        assert prometheus.healthy() is True
    assert [(r.path, r.authorization) for r in stub.received] == [("/prometheus/-/healthy", "Bearer tok-123")]


def test_a_query_prometheus_rejects_is_not_retryable(stub: StubPrometheus) -> None:
    stub.replies[QUERY_RANGE] = json_reply(
        {"status": "error", "errorType": "bad_data", "error": "1:4: parse error: unexpected end of input"}, 400
    )
    with client(stub.url) as prometheus:
        error = failure(lambda: prometheus.query_range("up{", START, END, 60))
    assert error.retryable is False and error.status == 400
    assert str(error) == "Prometheus account 'prom' rejected the query `up{`: 1:4: parse error: unexpected end of input"


def test_an_execution_error_is_a_rejection_too(stub: StubPrometheus) -> None:
    stub.replies[QUERY_RANGE] = json_reply(
        {"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"}, 422
    )
    with client(stub.url) as prometheus:
        error = failure(lambda: prometheus.query_range("a / b", START, END, 60))
    assert error.retryable is False and "rejected the query `a / b`: many-to-many matching not allowed" in str(error)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_retryable(stub: StubPrometheus, status: int) -> None:
    stub.replies[QUERY_RANGE] = json_reply(
        {"status": "error", "errorType": "unavailable", "error": "storage is overloaded"}, status
    )
    with client(stub.url) as prometheus:
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
    assert error.retryable is True and error.status == status
    assert str(error) == (
        f"Prometheus account 'prom' at {stub.url} answered HTTP {status} for the range query: storage is overloaded"
    )


def test_a_closed_port_is_retryable() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with client(base) as prometheus:
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
        assert prometheus.healthy() is False
    assert error.retryable is True
    assert str(error).startswith(f"Prometheus account 'prom' at {base} cannot be reached: ConnectError")


def test_a_timeout_is_retryable(stub: StubPrometheus) -> None:
    stub.replies[QUERY_RANGE] = Reply(200, b"{}", delay_s=5)
    with client(stub.url, timeoutSeconds=0.3) as prometheus:
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
    assert error.retryable is True
    assert str(error) == f"Prometheus account 'prom' at {stub.url} timed out (ReadTimeout; timeoutSeconds is 0.3)"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, b"<html>login</html>"), "did not answer the range query with Prometheus' JSON"),
        (json_reply([1, 2]), "did not answer the range query with Prometheus' JSON"),
        (json_reply({"status": "success", "data": {"resultType": "matrix"}}), "answered the range query without"),
        (
            json_reply({"status": "success", "data": {"result": [{"metric": {}, "values": [[1, 2]]}]}}),
            "a series that is not a list of [timestamp, value] points",
        ),
        (Reply(401, b"Unauthorized"), "refused the range query: HTTP 401 (check its credentials)"),
        (Reply(404, b"404 page not found"), "answered HTTP 404 for the range query: is baseUrl Prometheus' root URL?"),
        (Reply(418, b"teapot"), "answered HTTP 418 for the range query"),
        (Reply(200, b"not gzip", {"Content-Encoding": "gzip"}), "answered what cannot be read: DecodingError"),
    ],
)
def test_answers_that_are_not_prometheus_are_not_retryable(stub: StubPrometheus, reply: Reply, message: str) -> None:
    stub.replies[QUERY_RANGE] = reply
    with client(stub.url) as prometheus:
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
    assert error.retryable is False and message in str(error)


def test_an_answer_over_32_mb_is_refused(stub: StubPrometheus) -> None:
    chunk = b" " * (1024 * 1024)
    stub.replies[QUERY_RANGE] = Reply(200, (chunk for _ in range(MAX_BODY_BYTES // len(chunk) + 1)))
    with client(stub.url) as prometheus:
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
    assert error.retryable is False
    assert str(error) == (
        f"Prometheus account 'prom' at {stub.url} answered with more than 32 MB: narrow the query (fewer series, "
        "a larger step or a shorter interval)"
    )


def test_a_declared_size_over_the_budget_is_refused_before_reading(stub: StubPrometheus) -> None:
    stub.replies["/api/v1/label/__name__/values"] = Reply(200, b"", {"Content-Length": str(MAX_BODY_BYTES + 1)})
    with client(stub.url) as prometheus:
        error = failure(prometheus.metric_names)
    assert error.retryable is False and "answered with more than 32 MB" in str(error)


def test_at_most_11000_points_per_series(stub: StubPrometheus) -> None:
    points = [(1772366400 + i, "1") for i in range(MAX_POINTS_PER_SERIES + 1)]
    stub.replies[QUERY_RANGE] = json_reply(matrix(({"pod": "a"}, points)))
    with client(stub.url) as prometheus:
        answered = failure(lambda: prometheus.query_range("up", START, END, 1))
        too_fine = failure(lambda: prometheus.query_range("up", START, START + timedelta(seconds=11_000), 1))
    assert "answered a series of 11,001 points, more than 11,000" in str(answered)
    assert str(too_fine) == (
        "the query for Prometheus account 'prom' from 2026-03-01T12:00:00Z to 2026-03-01T15:03:20Z every 1 s would "
        "give 11,001 points per series, more than the 11,000 Prometheus answers: use a larger step or a shorter "
        "interval"
    )
    assert len(stub.received) == 1  # the second query was never sent


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (START.replace(tzinfo=None), END, 60, "needs times with a time zone"),
        (END, START, 60, "the query ends (2026-03-01T12:00:00Z) before it starts (2026-03-01T13:00:00Z)"),
        (START, END, 0, "the step must be a positive number of seconds, not 0"),
    ],
)
def test_a_window_that_cannot_be_queried(start: datetime, end: datetime, step: int, message: str) -> None:
    with client("http://127.0.0.1:9") as prometheus:
        error = failure(lambda: prometheus.query_range("up", start, end, step))
    assert error.retryable is False and message in str(error)


def test_credentials_are_not_sent_on_a_redirect_to_another_host(stub: StubPrometheus) -> None:
    with StubPrometheus() as other:
        other.replies[QUERY_RANGE] = json_reply(matrix())
        stub.replies[QUERY_RANGE] = Reply(302, b"", {"Location": f"{other.url}{QUERY_RANGE}?query=up&step=60"})
        stub.replies["/old/-/healthy"] = Reply(301, b"", {"Location": "/-/healthy"})
        stub.replies["/-/healthy"] = Reply(200, b"ok")
        with client(stub.url) as prometheus:
            assert prometheus.query_range("up", START, END, 60) == matrix()
        with client(stub.url + "/old") as prometheus:
            assert prometheus.healthy() is True
    [first, moved, followed] = stub.received
    assert first.authorization is not None and first.path == QUERY_RANGE
    assert [(r.path, r.query, r.authorization) for r in other.received] == [
        (QUERY_RANGE, {"query": "up", "step": "60"}, None)
    ]
    assert (moved.path, followed.path) == ("/old/-/healthy", "/-/healthy")
    assert moved.authorization is not None and followed.authorization is not None  # the same origin keeps them


def test_redirects_are_bounded(stub: StubPrometheus) -> None:
    stub.replies["/-/healthy"] = Reply(302, b"", {"Location": "/-/healthy"})
    stub.replies[QUERY_RANGE] = Reply(302, b"", {"Location": "file:///etc/passwd"})
    with client(stub.url) as prometheus:
        assert prometheus.healthy() is False
        error = failure(lambda: prometheus.query_range("up", START, END, 60))
    assert len([r for r in stub.received if r.path == "/-/healthy"]) == 6
    assert (
        str(error)
        == f"Prometheus account 'prom' at {stub.url} redirected to file:///etc/passwd, which is not http or https"
    )


def test_the_outbound_guard_is_checked_before_connecting(stub: StubPrometheus) -> None:
    with PrometheusClient(account(stub.url), public_only_guard()) as refused:
        error = failure(lambda: refused.query_range("up", START, END, 60))
    assert error.retryable is False
    assert str(error).startswith(f"Prometheus account 'prom' at {stub.url} may not be contacted: fetching ")
    assert "outbound.allowNetworks" in str(error) and stub.received == []
    allowed = public_only_guard(OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]}))
    stub.replies["/-/healthy"] = Reply(200, b"ok")
    with PrometheusClient(account(stub.url), allowed) as prometheus:
        assert prometheus.healthy() is True


def test_metric_names_are_cached_for_the_caching_interval(stub: StubPrometheus) -> None:
    stub.replies["/api/v1/label/__name__/values"] = json_reply(
        {"status": "success", "data": ["up", "http_requests_total"]}
    )
    now = [1000.0]
    with PrometheusClient(
        account(stub.url), loopback_only_guard(), cache_seconds=60, clock=lambda: now[0]
    ) as prometheus:
        assert prometheus.metric_names() == ["up", "http_requests_total"]
        now[0] += 59
        assert prometheus.metric_names() == ["up", "http_requests_total"]
        assert len(stub.received) == 1
        now[0] += 2
        stub.replies["/api/v1/label/__name__/values"] = json_reply({"status": "success", "data": ["up"]})
        assert prometheus.metric_names() == ["up"]
    assert len(stub.received) == 2


def test_metric_names_must_be_a_list_of_strings(stub: StubPrometheus) -> None:
    stub.replies["/api/v1/label/__name__/values"] = json_reply({"status": "success", "data": {"up": 1}})
    with client(stub.url) as prometheus:
        error = failure(prometheus.metric_names)
    assert str(error) == "Prometheus account 'prom' answered the metric names without a list"


def test_unhealthy_answers(stub: StubPrometheus) -> None:
    stub.replies["/-/healthy"] = Reply(503, b"Service Unavailable")
    with client(stub.url) as prometheus:
        assert prometheus.healthy() is False
