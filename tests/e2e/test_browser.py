"""The UI in a real browser (Debian's Chromium driven by Playwright) against `gennaker up` (issue 7, item 4):
sign in, create an application, save a pipeline in the editor, start it with parameters, watch it run live,
judge it, see it succeed; a failing pipeline shows its reason at the top; a user without EXECUTE sees no Start
button and is refused when forcing it; the infrastructure page shows what a deploy made; a canary's report charts
its baseline and canary series.

Screenshots of the main pages go to $GENNAKER_SCREENSHOTS when set (`make screenshots` → docs/img).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, CHROMIUM, running_server
from tests.emulators.kube import KubeEmulator
from tests.prometheus_support import MetricsService, Prometheus
from tests.prometheus_support import available as prometheus_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-packages)"),
]

RELEASE = {
    "application": "shop",
    "name": "release",
    "parameterConfig": [
        {
            "name": "env",
            "required": True,
            "hasOptions": True,
            "default": "staging",
            "options": [{"value": "staging"}, {"value": "prod"}],
        },
    ],
    "stages": [
        {"refId": "1", "type": "wait", "name": "Settle", "waitTime": 1},
        {
            "refId": "2",
            "type": "manualJudgment",
            "name": "Approve",
            "requisiteStageRefIds": ["1"],
            "instructions": "Ship **${parameters.env}**?",
            "judgmentInputs": [{"value": "ship"}],
        },
        {"refId": "3", "type": "kubernetesDeploy", "name": "Deploy", "requisiteStageRefIds": ["2"]},
    ],
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], KubeEmulator]]:
    """`gennaker up` with a Kubernetes account on the emulator."""
    with KubeEmulator() as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "gennaker.yaml"
        accounts = [{"name": "staging", "kubeconfigFile": str(kubeconfig)}]
        config.write_text(yaml.safe_dump({"providers": {"kubernetes": {"accounts": accounts}}}))
        with running_server(tmp_path, GENNAKER_CONFIG=str(config)) as (url, env):
            yield url, env, kube


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("GENNAKER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_in(browser: object, url: str, user: str, password: str) -> Page:
    page: Page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: dialog.accept())  # confirmations name their target; the tests accept them
    page.goto(f"{url}/ui/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("header .user")).to_have_text(user)
    return page


def deploy_pipeline() -> dict[str, object]:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.local/shop/web:1.0"}]},
            },
        },
    }
    stage = {
        "refId": "1",
        "type": "deployManifest",
        "name": "Deploy web",
        "account": "staging",
        "cloudProvider": "kubernetes",
        "source": "text",
        "moniker": {"app": "shop"},
        "manifests": [manifest],
    }
    return {"application": "shop", "name": "deploy", "stages": [stage]}


def test_release_from_sign_in_to_success(stack: tuple[str, dict[str, str], KubeEmulator], browser: object) -> None:
    url, _, _ = stack
    page = sign_in(browser, url, "admin", ADMIN_PASSWORD)

    page.click("text=New application")
    page.fill("input[name=name]", "shop")
    page.fill("input[name=email]", "shop-team@example.com")
    page.fill("input[name='permissions.READ']", "dev, viewer")
    page.fill("input[name='permissions.EXECUTE']", "dev")
    page.click("text=Create application")
    expect(page.locator("h1")).to_have_text("shop")

    page.click("text=New pipeline")
    page.fill("input[name=pipelineName]", "release")
    page.select_option("select[name=type]", "wait")
    page.fill("fieldset.add input[name=name]", "Settle")
    page.click("text=Add stage")
    expect(page.locator("#edit-stage-1 > legend")).to_have_text("1 · wait")
    page.click("text=Edit as JSON")
    stages = [s for s in RELEASE["stages"] if s["type"] != "kubernetesDeploy"]  # type: ignore[index]
    page.fill("textarea[name=raw]", json.dumps({**RELEASE, "stages": stages}, indent=2))
    page.click("text=Apply JSON")
    expect(page.locator("#edit-stage-2 > legend")).to_have_text("2 · manualJudgment")
    page.click("text=Save pipeline")
    expect(page.locator(".saved")).to_have_text("Saved.")
    shot(page, "editor")

    page.goto(f"{url}/ui/applications/shop")
    page.click("text=Start manual execution")
    page.select_option("select[name='p.env']", "prod")
    page.click("button:has-text('Run')")
    expect(page.locator(".summary .status")).to_have_text("RUNNING")
    continue_button = page.locator("button[name=judgment][value=continue]")
    expect(continue_button).to_be_visible(timeout=20_000)  # arrives through the live stream, without a reload
    expect(page.locator(".instructions strong")).to_have_text("prod")
    shot(page, "judgment")
    continue_button.click()
    expect(page.locator(".summary .status")).to_have_text("SUCCEEDED", timeout=20_000)
    shot(page, "execution")

    page.goto(f"{url}/ui/applications/shop")
    expect(page.locator("tr.execution .status").first).to_have_text("SUCCEEDED")
    shot(page, "application")
    page.goto(f"{url}/ui/applications")
    shot(page, "applications")


def test_failure_reason_on_top_and_no_start_for_viewers(
    stack: tuple[str, dict[str, str], KubeEmulator], browser: object
) -> None:
    url, env, _ = stack
    admin = httpx.Client(base_url=url, auth=("admin", ADMIN_PASSWORD))
    job = {
        "type": "createApplication",
        "application": {"name": "shop", "permissions": {"READ": ["viewer"], "WRITE": ["dev"], "EXECUTE": ["dev"]}},
    }
    assert admin.post("/tasks", json={"job": [job]}).status_code == 200
    broken = {
        "application": "shop",
        "name": "broken",
        "stages": [
            {
                "refId": "1",
                "type": "checkPreconditions",
                "name": "Gate",
                "preconditions": [
                    {
                        "type": "expression",
                        "context": {"expression": "${false}", "failureMessage": "the release gate is closed"},
                    }
                ],
            }
        ],
    }
    assert admin.post("/pipelines", json=broken).status_code == 200
    assert admin.post("/pipelines", json=deploy_pipeline()).status_code == 200
    failed_id = admin.post("/pipelines/shop/broken", json={}).json()["id"]
    admin.post("/pipelines/shop/deploy", json={})

    page = sign_in(browser, url, "admin", ADMIN_PASSWORD)
    page.goto(f"{url}/ui/executions/{failed_id}")
    expect(page.locator(".failure")).to_contain_text("the release gate is closed", timeout=20_000)
    shot(page, "failure")
    page.goto(f"{url}/ui/applications/shop/infrastructure")
    expect(page.locator("#infrastructure")).to_contain_text("2/2 up", timeout=20_000)
    expect(page.locator("#infrastructure")).to_contain_text("registry.local/shop/web:1.0")
    shot(page, "infrastructure")

    user_add = [sys.executable, "-m", "gennaker.cli", "user", "add", "viewer", "--role", "viewer", "--password-stdin"]
    done = subprocess.run(user_add, input="viewer-password-1\n", env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    viewer = sign_in(browser, url, "viewer", "viewer-password-1")
    viewer.goto(f"{url}/ui/applications/shop")
    expect(viewer.locator("h2", has_text="broken")).to_be_visible()
    expect(viewer.locator("text=Start manual execution")).to_have_count(0)
    forced = viewer.goto(f"{url}/ui/applications/shop/pipelines/broken/start")
    assert forced is not None and forced.status == 403
    expect(viewer.locator("body")).to_contain_text("lacks EXECUTE permission")


def test_canary_report_charts_baseline_and_canary(tmp_path: Path, browser: object) -> None:
    """A retrospective kayentaCanary over the last minute of a real Prometheus scraping a healthy baseline and a
    degraded canary: the execution links to the report, which charts both series per metric."""
    if not prometheus_available():
        pytest.skip("the prometheus binary is not installed (make system-packages)")
    baseline, canary = MetricsService("healthy", seed=1), MetricsService("degraded", seed=2)
    with baseline, canary:
        targets = {"baseline": ({"pod": "web-baseline-x1"}, baseline), "canary": ({"pod": "web-canary-x2"}, canary)}
        (tmp_path / "prometheus").mkdir()
        with Prometheus(tmp_path / "prometheus", targets) as prometheus:
            prometheus.wait_for_samples(8)
            accounts = [{"name": "metrics", "endpoint": {"baseUrl": prometheus.url}}]
            config = tmp_path / "gennaker.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "canary": {
                            "serviceIntegrations": [{"name": "prometheus", "enabled": True, "accounts": accounts}]
                        },
                        "outbound": {"allowNetworks": ["127.0.0.0/8"]},
                    }
                )
            )
            with running_server(tmp_path, GENNAKER_CONFIG=str(config)) as (url, _):
                admin = httpx.Client(base_url=url, auth=("admin", ADMIN_PASSWORD))
                created = admin.post("/v2/canaryConfig", json=CANARY_CONFIG)
                assert created.status_code == 200, created.text
                assert (
                    admin.post("/pipelines", json=canary_pipeline(created.json()["canaryConfigId"])).status_code == 200
                )
                execution_id = admin.post("/pipelines/shop/canary", json={}).json()["id"]

                page = sign_in(browser, url, "admin", ADMIN_PASSWORD)
                page.goto(f"{url}/ui/executions/{execution_id}")
                expect(page.locator(".summary .status")).to_have_text("TERMINAL", timeout=30_000)
                page.click("text=canary report")
                expect(page.locator("h1")).to_contain_text("Canary")
                expect(page.locator("svg.chart")).to_have_count(1)
                shot(page, "canary-runs")
                page.click("td a:has-text('report')")
                expect(page.locator("section.canary-metric")).to_have_count(2)
                expect(page.locator("svg.chart")).to_have_count(2)
                expect(page.locator("section.canary-metric", has_text="latency")).to_contain_text("High")
                shot(page, "canary-report")


CANARY_CONFIG = {
    "name": "golden-signals",
    "applications": ["shop"],
    "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
    "metrics": [
        {
            "name": "latency",
            "groups": ["latency"],
            "scopeName": "default",
            "query": {
                "type": "prometheus",
                "customInlineTemplate": 'PromQL:avg(http_request_latency_seconds{pod=~"${scope}-.*"})',
            },
            "analysisConfigurations": {"canary": {"direction": "increase", "critical": True}},
        },
        {
            "name": "error rate",
            "groups": ["errors"],
            "scopeName": "default",
            "query": {
                "type": "prometheus",
                "customInlineTemplate": 'PromQL:sum(rate(http_requests_total{code="500",pod=~"${scope}-.*"}[5s]))',
            },
            "analysisConfigurations": {"canary": {"direction": "increase", "nanStrategy": "replace"}},
        },
    ],
    "classifier": {"groupWeights": {"latency": 50, "errors": 50}},
}


def canary_pipeline(config_id: str) -> dict[str, object]:
    """A retrospective canary over the last minute: one judgment, at once."""
    now = datetime.now(UTC).replace(microsecond=0)
    scope = {
        "controlScope": "web-baseline",
        "experimentScope": "web-canary",
        "startTimeIso": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "endTimeIso": now.isoformat().replace("+00:00", "Z"),
        "step": 1,
    }
    stage = {
        "refId": "1",
        "type": "kayentaCanary",
        "name": "Canary",
        "canaryConfig": {
            "canaryConfigId": config_id,
            "scopes": [scope],
            "scoreThresholds": {"marginal": 50, "pass": 75},
        },
    }
    return {"application": "shop", "name": "canary", "stages": [stage]}
