"""What Gennaker knows about each Kubernetes kind (kubernetes.md §0, §1.3, §1.4, §4).

Spinnaker names kinds in lower camel case (`replicaSet`, `configMap`) and suffixes kinds outside
the built-in groups with their group (`ServiceEntry.networking.istio.io`); manifest names are
`"<kind> <name>"`. Everything here is a pure lookup, parsed case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SpinnakerKind(StrEnum):
    SERVER_GROUP_MANAGERS = "serverGroupManagers"
    SERVER_GROUPS = "serverGroups"
    INSTANCES = "instances"
    LOAD_BALANCERS = "loadBalancers"
    SECURITY_GROUPS = "securityGroups"
    CONFIGS = "configs"
    UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: str  # as Kubernetes spells it: "ReplicaSet"
    name: str  # as Spinnaker spells it: "replicaSet"
    api_version: str
    namespaced: bool = True
    priority: int = 1000
    versioned: bool = False
    spinnaker_kind: SpinnakerKind = SpinnakerKind.UNCLASSIFIED
    scalable: bool = False
    rollout: bool = False  # undo, pause, resume, rolling restart
    has_pod_template: bool = False
    relabels_pods: bool = False  # enable/disable also patches the pods (ReplicaSet only)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


_S = SpinnakerKind


def _workload(kind: str, api_version: str, spinnaker_kind: SpinnakerKind, **facts: bool) -> KindInfo:
    """A kind with a pod template; workloads deploy after everything they may depend on."""
    name = kind[0].lower() + kind[1:]
    return KindInfo(
        kind, name, api_version, priority=100, spinnaker_kind=spinnaker_kind, has_pod_template=True, **facts
    )


BUILT_IN: tuple[KindInfo, ...] = (
    KindInfo("Namespace", "namespace", "v1", namespaced=False, priority=0),
    KindInfo("Role", "role", "rbac.authorization.k8s.io/v1", priority=20),
    KindInfo("ClusterRole", "clusterRole", "rbac.authorization.k8s.io/v1", namespaced=False, priority=20),
    KindInfo(
        "CustomResourceDefinition", "customResourceDefinition", "apiextensions.k8s.io/v1", namespaced=False, priority=30
    ),
    KindInfo("RoleBinding", "roleBinding", "rbac.authorization.k8s.io/v1", priority=30),
    KindInfo("ClusterRoleBinding", "clusterRoleBinding", "rbac.authorization.k8s.io/v1", namespaced=False, priority=30),
    KindInfo("ServiceAccount", "serviceAccount", "v1", priority=40),
    KindInfo("StorageClass", "storageClass", "storage.k8s.io/v1", namespaced=False, priority=40),
    KindInfo("PersistentVolume", "persistentVolume", "v1", namespaced=False, priority=40, spinnaker_kind=_S.CONFIGS),
    KindInfo(
        "MutatingWebhookConfiguration",
        "mutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        namespaced=False,
        priority=40,
    ),
    KindInfo(
        "ValidatingWebhookConfiguration",
        "validatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        namespaced=False,
        priority=40,
    ),
    KindInfo("ConfigMap", "configMap", "v1", priority=50, versioned=True, spinnaker_kind=_S.CONFIGS),
    KindInfo("Secret", "secret", "v1", priority=50, versioned=True, spinnaker_kind=_S.CONFIGS),
    KindInfo("PersistentVolumeClaim", "persistentVolumeClaim", "v1", priority=50, spinnaker_kind=_S.CONFIGS),
    KindInfo("Service", "service", "v1", priority=70, spinnaker_kind=_S.LOAD_BALANCERS),
    KindInfo("Ingress", "ingress", "networking.k8s.io/v1", priority=70, spinnaker_kind=_S.LOAD_BALANCERS),
    KindInfo("NetworkPolicy", "networkPolicy", "networking.k8s.io/v1", priority=70, spinnaker_kind=_S.SECURITY_GROUPS),
    KindInfo("APIService", "apiService", "apiregistration.k8s.io/v1", namespaced=False, priority=80),
    KindInfo("PodDisruptionBudget", "podDisruptionBudget", "policy/v1", priority=90),
    KindInfo("LimitRange", "limitRange", "v1", priority=90),
    _workload("Deployment", "apps/v1", _S.SERVER_GROUP_MANAGERS, scalable=True, rollout=True),
    _workload("ReplicaSet", "apps/v1", _S.SERVER_GROUPS, scalable=True, versioned=True, relabels_pods=True),
    _workload("StatefulSet", "apps/v1", _S.SERVER_GROUPS, scalable=True, rollout=True),
    _workload("DaemonSet", "apps/v1", _S.SERVER_GROUPS, rollout=True),
    _workload("Job", "batch/v1", _S.SERVER_GROUPS),
    _workload("CronJob", "batch/v1", _S.SERVER_GROUPS),
    KindInfo("Pod", "pod", "v1", priority=100, versioned=True, spinnaker_kind=_S.INSTANCES),
    KindInfo("HorizontalPodAutoscaler", "horizontalpodautoscaler", "autoscaling/v2", priority=110),
    KindInfo("Event", "event", "v1"),
    KindInfo("Endpoints", "endpoints", "v1"),
    KindInfo("ControllerRevision", "controllerRevision", "apps/v1"),
)
_BY_KEY = {key: info for info in BUILT_IN for key in (info.kind.lower(), info.name.lower())}
_ALIASES = {
    "hpa": "horizontalpodautoscaler",
    "rs": "replicaset",
    "deploy": "deployment",
    "svc": "service",
    "cm": "configmap",
    "ns": "namespace",
    "sts": "statefulset",
    "ds": "daemonset",
    "netpol": "networkpolicy",
}
# Custom resources deploy after everything built in unless an account says otherwise (kubernetes.md §1.3).
CUSTOM_RESOURCE_PRIORITY = 1000


class UnknownKindError(ValueError):
    pass


def built_in(kind: str) -> KindInfo | None:
    """The built-in kind named `kind` in any of Kubernetes' or Spinnaker's spellings, or None."""
    key = kind.strip().lower()
    return _BY_KEY.get(_ALIASES.get(key, key))


def kind_info(api_version: str, kind: str) -> KindInfo:
    """Facts for a manifest's kind; unknown kinds are custom resources with default behaviour."""
    known = built_in(kind)
    if known is not None and (known.group == api_version.rpartition("/")[0] or "/" not in api_version):
        return known
    group = api_version.rpartition("/")[0]
    return KindInfo(kind, f"{kind}.{group}" if group else kind, api_version, priority=CUSTOM_RESOURCE_PRIORITY)


def spinnaker_name(api_version: str, kind: str) -> str:
    return kind_info(api_version, kind).name


def full_name(manifest: dict) -> str:
    """Spinnaker's `"<kind> <name>"` for a manifest, e.g. `"replicaSet frontend-v003"`."""
    return f"{spinnaker_name(manifest.get('apiVersion', ''), manifest.get('kind', ''))} {manifest['metadata']['name']}"


def parse_manifest_name(manifest_name: str) -> tuple[str, str]:
    """Split `"deployment web"` into `("deployment", "web")`, naming the problem when it is malformed."""
    parts = manifest_name.split()
    if len(parts) != 2:
        raise ValueError(f"manifestName must be '<kind> <name>', e.g. 'deployment web'; got '{manifest_name}'")
    return parts[0], parts[1]
