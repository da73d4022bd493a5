"""What Deck's canary config editor asks for: the metrics accounts a caller may read, the judges, and a real
Prometheus account's metric names for the metric picker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from tests.api_support import as_user, header_security
from tests.prometheus_support import Prometheus
from tests.support import make_runtime

pytestmark = pytest.mark.slow


@pytest.fixture
def api(prometheus: Prometheus, tmp_path: Path) -> Iterator[TestClient]:
    accounts = [
        {"name": "metrics", "endpoint": {"baseUrl": prometheus.url}, "password": "s3cret", "username": "reader"},
        {"name": "private", "endpoint": {"baseUrl": prometheus.url}, "permissions": {"READ": ["admins"]}},
        {"name": "down", "endpoint": {"baseUrl": "http://127.0.0.1:9"}},
    ]
    config = {
        "canary": {"serviceIntegrations": [{"name": "prometheus", "enabled": True, "accounts": accounts}]},
        "outbound": {"allowNetworks": ["127.0.0.0/8"]},
    }
    rt = make_runtime(tmp_path, config=config)
    try:
        with TestClient(create_app(rt, header_security())) as client:
            yield client
    finally:
        rt.close()


def test_accounts_are_listed_for_those_who_may_read_them_without_secrets(api: TestClient) -> None:
    listed = api.get("/v2/canaries/credentials", headers=as_user("dev"))
    assert [a["name"] for a in listed.json()] == ["metrics", "down"]
    assert "s3cret" not in listed.text and "reader" not in listed.text
    assert api.get("/v2/canaries/judges", headers=as_user("dev")).json() == [
        {"name": "NetflixACAJudge-v1.0", "visible": True}
    ]


def test_the_metric_picker_lists_prometheus_metric_names(api: TestClient) -> None:
    found = api.get(
        "/v2/canaries/metadata/metricsService",
        params={"metricsAccountName": "metrics", "filter": "HTTP_REQUEST"},
        headers=as_user("dev"),
    )
    assert found.status_code == 200, found.text
    names = [m["name"] for m in found.json()]
    assert "http_requests_total" in names and "http_request_latency_seconds" in names
    assert all("http_request" in name for name in names)


def test_the_metric_picker_refuses_unknown_unreadable_and_unreachable_accounts(api: TestClient) -> None:
    path = "/v2/canaries/metadata/metricsService"
    assert api.get(path, params={"metricsAccountName": "nope"}, headers=as_user("dev")).status_code == 404
    assert api.get(path, params={"metricsAccountName": "private"}, headers=as_user("dev")).status_code == 404
    down = api.get(path, params={"metricsAccountName": "down"}, headers=as_user("dev"))
    assert down.status_code == 502 and "down" in down.json()["message"]
