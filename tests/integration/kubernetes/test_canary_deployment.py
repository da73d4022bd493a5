"""canaryDeployment on the Kubernetes emulator: baseline and canary copies of a plain Deployment behind its
Service, a kayentaCanary analysis between them (scripted metrics), then promotion or rollback, and the copies
removed in every outcome, cancel included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from gennaker.stages.canary import CanaryAccess, add_canary_stages
from tests.canary_support import CONFIG, Script, ScriptedSource, degraded_from, healthy
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config, error_of
from tests.integration.kubernetes.manifests import deployment
from tests.support import execution, make_runtime, pipeline, wait_for, wait_status

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}


@pytest.fixture
def cluster(kubeconfig: Path, tmp_path: Path) -> Iterator[Any]:
    runtimes: list[Runtime] = []

    def build(script: Script) -> tuple[Runtime, str]:
        config = {**CONFIG, "applications": ["shop"]}
        rt = make_runtime(tmp_path, config=accounts_config(kubeconfig), engine={"manifest_poll_ms": 50})
        runtimes.append(rt)
        add_canary_stages(rt.registry, CanaryAccess(rt.db, rt.canary, ScriptedSource(script)), rt.kubernetes)
        with rt.db.transaction() as conn:
            config_id = rt.canary.save_config(conn, config, "tester", 0)["id"]
        rt.start_workers(1)
        live = [deployment("web", image="shop/web:1", config=None), SERVICE]
        started = start(rt, [{"refId": "1", "type": "deployManifest", "account": "emu", "manifests": live}], "first")
        assert wait_status(rt, started, "SUCCEEDED", "TERMINAL", timeout=30)["status"] == "SUCCEEDED"
        return rt, config_id

    yield build
    for rt in runtimes:
        rt.close()


def start(rt: Runtime, stages: list[dict[str, Any]], name: str = "canary") -> str:
    rt.save_pipeline(pipeline(name, stages, app="shop"), "tester")
    return rt.start_pipeline("shop", name, {"type": "manual", "user": "tester"}, "tester")


def canary_deployment(config_id: str, *, realtime: bool = False) -> dict[str, Any]:
    scope: dict[str, Any] = {"step": 1}
    analysis: dict[str, Any] = {"canaryConfigId": config_id, "canaryAnalysisIntervalMins": 1, "scopes": [scope]}
    if realtime:
        analysis["lifetimeDuration"] = "PT2M"
    else:
        scope.update(startTimeIso="2026-12-01T10:00:00Z", endTimeIso="2026-12-01T10:02:00Z")
    return {
        "refId": "1",
        "type": "canaryDeployment",
        "name": "Canary web:2",
        "account": "emu",
        "manifests": [deployment("web", image="shop/web:2", config=None, replicas=3)],
        "replicas": 1,
        "analysis": analysis,
    }


def deployments(kube: KubeEmulator) -> dict[str, dict[str, Any]]:
    found = kube.list_objects("apps/v1", "Deployment", "default")
    return {d["metadata"]["name"]: d for d in found}


def image_of(found: dict[str, Any]) -> str:
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_passing_canary_promotes_the_deployment_and_removes_the_copies(cluster: Any, kube: KubeEmulator) -> None:
    rt, config_id = cluster(healthy)
    execution_id = start(rt, [canary_deployment(config_id)])
    seen: dict[str, dict[str, Any]] = {}

    def copies_running() -> bool:
        seen.update(deployments(kube))
        return {"web-baseline", "web-canary"} <= set(seen)

    wait_for(copies_running, timeout=30, what="the baseline and canary copies")
    found = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    assert found["status"] == "SUCCEEDED", error_of(found)
    # The copies ran the live and the new pod templates, selected by role, with the labels the Service selects.
    baseline, canary = seen["web-baseline"], seen["web-canary"]
    assert image_of(baseline) == "shop/web:1" and image_of(canary) == "shop/web:2"
    for copy, role in ((baseline, "baseline"), (canary, "canary")):
        assert copy["spec"]["replicas"] == 1
        assert copy["spec"]["selector"]["matchLabels"] == {"app": "web", "gennaker.io/canary-role": role}
        assert copy["spec"]["template"]["metadata"]["labels"]["app"] == "web"
    parent = next(s for s in found["stages"] if s["refId"] == "1")
    after = [(s["name"], s["status"]) for s in found["stages"] if s.get("parentStageId") == parent["id"]]
    assert after == [
        ("Canary analysis", "SUCCEEDED"),
        ("Promote web", "SUCCEEDED"),
        ("Delete web-baseline", "SUCCEEDED"),
        ("Delete web-canary", "SUCCEEDED"),
    ]
    run = next(s for s in found["stages"] if s["name"] == "Run Canary #1")
    scope = run["context"]["scopes"]["default"]
    assert scope["controlScope"]["scope"] == "web-baseline" and scope["experimentScope"]["scope"] == "web-canary"
    assert scope["experimentScope"]["extendedScopeParams"]["namespace"] == "default"
    live = deployments(kube)
    assert set(live) == {"web"}
    assert image_of(live["web"]) == "shop/web:2" and live["web"]["spec"]["replicas"] == 3


def test_a_failing_canary_leaves_the_deployment_and_removes_the_copies(cluster: Any, kube: KubeEmulator) -> None:
    rt, config_id = cluster(degraded_from(1))
    found = wait_status(rt, start(rt, [canary_deployment(config_id)]), "SUCCEEDED", "TERMINAL", timeout=60)
    assert found["status"] == "TERMINAL"
    assert "not above the marginal score threshold" in error_of(found)
    assert not any(s["name"] == "Promote web" and s["status"] != "NOT_STARTED" for s in found["stages"])
    wait_for(lambda: set(deployments(kube)) == {"web"}, timeout=15, what="the copies to be deleted")
    assert image_of(deployments(kube)["web"]) == "shop/web:1"


def test_cancelling_during_the_analysis_removes_the_copies(cluster: Any, kube: KubeEmulator) -> None:
    rt, config_id = cluster(healthy)
    execution_id = start(rt, [canary_deployment(config_id, realtime=True)])
    wait_for(
        lambda: any(
            s["name"] == "Interval Wait #1" and s["status"] == "RUNNING" for s in execution(rt, execution_id)["stages"]
        ),
        timeout=30,
        what="the analysis to start",
    )
    assert {"web-baseline", "web-canary"} <= set(deployments(kube))
    rt.operations.cancel(execution_id, "tester", "not today")
    assert wait_status(rt, execution_id, "CANCELED", timeout=15)["status"] == "CANCELED"
    # The copies go in a task started in the cancellation's transaction: durable, shown, run as the pipeline's user.
    cancelled = execution(rt, execution_id)
    with rt.db.read() as conn:
        listed = rt.executions.list_json(conn, cancelled["application"], limit=10)
    tasks = [t for t in listed if t["type"] == "ORCHESTRATION"]
    assert [t["name"] for t in tasks] == ["Delete the canary copies of Canary web:2"]
    assert [s["context"]["manifestName"] for s in tasks[0]["stages"]] == [
        "deployment web-baseline",
        "deployment web-canary",
    ]
    assert tasks[0]["authentication"]["user"] == cancelled["authentication"]["user"]
    assert wait_status(rt, tasks[0]["id"], "SUCCEEDED", "TERMINAL", timeout=30)["status"] == "SUCCEEDED"
    assert set(deployments(kube)) == {"web"}
    assert image_of(deployments(kube)["web"]) == "shop/web:1"


def test_a_canary_needs_a_running_version(cluster: Any) -> None:
    rt, config_id = cluster(healthy)
    stage = canary_deployment(config_id)
    stage["manifests"][0]["metadata"]["name"] = "api"
    found = wait_status(rt, start(rt, [stage]), "SUCCEEDED", "TERMINAL", timeout=30)
    assert "deployment api does not exist in namespace 'default'" in error_of(found)


def test_only_one_deployment_is_accepted(cluster: Any) -> None:
    rt, config_id = cluster(healthy)
    stage = canary_deployment(config_id)
    stage["manifests"].append(SERVICE)
    found = wait_status(rt, start(rt, [stage]), "SUCCEEDED", "TERMINAL", timeout=30)
    assert "canaryDeployment takes exactly one manifest" in error_of(found)


def test_cleanup_never_takes_its_targets_from_the_pipeline(cluster: Any, kube: KubeEmulator) -> None:
    """A pipeline that sets `canaryCopies` itself cannot make the cleanup delete other objects: the copies to
    delete are named from the stage's own Deployment, as they were created."""
    rt, config_id = cluster(healthy)
    stage = canary_deployment(config_id)
    stage["manifests"][0]["metadata"]["name"] = "api"  # not running: the copies' deploy fails, the stage halts
    stage["canaryCopies"] = {"account": "emu", "namespace": "default", "names": ["web"]}
    found = wait_status(rt, start(rt, [stage]), "SUCCEEDED", "TERMINAL", timeout=30)
    with rt.db.read() as conn:
        listed = rt.executions.list_json(conn, found["application"], limit=10)
    cleanup = [t for t in listed if t["type"] == "ORCHESTRATION"]
    assert [s["context"]["manifestName"] for t in cleanup for s in t["stages"]] == [
        "deployment api-baseline",
        "deployment api-canary",
    ]
    for task in cleanup:
        wait_status(rt, task["id"], "SUCCEEDED", "TERMINAL", timeout=30)
    assert "web" in deployments(kube)
