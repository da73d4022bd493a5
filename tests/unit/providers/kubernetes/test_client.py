"""The Kubernetes client retries throttling and server errors with backoff, and its errors name the
account, the operation, the kind, the namespace and the name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import yaml
from lightkube.generic_resource import create_namespaced_resource

from gennaker.providers.kubernetes import KubeClient, KubernetesAccount, KubernetesAccounts, KubernetesError
from gennaker.providers.kubernetes.client import bounded_log


def status(code: int, reason: str, message: str) -> httpx2.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    return httpx2.Response(code, json=body, headers={"Content-Type": "application/json"})


def config_map(name: str) -> httpx2.Response:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}, "data": {}}
    return httpx2.Response(200, json=body, headers={"Content-Type": "application/json"})


def client(tmp_path: Path, answers: list[httpx2.Response], sleeps: list[float]) -> tuple[KubeClient, list[str]]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    seen: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(f"{request.method} {request.url.path}")
        return answers.pop(0)

    account = KubernetesAccount(name="prod", kubeconfigFile=str(kubeconfig))
    return KubeClient(account, transport=httpx2.MockTransport(handle), sleep=sleeps.append), seen


def test_throttling_and_server_errors_are_retried_with_growing_backoff(tmp_path: Path) -> None:
    sleeps: list[float] = []
    answers = [
        status(429, "TooManyRequests", "slow down"),
        status(503, "ServiceUnavailable", "busy"),
        config_map("cfg"),
    ]
    kube, seen = client(tmp_path, answers, sleeps)
    found = kube.get("v1", "ConfigMap", "shop", "cfg")
    assert found is not None and found["metadata"]["name"] == "cfg"
    assert seen == ["GET /api/v1/namespaces/shop/configmaps/cfg"] * 3
    assert sleeps == [0.2, 0.4]


def test_errors_name_the_account_operation_and_object(tmp_path: Path) -> None:
    sleeps: list[float] = []
    kube, _ = client(tmp_path, [status(403, "Forbidden", "configmaps is forbidden")], sleeps)
    with pytest.raises(KubernetesError) as raised:
        kube.replace({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"}})
    assert str(raised.value) == "account 'prod': replace ConfigMap shop/cfg: configmaps is forbidden"
    assert raised.value.status == 403 and sleeps == []


def test_a_missing_object_is_none_and_giving_up_after_retries_reports_the_last_error(tmp_path: Path) -> None:
    sleeps: list[float] = []
    answers = [status(404, "NotFound", "not found")] + [status(500, "InternalError", "etcd down")] * 5
    kube, _ = client(tmp_path, answers, sleeps)
    assert kube.get("v1", "ConfigMap", "shop", "gone") is None
    with pytest.raises(KubernetesError, match=r"account 'prod': list ConfigMap in shop: etcd down"):
        kube.list_objects("v1", "ConfigMap", "shop")
    assert len(sleeps) == 4 and json.dumps(sleeps) == "[0.2, 0.4, 0.8, 1.6]"


def test_the_default_namespace_is_the_contexts(tmp_path: Path) -> None:
    kube, _ = client(tmp_path, [], [])
    assert kube.default_namespace == "default"
    kubeconfig = yaml.safe_load((tmp_path / "kubeconfig").read_text())
    kubeconfig["contexts"][0]["context"]["namespace"] = "shop"
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    account = KubernetesAccount(name="prod", kubeconfigFile=str(tmp_path / "kubeconfig"))
    assert (
        KubeClient(account, transport=httpx2.MockTransport(lambda r: httpx2.Response(500))).default_namespace == "shop"
    )


def test_account_configuration_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"providers\.kubernetes\.accounts\[1\]\.name: Field required"):
        KubernetesAccounts.from_config({"accounts": [{"name": "a"}, {"context": "x"}]})
    with pytest.raises(ValueError, match=r"accounts\[0\]: Value error, namespaces and omitNamespaces are mutually"):
        KubernetesAccounts.from_config({"accounts": [{"name": "a", "namespaces": ["x"], "omitNamespaces": ["y"]}]})
    with pytest.raises(ValueError, match=r"duplicate account name\(s\) \['a'\]"):
        KubernetesAccounts.from_config({"accounts": [{"name": "a"}, {"name": "a"}]})


def test_custom_kinds_take_their_scope_from_this_cluster_not_from_lightkubes_shared_registry(tmp_path: Path) -> None:
    create_namespaced_resource("scope.example.com", "v1", "Gizmo", "gizmos")  # what another user of lightkube did
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.scope.example.com"},
        "spec": {"group": "scope.example.com", "scope": "Cluster", "names": {"kind": "Gizmo", "plural": "gizmos"}},
    }
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [crd]}
    answer = httpx2.Response(200, json=listing, headers={"Content-Type": "application/json"})
    kube, seen = client(tmp_path, [answer], [])
    assert kube.is_namespaced("scope.example.com/v1", "Gizmo") is False
    assert seen == ["GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions"]


def test_a_log_is_read_no_further_than_its_budget() -> None:
    read: list[str] = []

    def endless() -> Iterator[str]:
        while True:
            read.append("line\n")
            yield "line\n"

    text = bounded_log(endless(), limit=12)
    assert text == "line\nline\n\n[log cut after 12 characters]\n" and len(read) == 3
    assert bounded_log(["a\n", "b\n"], limit=12) == "a\nb\n"
