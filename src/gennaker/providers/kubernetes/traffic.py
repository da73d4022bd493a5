"""Sending traffic to workloads through Service selectors (kubernetes.md §3.3).

A workload is in a Service's rotation when its pod labels include the Service's selector. Attach
merges the selector into the pod template at deploy time; enable and disable add or remove those
labels on the live template and, for a ReplicaSet, on each of its pods, so nothing restarts.
"""

from __future__ import annotations

from typing import Any

from lightkube.types import PatchType

from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.client import KubeClient


class TrafficError(ValueError):
    pass


def parse_load_balancer(entry: str) -> str:
    """The Service name in `"service <name>"`; only Services can balance load."""
    parts = entry.split()
    if len(parts) != 2:
        raise TrafficError("Load balancers must be specified in the form '{kind} {name}', e.g. 'service my-service'")
    kind, name = parts
    if kind.lower() != "service":
        raise TrafficError(f"No support for load balancing via {kind} exists in Spinnaker")
    return name


def _pod_labels_holder(workload: dict[str, Any]) -> dict[str, Any]:
    template = mf.pod_template(workload)
    meta = template.setdefault("metadata", {}) if template is not None else mf.metadata(workload)
    return meta.setdefault("labels", {})


def selector_of(service: dict[str, Any]) -> dict[str, str]:
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        raise TrafficError(
            f"Service '{mf.name(service)}' must have a non-empty selector in order to be attached to a workload"
        )
    return {str(k): str(v) for k, v in selector.items()}


def attach(workload: dict[str, Any], service: dict[str, Any]) -> None:
    """Merge the Service's selector into the workload's pod labels (in place) at deploy time."""
    selector = selector_of(service)
    holder = _pod_labels_holder(workload)
    shared = sorted(set(selector) & set(holder))
    if shared:
        raise TrafficError(
            f"Service selector must have no label keys in common with target workload (shared: {', '.join(shared)})"
        )
    holder.update(selector)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def set_traffic(
    client: KubeClient,
    workload: dict[str, Any],
    enable: bool,
    load_balancers: list[str] | None = None,
    pods: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Enable or disable a live workload in its Services, and relabel `pods` likewise (a ReplicaSet's, which
    would otherwise keep or lose traffic until replaced); returns the Services it touched."""
    namespace, name = mf.namespace(workload), mf.name(workload)
    entries = load_balancers if load_balancers else mf.load_balancers(workload)
    touched: list[str] = []
    for entry in entries:
        service_name = parse_load_balancer(entry)
        service = client.get("v1", "Service", namespace, service_name)
        if service is None:
            raise TrafficError(f"Service '{service_name}' not found in namespace '{namespace}'")
        selector = selector_of(service)
        prefix = "/spec/template/metadata/labels/" if mf.pod_template(workload) is not None else "/metadata/labels/"
        patch = _label_patch(mf.pod_labels(workload), selector, prefix, enable)
        if patch:
            client.patch(workload["apiVersion"], workload["kind"], namespace, name, patch, PatchType.JSON)
        for pod in pods or []:
            pod_patch = _label_patch(mf.labels_of(pod), selector, "/metadata/labels/", enable)
            if pod_patch:
                client.patch("v1", "Pod", namespace, mf.name(pod), pod_patch, PatchType.JSON)
        touched.append(entry)
    return touched


def _label_patch(current: dict[str, Any], selector: dict[str, str], prefix: str, enable: bool) -> list[dict[str, Any]]:
    """JSON-patch operations under `prefix` (a `…/labels/` path) that add or remove the selector's labels."""
    operations: list[dict[str, Any]] = []
    if enable and not current:  # a JSON patch cannot add to a labels map that does not exist yet
        operations.append({"op": "add", "path": prefix.rstrip("/"), "value": {}})
    for key, value in selector.items():
        path = prefix + _escape(key)
        if enable and current.get(key) != value:
            operations.append({"op": "replace" if key in current else "add", "path": path, "value": value})
        elif not enable and key in current:
            operations.append({"op": "remove", "path": path})
    return operations
