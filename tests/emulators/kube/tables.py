"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for, with the usual columns per kind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .store import Obj, parse_rfc3339


def wants_table(accept: str) -> bool:
    return any("as=Table" in part for part in accept.split(","))


def human_age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - parse_rfc3339(timestamp)))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _age(obj: Obj) -> str:
    return human_age(obj["metadata"].get("creationTimestamp"))


def _pod_row(obj: Obj) -> list[Any]:
    status = obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((obj.get("spec") or {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and status.get("phase") not in ("Succeeded", "Failed"):
            reason = state["terminated"].get("reason") or reason
    if status.get("phase") == "Succeeded":
        reason = "Completed"
    elif status.get("phase") == "Failed" and reason == "Failed":
        reason = "Error"
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    return [obj["metadata"]["name"], f"{ready}/{total}", reason, restarts, _age(obj)]


def _deployment_row(obj: Obj) -> list[Any]:
    s = obj.get("status") or {}
    desired = (obj.get("spec") or {}).get("replicas", 0)
    return [obj["metadata"]["name"], f"{s.get('readyReplicas', 0)}/{desired}", s.get("updatedReplicas", 0),
            s.get("availableReplicas", 0), _age(obj)]


def _rs_row(obj: Obj) -> list[Any]:
    s = obj.get("status") or {}
    return [obj["metadata"]["name"], (obj.get("spec") or {}).get("replicas", 0), s.get("replicas", 0),
            s.get("readyReplicas", 0), _age(obj)]


def _sts_row(obj: Obj) -> list[Any]:
    s = obj.get("status") or {}
    return [obj["metadata"]["name"], f"{s.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 0)}",
            _age(obj)]


def _ds_row(obj: Obj) -> list[Any]:
    s = obj.get("status") or {}
    return [obj["metadata"]["name"], s.get("desiredNumberScheduled", 0), s.get("currentNumberScheduled", 0),
            s.get("numberReady", 0), s.get("updatedNumberScheduled", 0), s.get("numberAvailable", 0), _age(obj)]


def _job_row(obj: Obj) -> list[Any]:
    s = obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in s.get("conditions") or []}
    state = "Complete" if conditions.get("Complete") == "True" else (
        "Failed" if conditions.get("Failed") == "True" else "Running")
    completions = (obj.get("spec") or {}).get("completions", 1)
    start, end = parse_rfc3339(s.get("startTime")), parse_rfc3339(s.get("completionTime"))
    duration = human_age(None) if not start else f"{int((end or time.time()) - start)}s"
    return [obj["metadata"]["name"], state, f"{s.get('succeeded', 0)}/{completions}", duration, _age(obj)]


def _service_row(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ) or "<none>"
    return [obj["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "None"), external, ports,
            _age(obj)]


def _event_row(obj: Obj) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    return [human_age(obj.get("lastTimestamp") or obj["metadata"].get("creationTimestamp")), obj.get("type", ""),
            obj.get("reason", ""), f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            obj.get("message", "")]


def _default_row(obj: Obj) -> list[Any]:
    return [obj["metadata"]["name"], _age(obj)]


Columns = list[tuple[str, str]]
_LAYOUTS: dict[str, tuple[Columns, Callable[[Obj], list[Any]]]] = {
    "Pod": ([("Name", "string"), ("Ready", "string"), ("Status", "string"), ("Restarts", "string"),
             ("Age", "string")], _pod_row),
    "Deployment": ([("Name", "string"), ("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer"),
                    ("Age", "string")], _deployment_row),
    "ReplicaSet": ([("Name", "string"), ("Desired", "integer"), ("Current", "integer"), ("Ready", "integer"),
                    ("Age", "string")], _rs_row),
    "StatefulSet": ([("Name", "string"), ("Ready", "string"), ("Age", "string")], _sts_row),
    "DaemonSet": ([("Name", "string"), ("Desired", "integer"), ("Current", "integer"), ("Ready", "integer"),
                   ("Up-to-date", "integer"), ("Available", "integer"), ("Age", "string")], _ds_row),
    "Job": ([("Name", "string"), ("Status", "string"), ("Completions", "string"), ("Duration", "string"),
             ("Age", "string")], _job_row),
    "Service": ([("Name", "string"), ("Type", "string"), ("Cluster-IP", "string"), ("External-IP", "string"),
                 ("Port(s)", "string"), ("Age", "string")], _service_row),
    "Event": ([("Last Seen", "string"), ("Type", "string"), ("Reason", "string"), ("Object", "string"),
               ("Message", "string")], _event_row),
}


def to_table(kind: str, objs: list[Obj], resource_version: str, include_object: str | None) -> dict[str, Any]:
    columns, row = _LAYOUTS.get(kind, ([("Name", "string"), ("Age", "string")], _default_row))
    rows = []
    for obj in objs:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": typ, "format": "name" if name == "Name" else "", "description": name,
             "priority": 0}
            for name, typ in columns
        ],
        "rows": rows,
    }
