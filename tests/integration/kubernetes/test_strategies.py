"""Rollout strategies for ReplicaSets through Service selectors (kubernetes.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import error_of, run, stage
from tests.integration.kubernetes.manifests import deploy_stage, replica_set, service

pytestmark = pytest.mark.slow


def traffic(strategy: str, enable: bool = True) -> dict[str, Any]:
    options = {"enableTraffic": enable, "services": ["service front"], "strategy": strategy}
    return {"enabled": True, "options": options}


def fronted_service() -> dict[str, Any]:
    return service("front", selector={"frontedBy": "front"})


def pod_labels(kube: KubeEmulator, name: str) -> list[dict[str, str]]:
    pods = kube.list_objects("v1", "Pod", "default")
    owned = [p for p in pods if any(r["name"] == name for r in p["metadata"].get("ownerReferences") or [])]
    return [p["metadata"].get("labels") or {} for p in owned]


def template_labels(kube: KubeEmulator, name: str) -> dict[str, str]:
    live = kube.get_object("apps/v1", "ReplicaSet", "default", name)
    assert live is not None, f"{name} does not exist"
    return live["spec"]["template"]["metadata"]["labels"]


def deploy(k8s: Runtime, name: str, image: str, strategy: str, enable: bool = True) -> dict[str, Any]:
    manifests = [fronted_service(), replica_set(image=image, history=4)]
    execution = run(k8s, [deploy_stage(manifests, trafficManagement=traffic(strategy, enable))], name=name)
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    return execution


def test_red_black_disables_the_previous_version_and_keeps_it_running(k8s: Runtime, kube: KubeEmulator) -> None:
    deploy(k8s, "first", "nginx:1", "redblack")
    assert template_labels(kube, "front-v000")["frontedBy"] == "front"
    second = deploy(k8s, "second", "nginx:2", "redblack")
    assert template_labels(kube, "front-v001")["frontedBy"] == "front"
    assert "frontedBy" not in template_labels(kube, "front-v000")
    assert all("frontedBy" not in labels for labels in pod_labels(kube, "front-v000"))
    assert kube.get_object("apps/v1", "ReplicaSet", "default", "front-v000")["spec"]["replicas"] == 2
    disable = [s for s in second["stages"] if s["type"] == "disableManifest"]
    assert [s["context"]["manifestName"] for s in disable] == ["replicaSet front-v000"]
    assert all(s["status"] == "SUCCEEDED" for s in second["stages"])


def test_highlander_leaves_only_the_new_version(k8s: Runtime, kube: KubeEmulator) -> None:
    deploy(k8s, "first", "nginx:1", "highlander")
    deploy(k8s, "second", "nginx:2", "highlander")
    assert kube.get_object("apps/v1", "ReplicaSet", "default", "front-v000") is None
    assert template_labels(kube, "front-v001")["frontedBy"] == "front"


def test_a_dark_rollout_gets_no_traffic_until_enabled(k8s: Runtime, kube: KubeEmulator) -> None:
    deploy(k8s, "dark", "nginx:1", "none", enable=False)
    assert "frontedBy" not in template_labels(kube, "front-v000")
    enable = {
        "refId": "1",
        "type": "enableManifest",
        "account": "emu",
        "cloudProvider": "kubernetes",
        "manifestName": "replicaSet front-v000",
        "location": "default",
    }
    execution = run(k8s, [enable], name="enable")
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    assert template_labels(kube, "front-v000")["frontedBy"] == "front"
    assert all(labels.get("frontedBy") == "front" for labels in pod_labels(kube, "front-v000"))
    assert stage(execution, "1")["context"]["loadBalancers"] == ["service front"]


def test_a_service_selector_sharing_a_key_with_the_workload_is_refused(k8s: Runtime) -> None:
    manifests = [service("front", selector={"app": "front"}), replica_set()]
    execution = run(k8s, [deploy_stage(manifests, trafficManagement=traffic("redblack"))])
    assert execution["status"] == "TERMINAL"
    assert "Service selector must have no label keys in common with target workload" in error_of(execution)


def test_red_black_needs_a_version_history_of_two(k8s: Runtime) -> None:
    execution = run(
        k8s, [deploy_stage([fronted_service(), replica_set(history=1)], trafficManagement=traffic("redblack"))]
    )
    assert execution["status"] == "TERMINAL"
    assert "max version history specified in your manifest conflicts" in error_of(execution)


def test_red_black_deletes_a_broken_predecessor_instead_of_disabling_it(k8s: Runtime, kube: KubeEmulator) -> None:
    manifests = [fronted_service(), replica_set(image="registry.local/bad-image:1", history=4)]
    broken = run(k8s, [deploy_stage(manifests, trafficManagement=traffic("redblack"))], name="broken")
    assert broken["status"] == "TERMINAL" and (
        "ErrImagePull" in error_of(broken) or "ImagePullBackOff" in error_of(broken)
    )
    fixed = deploy(k8s, "fixed", "nginx:2", "redblack")
    steps = stage(fixed, "1")["context"]["strategySteps"]
    assert steps == [{"manifestName": "replicaSet front-v000", "location": "default", "action": "delete"}]
    assert kube.get_object("apps/v1", "ReplicaSet", "default", "front-v000") is None
    assert template_labels(kube, "front-v001")["frontedBy"] == "front"
