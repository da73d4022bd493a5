"""The `clusterSize` precondition on Kubernetes accounts (orca.md §3.3): server groups of a moniker cluster
counted per namespace, read from the (emulated) cluster, polled until they match or time runs out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.providers.kubernetes import manifest as mf
from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config, error_of, run, stage
from tests.integration.kubernetes.manifests import deploy_stage, deployment, service
from tests.support import make_runtime, pipeline, wait_for, wait_status

pytestmark = pytest.mark.slow
TIMEOUT_MS = 600


@pytest.fixture
def rt(kubeconfig: Path, tmp_path: Path) -> Iterator[Runtime]:
    """Accounts `emu` and `narrow` (namespace `allowed` only); cluster size checks poll every 50 ms for 0.6 s."""
    engine = {"manifest_poll_ms": 50, "cluster_size_poll_ms": 50, "cluster_size_timeout_ms": TIMEOUT_MS}
    runtime = make_runtime(tmp_path, config=accounts_config(kubeconfig), engine=engine)
    runtime.start_workers(1)
    yield runtime
    runtime.close()


def seeded_replica_set(
    name: str,
    cluster: str,
    app: str = "shop",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    load_balancers: list[str] | None = None,
) -> dict[str, Any]:
    annotations = {mf.MONIKER + "application": app, mf.MONIKER + "cluster": cluster}
    if load_balancers is not None:
        annotations[mf.LOAD_BALANCERS] = json.dumps(load_balancers)
    pod_labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pod_labels},
            "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }


def cluster_size(ref_id: str = "1", fail_pipeline: bool = True, **context: Any) -> dict[str, Any]:
    check = {
        "cluster": "replicaSet front",
        "moniker": {"app": "shop", "cluster": "replicaSet front"},
        "credentials": "emu",
        "regions": ["default"],
        **context,
    }
    return {
        "refId": ref_id,
        "type": "checkPreconditions",
        "name": f"Check {ref_id}",
        "preconditions": [
            {"type": "clusterSize", "cloudProvider": "kubernetes", "failPipeline": fail_pipeline, "context": check}
        ],
    }


def checked(execution: dict[str, Any], ref_id: str = "1") -> dict[str, Any]:
    return stage(execution, f"{ref_id}<1")


def test_the_server_groups_of_a_deployment_cluster_are_counted(rt: Runtime) -> None:
    for image in ("nginx:1", "nginx:2"):
        deployed = run(rt, [deploy_stage([deployment(image=image, config=None)])], name=f"deploy-{image[-1]}")
        assert deployed["status"] == "SUCCEEDED", error_of(deployed)
    web = {"cluster": "deployment web", "moniker": {"app": "shop"}}
    passing = [
        cluster_size("1", **web, expected=2),
        cluster_size("2", **web, comparison=">=", expected=1),
        cluster_size("3", **web, comparison="<", expected=3),
        cluster_size("4", **web, comparison=">", expected="1"),
        cluster_size("5", cluster="deployment web", credentials="emu", regions=["default"], expected=2),
    ]
    done = run(rt, passing, name="web-size")
    assert done["status"] == "SUCCEEDED", error_of(done)
    found = checked(done)["context"]["clusterSizeServerGroups"]["default"]
    assert len(found) == 2 and all(name.startswith("replicaSet web-") for name in found)

    too_many = run(rt, [cluster_size("1", **web)], name="web-one")  # expected defaults to 1, comparison to ==
    assert too_many["status"] == "TERMINAL"
    message = error_of(too_many)
    assert message.startswith("Precondition check failed: expected == 1 server groups of cluster 'deployment web'")
    assert "in namespace 'default' (account 'emu') but found 2: [" in message
    assert all(name in message for name in found)
    check = checked(too_many)
    assert check["status"] == "TERMINAL"
    assert check["endTime"] - check["startTime"] >= TIMEOUT_MS  # it kept looking for the whole timeout


def test_a_failing_check_passes_once_the_cluster_changes(rt: Runtime, kube: KubeEmulator) -> None:
    for name in ("front-v000", "front-v001"):
        kube.put_object(seeded_replica_set(name, "replicaSet front"))
    kube.put_object(seeded_replica_set("front-v002", "replicaSet front", app="other"))  # another application's
    rt.settings.engine["cluster_size_timeout_ms"] = 20_000
    rt.save_pipeline(pipeline("shrink", [cluster_size(expected=1)], app="shop"), "tester")
    execution_id = rt.start_pipeline("shop", "shrink", {}, "tester")

    def still_failing() -> bool:
        execution = wait_status(rt, execution_id, "RUNNING", "SUCCEEDED", "TERMINAL")
        check = next((s for s in execution["stages"] if s["refId"] == "1<1"), None)
        return check is not None and bool(check["context"].get("messages"))

    wait_for(still_failing, what="the check to report a mismatch")
    kube.delete_object("apps/v1", "ReplicaSet", "default", "front-v000")
    done = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL")
    assert done["status"] == "SUCCEEDED", error_of(done)
    assert checked(done)["context"]["clusterSizeServerGroups"] == {"default": ["replicaSet front-v001"]}
    assert checked(done)["context"]["messages"] == []


def test_every_region_is_checked_and_each_failing_one_named(rt: Runtime, kube: KubeEmulator) -> None:
    kube.put_object(seeded_replica_set("front-v000", "replicaSet front"))
    kube.put_object(seeded_replica_set("front-v000", "replicaSet front", namespace="staging"))
    kube.put_object(seeded_replica_set("front-v001", "replicaSet front", namespace="staging"))
    done = run(rt, [cluster_size(regions=["default", "staging", "empty"])], name="regions")
    assert done["status"] == "TERMINAL"
    message = error_of(done)
    assert "in namespace 'default'" not in message
    staging = "in namespace 'staging' (account 'emu') but found 2: [replicaSet front-v000, replicaSet front-v001]"
    assert staging in message
    assert "in namespace 'empty' (account 'emu') but found 0: []" in message
    assert checked(done)["context"]["clusterSizeServerGroups"] == {
        "default": ["replicaSet front-v000"],
        "staging": ["replicaSet front-v000", "replicaSet front-v001"],
        "empty": [],
    }
    ok = run(rt, [cluster_size(regions=["staging"], comparison="<=", expected=2)], name="regions-ok")
    assert ok["status"] == "SUCCEEDED", error_of(ok)
    # An account limited to other namespaces sees no server groups there, as its infrastructure view does.
    narrow = run(rt, [cluster_size(credentials="narrow", expected=0)], name="narrow")
    assert narrow["status"] == "SUCCEEDED", error_of(narrow)


def test_only_enabled_server_groups(rt: Runtime, kube: KubeEmulator) -> None:
    """Server groups that name a Service no Service of theirs selects are disabled (as Deck shows them)."""
    for version in ("0", "1"):
        labels = {"app": "front", "v": version}
        kube.put_object(
            seeded_replica_set(
                f"front-v00{version}", "replicaSet front", labels=labels, load_balancers=["service front"]
            )
        )
    front = service("front", selector={"app": "front", "v": "1"})
    kube.put_object({**front, "metadata": {"name": "front", "namespace": "default"}})
    enabled = run(rt, [cluster_size(onlyEnabledServerGroups=True)], name="enabled")
    assert enabled["status"] == "SUCCEEDED", error_of(enabled)
    assert checked(enabled)["context"]["clusterSizeServerGroups"] == {"default": ["replicaSet front-v001"]}
    every = run(rt, [cluster_size(onlyEnabledServerGroups=False)], name="every")
    assert every["status"] == "TERMINAL"
    assert "expected == 1 server groups" in error_of(every)
    wrong = run(rt, [cluster_size(onlyEnabledServerGroups=True, expected=2)], name="enabled-two")
    assert "expected == 2 enabled server groups" in error_of(wrong)
    assert "found 1: [replicaSet front-v001]" in error_of(wrong)


def test_settings_are_checked_before_the_cluster_is_read(rt: Runtime, kube: KubeEmulator) -> None:
    bad = cluster_size(cluster="", regions=[], comparison="${'!='}", expected="${-1}")
    kube.reset_request_log()
    done = run(rt, [bad], name="bad")
    assert done["status"] == "TERMINAL"
    assert error_of(done) == (
        "Invalid configuration Missing cluster, Missing regions, Unsupported comparison !=, "
        "Invalid value for expected -1"
    )
    assert kube.requests == []  # the cluster was never read, let alone polled
    unknown = run(rt, [cluster_size(credentials="nowhere")], name="unknown")
    assert "unknown Kubernetes account 'nowhere'" in error_of(unknown)
    on_aws = cluster_size()
    on_aws["preconditions"][0]["cloudProvider"] = "aws"
    aws = run(rt, [on_aws], name="aws")
    assert "Unsupported cloudProvider aws" in error_of(aws)
    halted = run(rt, [cluster_size(fail_pipeline=False, expected=3)], name="halt-branch")
    assert checked(halted)["status"] == "STOPPED"
