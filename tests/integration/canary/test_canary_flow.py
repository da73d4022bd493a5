"""The seeds' delivery flow end to end, on the Kubernetes emulator and a real Prometheus: deploy to staging,
a manual judgment, then a canary of the production Deployment (baseline and canary copies, judged on metrics
Prometheus scraped from real processes), promoted when it passes and rolled back when it fails.

Two applications run side by side. `web`'s canary is healthy: both intervals pass and web is promoted. `api`'s
canary degrades after its first interval: interval #1 passes, #2 fails, and api stays at its old version. Each
"pod" of the copies is a local process exposing metrics, scraped with the pod name the copy would give it.
The canary runs in real time (two one-minute intervals), so this test takes about two and a half minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.manifests import deployment
from tests.prometheus_support import MetricsService, Prometheus, available
from tests.support import execution, make_runtime, pipeline, wait_for, wait_status

pytestmark = pytest.mark.slow

# Seconds from the services' start until api's canary degrades: after the first interval's window (which ends
# about a minute after the pipelines reach their canary), well inside the second one's.
DEGRADE_AFTER_S = 80

# Only a canary at least 1.5 times worse than its baseline counts as worse: two healthy copies never are, and the
# degraded one is five times slower with twenty times the errors.
TOLERANT = {"effectSize": {"allowedIncrease": 1.5}}

GOLDEN_SIGNALS = {
    "name": "golden-signals",
    "applications": ["web", "api"],
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
            "analysisConfigurations": {"canary": {"direction": "increase", "mustHaveData": True, **TOLERANT}},
        },
        {
            "name": "error rate",
            "groups": ["errors"],
            "scopeName": "default",
            "query": {
                "type": "prometheus",
                "customInlineTemplate": 'PromQL:sum(rate(http_requests_total{code="500",pod=~"${scope}-.*"}[10s]))',
            },
            "analysisConfigurations": {"canary": {"direction": "increase", "nanStrategy": "replace", **TOLERANT}},
        },
    ],
    "classifier": {"groupWeights": {"latency": 50, "errors": 50}},
}


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        emulator.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "staging"}})
        yield emulator


@pytest.fixture
def kubeconfig(kube: KubeEmulator, tmp_path: Path) -> Path:
    return Path(kube.write_kubeconfig(tmp_path / "kubeconfig", context="emulator", namespace="default"))


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    if not available():
        pytest.skip("the prometheus binary is not installed (make system-packages)")
    services = {
        "web-baseline": MetricsService("healthy", seed=1),
        "web-canary": MetricsService("healthy", seed=2),
        "api-baseline": MetricsService("healthy", seed=3),
        "api-canary": MetricsService("healthy", degrade_after_s=DEGRADE_AFTER_S, seed=4),
    }
    for service in services.values():
        service.__enter__()
    try:
        targets = {name: ({"pod": f"{name}-5d8f7-x2x9q"}, service) for name, service in services.items()}
        directory = tmp_path / "prometheus"
        directory.mkdir()
        with Prometheus(directory, targets) as server:
            yield server
    finally:
        for service in services.values():
            service.stop()


def flow(application: str) -> dict[str, Any]:
    """Staging, a judgment, then a canary of production: the seeds' pipeline."""
    new = deployment(application, image=f"shop/{application}:2", config=None, replicas=3)
    return pipeline(
        "release",
        [
            {
                "refId": "staging",
                "type": "deployManifest",
                "name": "Deploy to staging",
                "account": "emu",
                "namespaceOverride": "staging",
                "manifests": [new],
            },
            {
                "refId": "approve",
                "requisiteStageRefIds": ["staging"],
                "type": "manualJudgment",
                "name": "Promote to production?",
                "judgmentInputs": [{"value": "go"}],
            },
            {
                "refId": "canary",
                "requisiteStageRefIds": ["approve"],
                "type": "canaryDeployment",
                "name": "Canary in production",
                "account": "emu",
                "manifests": [new],
                "analysis": {
                    "canaryConfigName": "golden-signals",
                    "lifetimeDuration": "PT2M",
                    "canaryAnalysisIntervalMins": 1,
                    "lookbackMins": 1,
                    "scopes": [{"step": 2}],
                    "scoreThresholds": {"marginal": 50, "pass": 75},
                },
            },
        ],
        app=application,
    )


def first_version(rt: Runtime, application: str) -> None:
    current = [deployment(application, image=f"shop/{application}:1", config=None, replicas=3)]
    rt.save_pipeline(
        pipeline(
            "first", [{"refId": "1", "type": "deployManifest", "account": "emu", "manifests": current}], app=application
        ),
        "tester",
    )
    started = rt.start_pipeline(application, "first", {"type": "manual", "user": "tester"}, "tester")
    assert wait_status(rt, started, "SUCCEEDED", "TERMINAL", timeout=30)["status"] == "SUCCEEDED"


def image(kube: KubeEmulator, namespace: str, name: str) -> str | None:
    found = kube.get_object("apps/v1", "Deployment", namespace, name)
    return None if found is None else str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def judging(rt: Runtime, execution_id: str) -> bool:
    found = execution(rt, execution_id)
    assert found["status"] in ("NOT_STARTED", "RUNNING"), found["stages"][0]["context"].get("exception")
    return any(s["refId"] == "approve" and s["status"] == "RUNNING" for s in found["stages"])


def deployments(kube: KubeEmulator) -> set[str]:
    return {d["metadata"]["name"] for d in kube.list_objects("apps/v1", "Deployment", "default")}


def test_seeds_flow_promotes_a_good_canary_and_rolls_back_a_bad_one(
    prometheus: Prometheus, kube: KubeEmulator, kubeconfig: Path, tmp_path: Path
) -> None:
    config = {
        "providers": {"kubernetes": {"accounts": [{"name": "emu", "kubeconfigFile": str(kubeconfig)}]}},
        "canary": {
            "serviceIntegrations": [
                {
                    "name": "prometheus",
                    "enabled": True,
                    "accounts": [{"name": "metrics", "endpoint": {"baseUrl": prometheus.url}}],
                }
            ]
        },
        "outbound": {"allowNetworks": ["127.0.0.0/8"]},
    }
    rt = make_runtime(tmp_path, config=config, engine={"manifest_poll_ms": 100})
    rt.start_workers(2)
    try:
        with rt.db.transaction() as conn:
            rt.canary.save_config(conn, GOLDEN_SIGNALS, "tester", 0)
        for application in ("web", "api"):
            first_version(rt, application)
            rt.save_pipeline(flow(application), "tester")
        started = {
            app: rt.start_pipeline(app, "release", {"type": "manual", "user": "tester"}, "tester")
            for app in ("web", "api")
        }
        for app, execution_id in started.items():
            wait_for(lambda e=execution_id: judging(rt, e), timeout=30, what=f"{app}'s judgment")
            assert image(kube, "staging", app) == f"shop/{app}:2"
            rt.operations.judge(execution_id, "approve", "continue", "go", "tester")

        # While the canaries run, both copies serve next to production.
        wait_for(lambda: {"web-baseline", "web-canary", "api-baseline", "api-canary"} <= deployments(kube), timeout=60)
        results: dict[str, dict[str, Any]] = {}
        waiters = [
            threading.Thread(
                target=lambda a=app, e=eid: results.__setitem__(
                    a, wait_status(rt, e, "SUCCEEDED", "TERMINAL", timeout=240)
                )
            )
            for app, eid in started.items()
        ]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()

        web, api = results["web"], results["api"]
        assert web["status"] == "SUCCEEDED"
        assert image(kube, "default", "web") == "shop/web:2"
        assert [s["context"]["canaryScore"] for s in web["stages"] if s["type"] == "runCanary"] == [100.0, 100.0]

        assert api["status"] == "TERMINAL"
        runs = {s["name"]: s for s in api["stages"] if s["type"] == "runCanary"}
        assert runs["Run Canary #1"]["status"] == "SUCCEEDED"
        assert runs["Run Canary #2"]["status"] == "TERMINAL"
        assert runs["Run Canary #2"]["context"]["canaryScore"] <= 50
        assert image(kube, "default", "api") == "shop/api:1"  # rolled back: production never ran the new version

        # The copies are gone in both outcomes.
        wait_for(lambda: deployments(kube) == {"web", "api"}, timeout=15, what="the copies to be deleted")
        with rt.db.read() as conn:
            stored = rt.canary.judgments(conn, started["api"])
        failing = stored[-1]["result"]["results"]
        assert {r["name"]: r["classification"] for r in failing}["latency"] == "High"
        assert all(len(pair["values"]["experiment"]) >= 20 for pair in stored[-1]["metricSetPairs"])
    finally:
        rt.close()
