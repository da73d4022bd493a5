"""The kind registry: which resources exist, where they live in the URL space and what they support."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Subresource -> (response kind as (group, version, kind) or None for "same as parent", verbs).
_SUBRESOURCE_SHAPES: dict[str, tuple[tuple[str, str, str] | None, tuple[str, ...]]] = {
    "status": (None, ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "log": (("", "v1", "Pod"), ("get",)),
}


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    # metadata.generation is maintained for resources whose desired state lives outside metadata/status.
    has_generation: bool = True
    # For custom resources: served versions (the first is the storage version).
    versions: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: (group, plural). One storage version per group/resource."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource_kind(self, sub: str) -> tuple[str, str, str]:
        shape = _SUBRESOURCE_SHAPES.get(sub, (None, ()))[0]
        return shape or (self.group, self.version, self.kind)

    def subresource_verbs(self, sub: str) -> tuple[str, ...]:
        return _SUBRESOURCE_SHAPES.get(sub, (None, ("get",)))[1]


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    cat: tuple[str, ...] = (),
    generation: bool = True,
) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, short, sub, cat, has_generation=generation)


BUILTIN: tuple[ResourceType, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",), generation=False),
    _r("", "v1", "Node", "nodes", False, ("no",), ("status",), generation=False),
    _r("", "v1", "Pod", "pods", True, ("po",), ("status", "log"), ("all",)),
    _r("", "v1", "Service", "services", True, ("svc",), ("status",), ("all",), generation=False),
    _r("", "v1", "ConfigMap", "configmaps", True, ("cm",), generation=False),
    _r("", "v1", "Secret", "secrets", True, generation=False),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), generation=False),
    _r("", "v1", "Event", "events", True, ("ev",), generation=False),
    _r("", "v1", "Endpoints", "endpoints", True, ("ep",), generation=False),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",), generation=False),
    _r("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("scale", "status"), ("all",)),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("scale", "status"), ("all",)),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("scale", "status"), ("all",)),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), ("all",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions", True, generation=False),
    _r("batch", "v1", "Job", "jobs", True, (), ("status",), ("all",)),
    _r("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), ("all",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ("status",)),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("status",),
       ("all",)),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), ("status",)),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True, generation=False),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, generation=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, generation=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, generation=False),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        ("status",),
    ),
)

# Preferred ordering of groups in discovery (like the real server: core first, then built-in groups).
GROUP_ORDER = (
    "",
    "apps",
    "batch",
    "networking.k8s.io",
    "autoscaling",
    "policy",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
)


class Registry:
    """Thread-safe lookup of resource types. Custom resources are added when a CRD is created."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: list[ResourceType] = list(BUILTIN)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types)

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.all():
            if rt.group == group and rt.plural == plural and (rt.version == version or version in rt.versions):
                return rt if rt.version == version else _with_version(rt, version)
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.all():
            if rt.group == group and rt.kind == kind and (rt.version == version or version in rt.versions):
                return rt if rt.version == version else _with_version(rt, version)
        return None

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        for rt in self.all():
            if rt.key == key:
                return rt
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first, in discovery order."""
        result: dict[str, list[str]] = {}
        types = self.all()
        known = [g for g in GROUP_ORDER if any(rt.group == g for rt in types)]
        extra = sorted({rt.group for rt in types} - set(known))
        for group in known + extra:
            versions: list[str] = []
            for rt in types:
                if rt.group != group:
                    continue
                for v in rt.versions or (rt.version,):
                    if v not in versions:
                        versions.append(v)
            result[group] = versions
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [
            rt if rt.version == version else _with_version(rt, version)
            for rt in self.all()
            if rt.group == group and (rt.version == version or version in rt.versions)
        ]

    def register_crd(self, crd: dict[str, Any]) -> ResourceType | None:
        """Register (or re-register) the kind a CustomResourceDefinition describes."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        served = [v["name"] for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        if not spec.get("group") or not names.get("plural") or not names.get("kind") or not served:
            return None
        versions = tuple(storage + [v for v in served if v not in storage])
        has_status = any("status" in (v.get("subresources") or {}) for v in spec.get("versions") or [])
        has_scale = any("scale" in (v.get("subresources") or {}) for v in spec.get("versions") or [])
        rt = ResourceType(
            group=spec["group"],
            version=versions[0],
            kind=names["kind"],
            plural=names["plural"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            subresources=(("status",) if has_status else ()) + (("scale",) if has_scale else ()),
            categories=tuple(names.get("categories") or ()),
            versions=versions,
        )
        with self._lock:
            self._types = [t for t in self._types if t.key != rt.key] + [rt]
        return rt

    def unregister(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._types = [t for t in self._types if t.key != key or not t.versions]


def _with_version(rt: ResourceType, version: str) -> ResourceType:
    return ResourceType(
        rt.group,
        version,
        rt.kind,
        rt.plural,
        rt.namespaced,
        rt.short_names,
        rt.subresources,
        rt.categories,
        rt.verbs,
        rt.has_generation,
        rt.versions,
    )
