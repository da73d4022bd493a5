"""Helm triggers against a chart repository served on 127.0.0.1 whose `index.yaml` changes between polls:
first poll silent, new versions and re-published versions fire, npm SemVer ranges, failures logged once per
incident, credentials only to the repository, and a new chart version starting its pipeline end to end."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Connection

from gennaker.artifacts.accounts import HelmAccount
from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.artifacts.fetchers.http_client import HttpGetter, default_client_factory
from gennaker.runtime import Runtime
from gennaker.triggers.helm.poller import HelmPoller
from gennaker.triggers.pollers import pollers_from_config
from gennaker.triggers.scheduler import PolledEvent, Scheduler, SchedulerSettings
from tests.integration.triggers.conftest import LOOPBACK
from tests.support import make_runtime, pipeline, wait_status

pytestmark = pytest.mark.slow
GUARD = public_only_guard(OutboundPolicy.from_config(LOOPBACK["outbound"]))


class ChartRepository:
    """Serves `/charts/index.yaml` from `versions` (chart → [(version, digest)]), or `raw` bytes when set;
    `status` answers an error instead; `users` requires Basic credentials."""

    def __init__(self, users: dict[str, str] | None = None):
        self.versions: dict[str, list[tuple[str, str]]] = {}
        self.raw: bytes | None = None
        self.status: int | None = None
        self.users = users or {}
        self.requests: list[str | None] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/charts"

    def publish(self, chart: str, version: str, digest: str | None = None) -> None:
        entries = [e for e in self.versions.setdefault(chart, []) if e[0] != version]
        self.versions[chart] = [(version, digest or f"{chart}-{version}".encode().hex()), *entries]

    def index(self) -> bytes:
        if self.raw is not None:
            return self.raw
        entries = {
            chart: [
                {"apiVersion": "v2", "name": chart, "version": v, "digest": d, "urls": [f"{chart}-{v}.tgz"]}
                for v, d in versions
            ]
            for chart, versions in self.versions.items()
        }
        return yaml.safe_dump({"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"}).encode()

    def __enter__(self) -> ChartRepository:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        repository = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                repository.requests.append(self.headers.get("Authorization"))
                expected = {
                    "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in repository.users.items()
                }
                status, body = 200, b""
                if repository.users and self.headers.get("Authorization") not in expected:
                    status = 401
                elif repository.status is not None:
                    status = repository.status
                elif self.path != "/charts/index.yaml":
                    status = 404
                else:
                    body = repository.index()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def charts() -> Iterator[ChartRepository]:
    with ChartRepository() as repository:
        yield repository


def make_poller(url: str, chart: str = "web", max_bytes: int = 1024 * 1024, **account: Any) -> HelmPoller:
    helm = HelmAccount.model_validate({"name": "charts", "repository": url, **account})
    return HelmPoller(helm, chart, HttpGetter(default_client_factory(2.0), GUARD, max_bytes), interval_s=5)


def helm_trigger(**keys: Any) -> dict[str, Any]:
    return {"type": "helm", "enabled": True, "account": "charts", "chart": "web", **keys}


def test_first_poll_records_then_new_and_republished_versions_fire(charts: ChartRepository) -> None:
    charts.publish("web", "1.0.0")
    charts.publish("api", "3.0.0")
    poller = make_poller(charts.url)
    assert (poller.key, poller.trigger_type, poller.interval_s) == ("helm:charts/web", "helm", 5.0)
    events, state = poller.poll(None)
    assert events == []
    assert state["versions"] == {"1.0.0": b"web-1.0.0".hex()}

    charts.publish("web", "1.1.0", digest="d11")
    charts.publish("api", "3.1.0")  # another chart: not this poller's
    events, state = poller.poll(state)
    assert events == [
        PolledEvent(
            "helm:charts/web:1.1.0:d11", {"account": "charts", "chart": "web", "version": "1.1.0", "digest": "d11"}
        )
    ]
    unchanged = charts.index()
    assert poller.poll(state) == ([], state)  # the same index bytes: nothing to read
    assert charts.index() == unchanged

    charts.publish("web", "1.1.0", digest="d11-again")
    [event], state = poller.poll(state)
    assert event.key == "helm:charts/web:1.1.0:d11-again" and event.payload["previousDigest"] == "d11"
    assert state["versions"]["1.1.0"] == "d11-again"


def test_semver_ranges_choose_the_versions_that_fire(charts: ChartRepository) -> None:
    charts.publish("web", "0.1.0")
    poller = make_poller(charts.url)
    _, state = poller.poll(None)
    for version in ("1.2.0", "1.2.5", "1.3.0", "1.9.0-rc.1", "2.0.0", "1.2.4-beta.1"):
        charts.publish("web", version)
    events = {e.payload["version"]: e for e in poller.poll(state)[0]}
    assert sorted(events) == ["1.2.0", "1.2.4-beta.1", "1.2.5", "1.3.0", "1.9.0-rc.1", "2.0.0"]

    def fires(**keys: Any) -> list[str]:
        return sorted(v for v, event in events.items() if poller.matches(helm_trigger(**keys), event))

    assert fires(version=">=1.2.0 <2") == ["1.2.0", "1.2.5", "1.3.0"]
    assert fires(version="^1.2") == ["1.2.0", "1.2.5", "1.3.0"]
    assert fires(version="~1.2.3") == ["1.2.5"]
    assert fires(version="~1.2.4-beta.0") == ["1.2.4-beta.1", "1.2.5"]  # a pre-release of the named patch
    assert fires(version="1.x || >=2") == ["1.2.0", "1.2.5", "1.3.0", "2.0.0"]
    assert fires(version=">= 1.3, < 3") == ["1.3.0", "2.0.0"]  # Helm's comma form
    assert fires(version="") == sorted(events)  # no range: every version
    assert fires(version="not a range") == []
    assert fires(account="other") == []
    assert fires(chart="api") == []
    assert fires(chart="") == []

    saved = helm_trigger(version="^1.2", id="h1", expectedArtifactIds=["chart"])
    trigger = poller.runtime_trigger(saved, events["1.3.0"])
    digest = b"web-1.3.0".hex()
    assert (trigger["type"], trigger["id"], trigger["version"], trigger["digest"]) == ("helm", "h1", "1.3.0", digest)
    assert trigger["expectedArtifactIds"] == ["chart"] and trigger["eventId"]
    assert trigger["artifacts"] == [
        {
            "type": "helm/chart",
            "name": "web",
            "version": "1.3.0",
            "artifactAccount": "charts",
            "reference": "charts",
            "metadata": {"digest": digest},
        }
    ]


def test_failures_are_clear_logged_once_and_recovered_from(
    charts: ChartRepository, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gennaker")
    charts.publish("web", "1.0.0")
    poller = make_poller(charts.url, max_bytes=4096)
    _, state = poller.poll(None)

    def warnings() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("gennaker")
        ]

    charts.status = 500
    for _ in range(3):
        assert poller.poll(state) == ([], state)
    [warning] = warnings()
    assert f"GET {charts.url}/index.yaml returned HTTP 500" in warning and "chart web" in warning

    charts.status = None
    charts.raw = b"entries: [unclosed"
    poller.poll(state)
    assert "index.yaml is not valid YAML" in warnings()[1]
    charts.raw = b"!!python/object/apply:os.system ['touch /tmp/pwned']"
    poller.poll(state)
    assert "is not valid YAML" in str(poller.incidents.message)  # the safe loader refuses object tags
    charts.raw = b"just: a mapping"
    poller.poll(state)
    assert "is not a Helm repository index (it has no `entries`)" in str(poller.incidents.message)
    charts.raw = b"#" * 5000
    poller.poll(state)
    assert "returned more than 4096 bytes" in warnings()[-1]

    charts.raw = None
    charts.publish("web", "1.0.1")
    [event], state = poller.poll(state)
    assert event.payload["version"] == "1.0.1"
    assert not poller.incidents.failing
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_credentials_go_only_to_the_repository(caplog: pytest.LogCaptureFixture) -> None:
    with ChartRepository(users={"reader": "chart-password"}) as private:
        private.publish("web", "1.0.0")
        poller = make_poller(private.url, username="reader", password="chart-password")
        assert list(poller.poll(None)[1]["versions"]) == ["1.0.0"]
        assert private.requests[-1] == "Basic " + base64.b64encode(b"reader:chart-password").decode()
        wrong = make_poller(private.url, username="reader", password="not-the-chart-password")
        caplog.set_level(logging.DEBUG, logger="gennaker")
        assert wrong.poll(None) == ([], {})
        assert "returned HTTP 401" in str(wrong.incidents.message)
        assert "chart-password" not in caplog.text


def test_a_new_chart_version_starts_its_pipeline(charts: ChartRepository, tmp_path: Path) -> None:
    charts.publish("web", "1.2.0")
    config = {**LOOPBACK, "artifacts": {"helm": {"accounts": [{"name": "charts", "repository": charts.url}]}}}
    rt: Runtime = make_runtime(tmp_path, config=config)
    rt.start_workers(1)
    try:
        saved = rt.save_pipeline(
            pipeline(
                "release",
                [{"refId": "1", "type": "wait", "waitTime": 0}],
                triggers=[helm_trigger(id="on-chart", version="^1.2", expectedArtifactIds=["chart"])],
                expectedArtifacts=[{"id": "chart", "matchArtifact": {"type": "helm/chart", "name": "web"}}],
            ),
            "tester",
        )

        def fire(conn: Connection, pipeline_config: Mapping[str, Any], trigger: dict[str, Any]) -> str:
            return rt.launcher.start(conn, dict(pipeline_config), trigger, "scheduler")

        with rt.db.read() as conn:
            pollers = pollers_from_config(config, rt.pipelines.all(conn))
        now = [1_800_000_000.0]
        scheduler = Scheduler(rt.db, fire, SchedulerSettings(reload_s=0), clock=lambda: now[0], pollers=pollers)
        assert scheduler.tick() == []
        charts.publish("web", "2.0.0")  # outside ^1.2
        charts.publish("web", "1.4.1", digest="d141")
        now[0] += 60
        [started] = scheduler.tick()
        rt.wakeup.notify()
        execution = wait_status(rt, started, "SUCCEEDED", "TERMINAL")
        assert execution["status"] == "SUCCEEDED" and execution["pipelineConfigId"] == saved["id"]
        trigger = execution["trigger"]
        assert (trigger["type"], trigger["version"], trigger["digest"]) == ("helm", "1.4.1", "d141")
        bound = trigger["resolvedExpectedArtifacts"][0]["boundArtifact"]
        assert (bound["type"], bound["name"], bound["version"], bound["artifactAccount"]) == (
            "helm/chart",
            "web",
            "1.4.1",
            "charts",
        )
    finally:
        rt.close()
