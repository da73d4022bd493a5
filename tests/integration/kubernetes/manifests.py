"""Manifests the provider tests deploy."""

from __future__ import annotations

from typing import Any


def config_map(
    name: str = "cfg", data: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"greeting": "hello"}}


def deployment(
    name: str = "web",
    image: str = "nginx:1.25",
    replicas: int = 2,
    config: str | None = "cfg",
    namespace: str | None = None,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "web", "image": image}]}
    if config:
        pod_spec["volumes"] = [{"name": "config", "configMap": {"name": config}}]
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def service(name: str = "web", selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector or {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def replica_set(
    name: str = "front", image: str = "nginx:1.25", replicas: int = 2, history: int | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if history is not None:
        meta["annotations"] = {"strategy.spinnaker.io/max-version-history": str(history)}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def deploy_stage(
    manifests: list[dict[str, Any]], ref_id: str = "1", account: str = "emu", **extra: Any
) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "type": "deployManifest",
        "name": f"Deploy {ref_id}",
        "account": account,
        "cloudProvider": "kubernetes",
        "source": "text",
        "moniker": {"app": "shop"},
        "manifests": manifests,
        **extra,
    }
