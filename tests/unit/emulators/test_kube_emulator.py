"""The Kubernetes API emulator, exercised over the wire with the real lightkube client (and kubectl, marked slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from lightkube import ALL_NS, ApiError, Client, KubeConfig, codecs, operators
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Endpoints, Event, Namespace, Pod, Service
from lightkube.types import CascadeType, PatchType

from tests.emulators.kube import KubeEmulator

T = TypeVar("T")


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(kube: KubeEmulator, tmp_path: Path) -> Iterator[Client]:
    c = Client(config=KubeConfig.from_file(kube.write_kubeconfig(tmp_path / "kubeconfig")))
    yield c
    c.close()


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def deployment(name: str, image: str = "nginx:1.25", replicas: int = 2, **spec: Any) -> Any:
    return codecs.from_dict({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "ports": [{"containerPort": 80}]}]},
            },
            **spec,
        },
    })


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> Any:
    return codecs.from_dict({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": name, "labels": labels or {}}, "data": data})


def job(name: str, image: str, backoff_limit: int = 0, env: list[dict[str, str]] | None = None) -> Any:
    return codecs.from_dict({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "task", "image": image, "env": env or []}]}},
        },
    })


def replica_sets(client: Client, app: str) -> list[Any]:
    return sorted(client.list(ReplicaSet, labels={"app": app}),
                  key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]))


# Discovery, CRUD and errors -----------------------------------------------------------------------------------------


def test_discovery_documents(kube: KubeEmulator) -> None:
    version = httpx.get(f"{kube.url}/version").json()
    assert version["major"] == "1"
    groups = httpx.get(f"{kube.url}/apis").json()
    assert {"apps", "batch", "networking.k8s.io"} <= {g["name"] for g in groups["groups"]}
    apps = httpx.get(f"{kube.url}/apis/apps/v1").json()
    deploy = next(r for r in apps["resources"] if r["name"] == "deployments")
    assert deploy["namespaced"] and "deploy" in deploy["shortNames"]
    assert {r["name"] for r in apps["resources"]} >= {"deployments/scale", "deployments/status"}
    aggregated = httpx.get(f"{kube.url}/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"})
    assert aggregated.headers["content-type"].startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    assert aggregated.json()["kind"] == "APIGroupDiscoveryList"
    assert httpx.get(f"{kube.url}/apis/nope/v1").status_code == 404


def test_crud_round_trip_and_status_errors(client: Client) -> None:
    created = client.create(configmap("settings", {"tier": "web"}, color="blue"))
    assert created.metadata.uid and int(created.metadata.resourceVersion) > 0
    assert created.metadata.creationTimestamp is not None
    assert client.get(ConfigMap, "settings").data == {"color": "blue"}

    with pytest.raises(ApiError) as exc:
        client.create(configmap("settings"))
    assert exc.value.status.code == 409
    assert exc.value.status.reason == "AlreadyExists"
    assert exc.value.status.message == 'configmaps "settings" already exists'

    with pytest.raises(ApiError) as exc:
        client.get(Deployment, "missing")
    assert (exc.value.status.code, exc.value.status.reason) == (404, "NotFound")
    assert exc.value.status.message == 'deployments.apps "missing" not found'
    assert exc.value.status.details.name == "missing" and exc.value.status.details.group == "apps"

    generated = client.create(codecs.from_dict({"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"generateName": "gen-"}}))
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9

    client.delete(ConfigMap, "settings")
    with pytest.raises(ApiError) as exc:
        client.delete(ConfigMap, "settings")
    assert exc.value.status.code == 404

    with pytest.raises(ApiError) as exc:
        client.create(configmap("x"), namespace="does-not-exist")
    assert exc.value.status.message == 'namespaces "does-not-exist" not found'

    with pytest.raises(ApiError) as exc:
        client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                        "spec": {"containers": [{"name": "c"}]}}))
    assert exc.value.status.code == 422 and exc.value.status.reason == "Invalid"
    assert "spec.containers[0].image: Required value" in exc.value.status.message


def test_replace_with_stale_resource_version_conflicts(client: Client) -> None:
    first = client.create(configmap("cm", a="1"))
    first.data = {"a": "2"}
    second = client.replace(first)
    assert int(second.metadata.resourceVersion) > int(first.metadata.resourceVersion)

    first.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiError) as exc:
        client.replace(first)
    assert exc.value.status.code == 409 and exc.value.status.reason == "Conflict"
    assert "the object has been modified" in exc.value.status.message
    assert client.get(ConfigMap, "cm").data == {"a": "2"}


def test_generation_tracks_spec_and_controllers_observe_it(kube: KubeEmulator, client: Client) -> None:
    d = client.create(deployment("gen", replicas=1))
    assert (d.metadata.generation == 1 and d.status is None) or not d.status.replicas

    client.patch(Deployment, "gen", {"metadata": {"labels": {"extra": "yes"}}}, patch_type=PatchType.MERGE)
    assert client.get(Deployment, "gen").metadata.generation == 1  # metadata changes do not bump generation

    client.patch(Deployment, "gen", {"spec": {"replicas": 3}}, patch_type=PatchType.MERGE)
    client.patch(Deployment, "gen", {"status": {"replicas": 99}}, patch_type=PatchType.MERGE)  # ignored
    d = client.get(Deployment, "gen")
    assert d.metadata.generation == 2
    kube.settle()
    d = client.get(Deployment, "gen")
    assert d.status.observedGeneration == 2
    assert (d.status.replicas, d.status.readyReplicas, d.status.availableReplicas) == (3, 3, 3)

    scale = httpx.get(f"{kube.url}/apis/apps/v1/namespaces/default/deployments/gen/scale").json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=gen"
    client.patch(Deployment, "gen", {"spec": {"replicas": 1}}, patch_type=PatchType.MERGE)
    kube.settle()
    assert len(list(client.list(Pod, labels={"app": "gen"}))) == 1


def test_label_and_field_selectors(client: Client) -> None:
    client.create(configmap("a", {"env": "prod", "tier": "web"}))
    client.create(configmap("b", {"env": "dev", "tier": "web"}))
    client.create(configmap("c", {"env": "qa"}))

    def names(**kwargs: Any) -> list[str]:
        found = client.list(ConfigMap, **kwargs)
        return sorted(cm.metadata.name for cm in found if cm.metadata.name != "kube-root-ca.crt")

    assert names(labels={"env": "prod"}) == ["a"]
    assert names(labels={"tier": operators.exists()}) == ["a", "b"]
    assert names(labels={"env": ("prod", "qa")}) == ["a", "c"]
    assert names(fields={"metadata.name": "b"}) == ["b"]
    with pytest.raises(ApiError) as exc:
        list(client.list(ConfigMap, fields={"data.x": "1"}))
    assert exc.value.status.code == 400


def test_set_based_selectors_over_http(kube: KubeEmulator, client: Client) -> None:
    for name, env in (("a", "prod"), ("b", "dev"), ("c", None)):
        client.create(configmap(name, {"env": env} if env else {"other": "x"}))

    def names(selector: str) -> list[str]:
        r = httpx.get(f"{kube.url}/api/v1/namespaces/default/configmaps", params={"labelSelector": selector})
        return sorted(i["metadata"]["name"] for i in r.json()["items"])

    assert names("env in (prod,dev)") == ["a", "b"]
    assert names("env notin (prod)") == ["b", "c", "kube-root-ca.crt"]
    assert names("env!=dev,other") == ["c"]
    assert names("!env,!other") == ["kube-root-ca.crt"]
    assert httpx.get(f"{kube.url}/api/v1/namespaces/default/configmaps",
                     params={"labelSelector": "env in (a"}).status_code == 400


def test_equality_selectors_follow_relabels_and_deletes(kube: KubeEmulator, client: Client) -> None:
    """Equality selectors are answered from a label index: it must follow every write, in every namespace."""
    for name, namespace in (("a", "default"), ("b", "default"), ("c", "other")):
        kube.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": namespace, "labels": {"env": "prod", "tier": "web"}}})

    def names(namespace: str | None, **labels: str) -> list[str]:
        found = client.list(ConfigMap, namespace=namespace or ALL_NS, labels=labels)
        return sorted(cm.metadata.name for cm in found)

    assert names(None, env="prod") == ["a", "b", "c"]
    assert names("default", env="prod", tier="web") == ["a", "b"]
    client.patch(ConfigMap, "a", {"metadata": {"labels": {"env": "qa"}}}, namespace="default")
    client.delete(ConfigMap, "b", namespace="default")
    assert names(None, env="prod") == ["c"]
    assert names("default", env="qa", tier="web") == ["a"]
    assert names("default", env="qa", tier="db") == []
    client.patch(ConfigMap, "a", {"metadata": {"labels": {"env": None}}}, namespace="default")
    assert names("default", env="qa") == []
    assert names("default", tier="web") == ["a"]


# Patching ----------------------------------------------------------------------------------------------------------


def test_strategic_merge_json_and_merge_patches(client: Client) -> None:
    client.create(deployment("p", replicas=1))
    patched = client.patch(Deployment, "p", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "env": [{"name": "MODE", "value": "fast"}]},
        {"name": "sidecar", "image": "busybox:1"},
    ]}}}}, patch_type=PatchType.STRATEGIC)
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["main", "sidecar"]
    assert containers[0].image == "nginx:1.25" and containers[0].env[0].value == "fast"

    patched = client.patch(Deployment, "p", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}}, patch_type=PatchType.STRATEGIC)
    assert [c.name for c in patched.spec.template.spec.containers] == ["main"]

    patched = client.patch(Deployment, "p", [
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/metadata/annotations/example.com~1owner", "value": "team-a"},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "copy", "from": "/metadata/annotations/example.com~1owner", "path": "/metadata/labels/owner"},
        {"op": "test", "path": "/spec/replicas", "value": 2},
    ], patch_type=PatchType.JSON)
    assert patched.metadata.annotations["example.com/owner"] == "team-a"
    assert patched.metadata.labels["owner"] == "team-a" and patched.spec.replicas == 2

    with pytest.raises(ApiError) as exc:
        client.patch(Deployment, "p", [{"op": "test", "path": "/spec/replicas", "value": 5}], patch_type=PatchType.JSON)
    assert exc.value.status.code == 422

    patched = client.patch(Deployment, "p", {"metadata": {"labels": {"owner": None}}}, patch_type=PatchType.MERGE)
    assert "owner" not in patched.metadata.labels


def test_server_side_apply_ownership_and_conflicts(client: Client) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}}
    created = client.apply(codecs.from_dict(base), field_manager="alpha")
    assert created.data == {"a": "1", "b": "2"}
    managers = {m.manager: m for m in created.metadata.managedFields}
    assert managers["alpha"].operation == "Apply"
    assert managers["alpha"].fieldsV1 == {"f:data": {"f:a": {}, "f:b": {}}}

    # The same manager can drop a field (it is removed) and change another.
    updated = client.apply(codecs.from_dict({**base, "data": {"a": "10"}}), field_manager="alpha")
    assert updated.data == {"a": "10"}

    # Another manager setting the same value co-owns it; a different value conflicts.
    client.apply(codecs.from_dict({**base, "data": {"a": "10", "c": "3"}}), field_manager="beta")
    with pytest.raises(ApiError) as exc:
        client.apply(codecs.from_dict({**base, "data": {"a": "11"}}), field_manager="beta")
    assert exc.value.status.code == 409 and exc.value.status.reason == "Conflict"
    assert exc.value.status.message == 'Apply failed with 1 conflict: conflict with "alpha" using v1: .data.a'

    forced = client.apply(codecs.from_dict({**base, "data": {"a": "11"}}), field_manager="beta", force=True)
    assert forced.data == {"a": "11"}
    owners = {m.manager: m.fieldsV1 for m in forced.metadata.managedFields}
    assert owners == {"beta": {"f:data": {"f:a": {}}}}

    # Plain updates are tracked too (operation Update), and SSA requires a field manager.
    client.patch(ConfigMap, "ssa", {"data": {"z": "9"}}, patch_type=PatchType.MERGE, field_manager="editor")
    ops = {(m.manager, m.operation) for m in client.get(ConfigMap, "ssa").metadata.managedFields}
    assert ("editor", "Update") in ops


def test_server_side_apply_on_deployment_keyed_lists(kube: KubeEmulator, client: Client) -> None:
    client.apply(deployment("ssa", replicas=1), field_manager="deployer")
    with pytest.raises(ApiError) as exc:
        client.apply(deployment("ssa", image="nginx:2", replicas=1), field_manager="other")
    assert '.spec.template.spec.containers[name="main"].image' in exc.value.status.message
    applied = client.apply(deployment("ssa", image="nginx:2", replicas=1), field_manager="other", force=True)
    assert applied.spec.template.spec.containers[0].image == "nginx:2"
    assert applied.metadata.generation == 2


# Watch -------------------------------------------------------------------------------------------------------------


def test_list_then_watch_from_resource_version(kube: KubeEmulator, client: Client) -> None:
    client.create(configmap("before", {"w": "1"}))
    listing = client.list(ConfigMap, labels={"w": "1"})
    assert [cm.metadata.name for cm in listing] == ["before"]
    rv = listing.resourceVersion

    client.create(configmap("one", {"w": "1"}))
    client.create(configmap("ignored", {"w": "2"}))
    client.patch(ConfigMap, "one", {"data": {"k": "v"}}, patch_type=PatchType.MERGE)
    client.delete(ConfigMap, "one")

    events: list[tuple[str, str]] = []
    for kind, obj in client.watch(ConfigMap, labels={"w": "1"}, resource_version=rv):
        events.append((kind, obj.metadata.name))
        if len(events) == 3:
            break
    assert events == [("ADDED", "one"), ("MODIFIED", "one"), ("DELETED", "one")]


def test_watch_streams_live_events_across_namespaces(kube: KubeEmulator, client: Client) -> None:
    client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}))
    seen: list[tuple[str, str, str]] = []

    def watch() -> None:
        for kind, obj in client.watch(ConfigMap, namespace=ALL_NS, labels={"live": "yes"},
                                      resource_version=str(kube.store.resource_version)):
            seen.append((kind, obj.metadata.namespace, obj.metadata.name))
            if len(seen) == 2:
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.05)
    client.create(configmap("x", {"live": "yes"}), namespace="other")
    client.create(configmap("y", {"live": "yes"}))
    thread.join(timeout=5)
    assert seen == [("ADDED", "other", "x"), ("ADDED", "default", "y")]


def test_watch_timeout_and_expired_resource_version(tmp_path: Path) -> None:
    with KubeEmulator(controllers=False, watch_history=5) as kube:
        r = httpx.get(f"{kube.url}/api/v1/namespaces/default/configmaps",
                      params={"watch": "true", "resourceVersion": str(kube.store.resource_version),
                              "timeoutSeconds": "1"}, timeout=5)
        assert r.status_code == 200 and r.text == ""
        old = kube.store.resource_version
        for n in range(10):
            kube.put_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}"}})
        r = httpx.get(f"{kube.url}/api/v1/namespaces/default/configmaps",
                      params={"watch": "1", "resourceVersion": str(old), "timeoutSeconds": "1"}, timeout=5)
        event = json.loads(r.text.splitlines()[0])
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


# Controllers -------------------------------------------------------------------------------------------------------


def test_deployment_rollout_revisions_and_rollback(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("web"))
    kube.settle()
    [rs1] = replica_sets(client, "web")
    assert rs1.metadata.name.startswith("web-") and rs1.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs1.metadata.ownerReferences[0].kind == "Deployment" and rs1.metadata.ownerReferences[0].controller
    pods = list(client.list(Pod, labels={"app": "web"}))
    assert len(pods) == 2 and all(p.metadata.name.startswith(rs1.metadata.name + "-") for p in pods)
    assert all(p.metadata.labels["pod-template-hash"] == rs1.metadata.labels["pod-template-hash"] for p in pods)
    assert all(p.status.phase == "Running" and p.spec.nodeName == "emulator-node" for p in pods)
    assert all(p.status.podIP.startswith("10.") for p in pods)

    client.patch(Deployment, "web", {"metadata": {"annotations": {"team": "a"}},
                                     "spec": {"template": {"spec": {"containers": [
                                         {"name": "main", "image": "nginx:1.26"}]}}}})
    kube.settle()
    rs1, rs2 = replica_sets(client, "web")
    assert rs2.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert rs2.metadata.annotations["team"] == "a"
    assert (rs1.spec.replicas, rs2.spec.replicas) == (0, 2)
    d = client.get(Deployment, "web")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    progressing = next(c for c in d.status.conditions if c.type == "Progressing")
    assert progressing.reason == "NewReplicaSetAvailable"
    assert (d.status.updatedReplicas, d.status.availableReplicas) == (2, 2)

    # Roll back the way `kubectl rollout undo` does: JSON-patch the old template back in.
    template = rs1.to_dict()["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    client.patch(Deployment, "web", [{"op": "replace", "path": "/spec/template", "value": template}],
                 patch_type=PatchType.JSON)
    kube.settle()
    by_name = {rs.metadata.name: rs for rs in client.list(ReplicaSet, labels={"app": "web"})}
    assert len(by_name) == 2
    restored = by_name[rs1.metadata.name]
    assert restored.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert restored.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert restored.spec.replicas == 2 and by_name[rs2.metadata.name].spec.replicas == 0
    assert client.get(Deployment, "web").spec.template.spec.containers[0].image == "nginx:1.25"


def test_bad_image_reports_image_pull_backoff_and_deadline(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("good", replicas=1, progressDeadlineSeconds=1))
    kube.settle()
    client.patch(Deployment, "good", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "registry.example/bad-image:1"}]}}}})
    kube.settle()
    new_pod = next(p for p in client.list(Pod, labels={"app": "good"}) if "bad-image" in p.spec.containers[0].image)
    waiting = new_pod.status.containerStatuses[0].state.waiting
    assert new_pod.status.phase == "Pending"
    assert waiting.reason == "ImagePullBackOff" and waiting.message.startswith("Back-off pulling image")
    d = client.get(Deployment, "good")
    assert d.status.availableReplicas == 1 and d.status.updatedReplicas == 1  # the old pod keeps serving
    reasons = {e.reason for e in client.list(Event, fields={"involvedObject.name": new_pod.metadata.name})}
    assert {"Scheduled", "Pulling", "Failed", "BackOff"} <= reasons

    def deadline_exceeded() -> bool:
        cond = next(c for c in client.get(Deployment, "good").status.conditions if c.type == "Progressing")
        return cond.reason == "ProgressDeadlineExceeded" and cond.status == "False"

    wait_for(deadline_exceeded, timeout=5, what="ProgressDeadlineExceeded")


def test_crashing_image_goes_into_crash_loop(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("crashy", image="example/crash-app:1", replicas=1))
    kube.settle()
    [pod] = client.list(Pod, labels={"app": "crashy"})
    status = pod.status.containerStatuses[0]
    assert pod.status.phase == "Running" and not status.ready
    assert status.state.waiting.reason == "CrashLoopBackOff" and status.restartCount > 0
    assert client.get(Deployment, "crashy").status.readyReplicas in (None, 0)


def test_paused_deployment_does_not_roll_out(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("held", replicas=1))
    kube.settle()
    client.patch(Deployment, "held", {"spec": {"paused": True, "template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:9"}]}}}})
    kube.settle()
    assert len(replica_sets(client, "held")) == 1
    cond = next(c for c in client.get(Deployment, "held").status.conditions if c.type == "Progressing")
    assert (cond.status, cond.reason) == ("Unknown", "DeploymentPaused")


def test_job_success_failure_and_logs(kube: KubeEmulator, client: Client) -> None:
    client.create(job("ok", "busybox:1", env=[{"name": "EMULATOR_LOGS", "value": "hello\nworld"}]))
    client.create(job("bad", "example/fail-task:1"))
    kube.settle()

    ok = client.get(Job, "ok")
    assert ok.status.succeeded == 1 and ok.status.completionTime is not None
    assert {c.type for c in ok.status.conditions if c.status == "True"} >= {"Complete"}
    [pod] = client.list(Pod, labels={"job-name": "ok"})
    assert pod.status.phase == "Succeeded"
    assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "ok"
    assert pod.metadata.labels["controller-uid"] == ok.metadata.uid
    assert list(client.log(pod.metadata.name)) == ["hello\n", "world\n"]

    kube.pod_logs[("default", pod.metadata.name, "task")] = "from the test\n"
    assert "".join(client.log(pod.metadata.name, container="task")) == "from the test\n"
    kube.pod_logs[("default", pod.metadata.name, "task")] = lambda: "computed\n"
    assert "".join(client.log(pod.metadata.name)) == "computed\n"

    bad = client.get(Job, "bad")
    failed = next(c for c in bad.status.conditions if c.type == "Failed")
    assert (failed.status, failed.reason) == ("True", "BackoffLimitExceeded")
    assert failed.message == "Job has reached the specified backoff limit"
    [bad_pod] = client.list(Pod, labels={"job-name": "bad"})
    assert bad_pod.status.phase == "Failed"
    assert bad_pod.status.containerStatuses[0].state.terminated.exitCode == 1


def test_pod_log_errors(kube: KubeEmulator, client: Client) -> None:
    client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "two"}, "spec": {
        "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "registry/bad-image:1"}]}}))
    kube.settle()
    with pytest.raises(ApiError) as exc:
        list(client.log("two"))
    assert exc.value.status.message == "a container name must be specified for pod two, choose one of: [a b]"
    with pytest.raises(ApiError) as exc:
        list(client.log("two", container="b"))
    assert 'container "b" in pod "two" is waiting to start' in exc.value.status.message
    assert list(client.log("two", container="a")) == []


def test_service_endpoints_follow_ready_pods(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("api", replicas=2))
    client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
                                    "spec": {"selector": {"app": "api"},
                                             "ports": [{"name": "http", "port": 80, "targetPort": 80}]}}))
    kube.settle()
    svc = client.get(Service, "api")
    assert svc.spec.clusterIP.startswith("10.96.") and svc.spec.type == "ClusterIP"
    endpoints = client.get(Endpoints, "api")
    pod_ips = sorted(p.status.podIP for p in client.list(Pod, labels={"app": "api"}))
    assert sorted(a.ip for a in endpoints.subsets[0].addresses) == pod_ips
    assert endpoints.subsets[0].ports[0].port == 80

    client.patch(Deployment, "api", {"spec": {"replicas": 1}})
    kube.settle()
    assert len(client.get(Endpoints, "api").subsets[0].addresses) == 1
    client.delete(Service, "api")
    kube.settle()
    with pytest.raises(ApiError):
        client.get(Endpoints, "api")


def test_delete_propagation(kube: KubeEmulator, client: Client) -> None:
    client.create(deployment("gone", replicas=1))
    client.create(deployment("kept", replicas=1))
    kube.settle()
    client.delete(Deployment, "gone")
    assert replica_sets(client, "gone") == [] and list(client.list(Pod, labels={"app": "gone"})) == []

    client.delete(Deployment, "kept", cascade=CascadeType.ORPHAN)
    [rs] = replica_sets(client, "kept")
    assert not rs.metadata.ownerReferences
    kube.settle()
    assert len(list(client.list(Pod, labels={"app": "kept"}))) == 1

    client.create(codecs.from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "temp"}}))
    client.create(configmap("inside"), namespace="temp")
    client.delete(Namespace, "temp")
    assert [cm for cm in client.list(ConfigMap, namespace=ALL_NS) if cm.metadata.namespace == "temp"] == []


def test_statefulset_pods_are_ordinal(kube: KubeEmulator, client: Client) -> None:
    client.create(codecs.from_dict({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}}))
    kube.settle()
    assert sorted(p.metadata.name for p in client.list(Pod, labels={"app": "db"})) == ["db-0", "db-1", "db-2"]
    sts = client.get(StatefulSet, "db")
    assert (sts.status.readyReplicas, sts.status.updatedReplicas) == (3, 3)
    assert sts.status.currentRevision == sts.status.updateRevision


def test_custom_resource_definitions_register_kinds(kube: KubeEmulator, client: Client) -> None:
    client.create(codecs.from_dict({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}}))
    Widget = create_namespaced_resource("example.com", "v1", "Widget", "widgets")
    client.create(Widget.from_dict({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                                    "spec": {"size": 3}}))
    assert client.get(Widget, "w")["spec"] == {"size": 3}
    assert client.get(CustomResourceDefinition, "widgets.example.com").status.storedVersions == ["v1"]


# Harness API -------------------------------------------------------------------------------------------------------


def test_direct_access_request_log_and_clean_shutdown(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    with KubeEmulator() as kube:
        kube.put_object({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "seed", "namespace": "x"},
                         "spec": {"selector": {"matchLabels": {"a": "b"}},
                                  "template": {"metadata": {"labels": {"a": "b"}},
                                               "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}})
        kube.settle()
        assert kube.get_object("apps/v1", "Deployment", "x", "seed")["status"]["readyReplicas"] == 1
        assert kube.get_object("apps/v1", "Deployment", "x", "nope") is None
        kube.reset_request_log()
        c = Client(config=KubeConfig.from_file(kube.write_kubeconfig(tmp_path / "kc")))
        c.get(Deployment, "seed", namespace="x")
        assert kube.request_count == 1
        assert kube.requests == [("GET", "/apis/apps/v1/namespaces/x/deployments/seed")]
        kube.reset_request_log()
        assert [rs.metadata.labels["a"] for rs in c.list(ReplicaSet, namespace="x", labels={"a": "b"})] == ["b"]
        assert not list(c.list(ReplicaSet, namespace="x", labels={"a": "c"}))
        assert [query for _, _, query in kube.request_log] == [{"labelSelector": ["a=b"]}, {"labelSelector": ["a=c"]}]
        stream_ended = threading.Event()

        def watch_forever() -> None:
            try:
                with httpx.stream("GET", f"{kube.url}/api/v1/pods?watch=true", timeout=None) as response:
                    for _ in response.iter_lines():
                        pass
            except httpx.HTTPError:
                pass
            stream_ended.set()

        watcher = threading.Thread(target=watch_forever, daemon=True)
        watcher.start()
        wait_for(lambda: ("GET", "/api/v1/pods") in kube.requests, what="the watch request")
        c.close()
    assert stream_ended.wait(5), "stopping the emulator must end open watch streams"
    watcher.join(timeout=5)
    leftover = {t.name for t in threading.enumerate()} - before
    assert not [name for name in leftover if name.startswith("kube-emulator")]


# kubectl -----------------------------------------------------------------------------------------------------------


def _kubectl_binary() -> str | None:
    found = shutil.which("kubectl")
    local = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "kubectl"
    return found or (str(local) if local.exists() else None)


@pytest.mark.slow
def test_kubectl_apply_rollout_and_undo(kube: KubeEmulator, tmp_path: Path) -> None:
    binary = _kubectl_binary()
    if binary is None:
        pytest.skip("kubectl not installed")
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "HOME": str(tmp_path)}

    def kubectl(*args: str) -> str:
        result = subprocess.run([binary, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), *args],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    manifest = tmp_path / "web.yaml"

    def write(image: str) -> None:
        manifest.write_text(f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
""")

    assert "No resources found" in subprocess.run(
        [binary, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"), "get", "pods"],
        capture_output=True, text=True, timeout=60, env=env).stderr
    write("nginx:1.25")
    assert "deployment.apps/web created" in kubectl("apply", "-f", str(manifest))
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert len(kubectl("get", "pods", "-l", "app=web", "-o", "name").split()) == 2

    write("nginx:1.26")
    assert "deployment.apps/web configured" in kubectl("apply", "-f", str(manifest))
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    image = "{.spec.template.spec.containers[0].image}"
    assert kubectl("get", "deployment", "web", "-o", f"jsonpath={image}") == "nginx:1.26"

    assert "rolled back" in kubectl("rollout", "undo", "deployment/web")
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert kubectl("get", "deployment", "web", "-o", f"jsonpath={image}") == "nginx:1.25"
    history = kubectl("rollout", "history", "deployment/web")
    assert "2 " in history and "3 " in history
