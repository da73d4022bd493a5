"""How a deploy finds prior versions, cleanup candidates and strategy targets: by label on the server (the app
label for versions, the managed-by label for a strategy's cluster), so its cost follows what Gennaker deployed,
without ever overwriting a version another app holds or leaving a relabelled one serving traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.providers.kubernetes import KubeClient, KubernetesAccount
from gennaker.providers.kubernetes.deploy import Deployer, DeployRequest
from gennaker.providers.kubernetes.operations import ManifestOperations
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.manifests import config_map, deployment, replica_set

pytestmark = pytest.mark.slow

APP_LABEL = "app.kubernetes.io/name"
MANAGED_BY = "app.kubernetes.io/managed-by"


@pytest.fixture
def client(kube: KubeEmulator, kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient(KubernetesAccount(name="emu", kubeconfigFile=str(kubeconfig)))
    yield client
    client.close()


def deploy(client: KubeClient, manifests: list[dict[str, Any]], app: str = "shop") -> list[dict[str, Any]]:
    return Deployer(client).deploy(DeployRequest(manifests=manifests, moniker={"app": app})).manifests


def list_calls(kube: KubeEmulator, plural: str) -> list[dict[str, list[str]]]:
    """The query parameters of every list (a GET of the collection) of `plural`."""
    return [query for method, path, query in kube.request_log if method == "GET" and path.endswith(f"/{plural}")]


def versioned_config(name: str, app_label: str | None, version: int, data: str) -> dict[str, Any]:
    """A ConfigMap version as something else deployed it: artifact annotations, and a label only if given."""
    meta: dict[str, Any] = {
        "name": f"{name}-v{version:03d}",
        "namespace": "default",
        "annotations": {
            "artifact.spinnaker.io/name": name,
            "artifact.spinnaker.io/type": "kubernetes/configMap",
            "artifact.spinnaker.io/version": f"v{version:03d}",
        },
    }
    if app_label:
        meta["labels"] = {APP_LABEL: app_label}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"greeting": data}}


def test_every_list_of_a_deploy_selects_by_label(kube: KubeEmulator, client: KubeClient) -> None:
    for index in range(30):
        kube.put_object(config_map(f"unrelated-{index}"))
    kube.reset_request_log()
    deployed = deploy(client, [config_map("cfg"), deployment("web"), replica_set("front", history=2)])
    assert sorted(m["metadata"]["name"] for m in deployed) == ["cfg-v000", "front-v000", "web"]
    lists = list_calls(kube, "configmaps") + list_calls(kube, "replicasets")
    assert len(lists) == 2
    assert all(query.get("labelSelector") == [f"{APP_LABEL}=shop"] for query in lists)

    kube.reset_request_log()
    ops = ManifestOperations(client)
    second = deploy(client, [replica_set("front", image="nginx:2", history=2)])
    assert ops.strategy_steps(second, "shop", "HIGHLANDER") == [
        {"manifestName": "replicaSet front-v000", "location": "default", "action": "disable"},
        {"manifestName": "replicaSet front-v000", "location": "default", "action": "delete"},
    ]
    deploy(client, [replica_set("front", image="nginx:3", history=2)])
    assert ops.cleanup_versions(second) == ["replicaSet front-v000"]
    selectors = [query.get("labelSelector") for query in list_calls(kube, "replicasets")]
    by_app, by_deployer = [f"{APP_LABEL}=shop"], [f"{MANAGED_BY}=spinnaker"]
    assert selectors == [by_app, by_deployer, by_app, by_app]  # a deploy, the strategy, a deploy, the cleanup


def test_a_strategy_reaches_an_older_version_deployed_under_another_app_label(
    kube: KubeEmulator, client: KubeClient
) -> None:
    relabelled = replica_set("front")
    relabelled["metadata"]["labels"] = {APP_LABEL: "front-chart"}
    [old] = deploy(client, [relabelled])
    for index in range(3):  # ReplicaSets no deploy wrote: never listed, let alone touched
        other = replica_set(f"manual-{index}")
        other["metadata"]["namespace"] = "default"
        kube.put_object(other)
    kube.reset_request_log()
    newer = deploy(client, [replica_set("front", image="nginx:2")])
    assert [m["metadata"]["name"] for m in newer] == ["front-v001"]
    steps = ManifestOperations(client).strategy_steps(newer, "shop", "HIGHLANDER")
    assert steps == [
        {"manifestName": f"replicaSet {old['metadata']['name']}", "location": "default", "action": "disable"},
        {"manifestName": f"replicaSet {old['metadata']['name']}", "location": "default", "action": "delete"},
    ]
    assert list_calls(kube, "replicasets")[-1] == {"labelSelector": [f"{MANAGED_BY}=spinnaker"]}


def test_versions_under_the_manifests_own_app_label_are_found_and_reused(
    kube: KubeEmulator, client: KubeClient
) -> None:
    charted = config_map("cfg") | {"metadata": {"name": "cfg", "labels": {APP_LABEL: "chart"}}}
    assert [m["metadata"]["name"] for m in deploy(client, [charted])] == ["cfg-v000"]
    changed = charted | {"data": {"greeting": "bonjour"}}
    assert [m["metadata"]["name"] for m in deploy(client, [changed])] == ["cfg-v001"]
    kube.reset_request_log()
    assert [m["metadata"]["name"] for m in deploy(client, [charted])] == ["cfg-v000"]
    assert list_calls(kube, "configmaps") == [{"labelSelector": [f"{APP_LABEL}=chart"]}]


@pytest.mark.parametrize("other_label", ["billing", None], ids=["another app", "no labels"])
def test_a_version_the_label_misses_is_never_overwritten(
    kube: KubeEmulator, client: KubeClient, other_label: str | None
) -> None:
    kube.put_object(versioned_config("cfg", other_label, 0, "theirs"))
    kube.put_object(versioned_config("cfg", other_label, 1, "theirs too"))
    kube.reset_request_log()
    assert [m["metadata"]["name"] for m in deploy(client, [config_map("cfg")])] == ["cfg-v002"]
    assert [q.get("labelSelector") for q in list_calls(kube, "configmaps")] == [[f"{APP_LABEL}=shop"], None]
    for version, data in ((0, "theirs"), (1, "theirs too")):
        live = kube.get_object("v1", "ConfigMap", "default", f"cfg-v{version:03d}")
        assert live is not None and live["data"] == {"greeting": data}
    # The next deploy finds its own version by label, and the name after it is free: no namespace read.
    kube.reset_request_log()
    changed = config_map("cfg", data={"greeting": "new"})
    assert [m["metadata"]["name"] for m in deploy(client, [changed])] == ["cfg-v003"]
    assert [q.get("labelSelector") for q in list_calls(kube, "configmaps")] == [[f"{APP_LABEL}=shop"]]


def test_an_app_name_no_selector_can_name_reads_the_namespace(kube: KubeEmulator, client: KubeClient) -> None:
    """A selector naming a value no label can hold is refused by the API server; the lookup reads unselected."""
    kube.reset_request_log()
    assert [m["metadata"]["name"] for m in deploy(client, [config_map("cfg")], app="a" * 64)] == ["cfg-v000"]
    assert [q.get("labelSelector") for q in list_calls(kube, "configmaps")] == [None]
