"""Defaulting and validation applied to writes, a subset of what kube-apiserver does for the built-in kinds."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any

from .errors import KubeError, invalid
from .resources import ResourceType
from .selectors import from_label_selector_object, labels_match

Obj = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no confusables
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME_KINDS = {"Namespace", "Service"}
_POD_TEMPLATE_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(length))


def as_map(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (bodies are untrusted input)."""
    return value if isinstance(value, dict) else {}


# Template identity ------------------------------------------------------------------------------------------------


def _prune(value: Any) -> Any:
    """Drop nulls and empty maps/lists, so Go-struct round trips (creationTimestamp: null, resources: {}) compare
    equal to the original."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def normalized_template(template: Any, drop_labels: tuple[str, ...] = ("pod-template-hash",)) -> Any:
    template = json.loads(json.dumps(template or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        for label in drop_labels:
            labels.pop(label, None)
    return _prune(template)


def templates_equal(a: Any, b: Any, drop_labels: tuple[str, ...] = ("pod-template-hash",)) -> bool:
    return normalized_template(a, drop_labels) == normalized_template(b, drop_labels)


def template_hash(template: Any, drop_labels: tuple[str, ...] = ("pod-template-hash",)) -> str:
    """A deterministic, DNS-safe hash of a pod template (like ComputeHash: fnv + SafeEncodeString)."""
    canonical = json.dumps(normalized_template(template, drop_labels), sort_keys=True, separators=(",", ":"))
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    out = ""
    for _ in range(10):
        number, digit = divmod(number, len(SAFE_ALPHABET))
        out += SAFE_ALPHABET[digit]
    return out


# Defaulting -------------------------------------------------------------------------------------------------------


def _default_container(c: Obj) -> None:
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            if isinstance(c, dict):
                _default_container(c)


def _default_template(owner: Obj) -> None:
    spec = owner.setdefault("spec", {})
    template = spec.get("template")
    if isinstance(template, dict):
        template_meta = template.get("metadata")
        if isinstance(template_meta, dict) and template_meta.get("creationTimestamp", "") is None:
            del template_meta["creationTimestamp"]
        default_pod_spec(template.setdefault("spec", {}))


def _qos(spec: Obj) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits") and all(k in (r.get("limits") or {}) for k in ("cpu", "memory"))
        and (not r.get("requests") or r.get("requests") == r.get("limits"))
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


class Allocator:
    """Fake IP and port allocation. The addresses are data only; nothing ever connects to them."""

    def __init__(self) -> None:
        self._next_service_ip = 1
        self._next_pod_ip = 1
        self._next_node_port = 30000
        self._next_lb_ip = 10

    def service_ip(self) -> str:
        n = self._next_service_ip
        self._next_service_ip += 1
        return f"10.96.{n // 250}.{n % 250 + 1}"

    def pod_ip(self) -> str:
        n = self._next_pod_ip
        self._next_pod_ip += 1
        return f"10.244.{n // 250}.{n % 250 + 2}"

    def node_port(self) -> int:
        port = self._next_node_port
        self._next_node_port = 30000 + (self._next_node_port - 30000 + 1) % 2768
        return port

    def load_balancer_ip(self) -> str:
        n = self._next_lb_ip
        self._next_lb_ip += 1
        return f"192.0.2.{n % 250 + 1}"  # TEST-NET-1


def apply_defaults(rt: ResourceType, obj: Obj, old: Obj | None, allocator: Allocator) -> None:
    """Fill in defaults in place (creation and update)."""
    kind = rt.kind if not rt.versions else ""
    meta = obj.setdefault("metadata", {})
    if kind in _POD_TEMPLATE_KINDS or kind == "CronJob":
        if kind == "CronJob":
            job_template = obj.setdefault("spec", {}).setdefault("jobTemplate", {})
            _default_template(job_template)
            spec = obj["spec"]
            spec.setdefault("concurrencyPolicy", "Allow")
            spec.setdefault("suspend", False)
            spec.setdefault("successfulJobsHistoryLimit", 3)
            spec.setdefault("failedJobsHistoryLimit", 1)
        else:
            _default_template(obj)
    spec = as_map(obj.get("spec"))
    if kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
        obj["spec"].setdefault("serviceAccountName", "default")
        obj["spec"].setdefault("enableServiceLinks", True)
        obj["spec"].setdefault("priority", 0)
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": _qos(obj["spec"])}
    elif kind == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
    elif kind == "ReplicaSet":
        spec.setdefault("replicas", 1)
    elif kind == "StatefulSet":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"partition": 0})
    elif kind == "DaemonSet":
        spec.setdefault("revisionHistoryLimit", 10)
        update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if update.get("type") == "RollingUpdate":
            update.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    elif kind == "Job":
        _default_job(obj, old)
    elif kind == "Service":
        _default_service(obj, old, allocator)
    elif kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = (old or {}).get("status") or {"phase": "Active"}
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {}) or {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
    elif kind == "PersistentVolumeClaim":
        spec.setdefault("volumeMode", "Filesystem")
        if old is None:
            obj["status"] = {"phase": "Pending"}
    elif kind == "Event":
        obj.setdefault("type", "Normal")
        obj.setdefault("count", 1)


def _default_job(obj: Obj, old: Obj | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if old is not None or spec.get("manualSelector"):
        return
    uid = obj["metadata"].get("uid", "")
    name = obj["metadata"].get("name", "")
    labels = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}


def _default_service(obj: Obj, old: Obj | None, allocator: Allocator) -> None:
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if "clusterIP" not in spec or spec.get("clusterIP") == "":
            spec["clusterIP"] = old_spec.get("clusterIP") or allocator.service_ip()
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    old_ports = {p.get("port"): p for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
            port["nodePort"] = old_ports.get(port.get("port"), {}).get("nodePort") or allocator.node_port()
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    status = (old or {}).get("status") or {"loadBalancer": {}}
    if spec["type"] == "LoadBalancer" and not status.get("loadBalancer", {}).get("ingress"):
        status = {"loadBalancer": {"ingress": [{"ip": allocator.load_balancer_ip(), "ipMode": "VIP"}]}}
    obj["status"] = status


# Validation -------------------------------------------------------------------------------------------------------


def validate_name(rt: ResourceType, name: str) -> None:
    pattern, what = (
        (_DNS_LABEL, "a lowercase RFC 1123 label")
        if rt.kind in _LABEL_NAME_KINDS
        else (_DNS_SUBDOMAIN, "a lowercase RFC 1123 subdomain")
    )
    limit = 63 if rt.kind in _LABEL_NAME_KINDS else 253
    if not name or len(name) > limit or not pattern.match(name):
        message = (
            f'Invalid value: "{name}": a {what.split(" ", 1)[1]} must consist of lower case alphanumeric characters, '
            "'-' or '.', and must start and end with an alphanumeric character"
        )
        if not name:
            raise invalid(rt.kind, rt.group, name, [("metadata.name", "FieldValueRequired", "Required value: name or "
                                                    "generateName is required")])
        raise invalid(rt.kind, rt.group, name, [("metadata.name", "FieldValueInvalid", message)])


def _validate_pod_spec(spec: Any, prefix: str, causes: list[tuple[str, str, str]]) -> None:
    if not isinstance(spec, dict):
        causes.append((prefix, "FieldValueRequired", "Required value"))
        return
    containers = spec.get("containers")
    if not containers:
        causes.append((f"{prefix}.containers", "FieldValueRequired", "Required value"))
        return
    seen: set[str] = set()
    for n, c in enumerate(containers):
        where = f"{prefix}.containers[{n}]"
        if not isinstance(c, dict):
            causes.append((where, "FieldValueInvalid", "Invalid value: must be an object"))
            continue
        name = c.get("name")
        if not name:
            causes.append((f"{where}.name", "FieldValueRequired", "Required value"))
        elif name in seen:
            causes.append((f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
        seen.add(str(name))
        if not c.get("image"):
            causes.append((f"{where}.image", "FieldValueRequired", "Required value"))


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Raise 422 Invalid for the most common mistakes (not the full real validation)."""
    if rt.versions:
        return
    name = obj["metadata"].get("name", "")
    causes: list[tuple[str, str, str]] = []
    spec = as_map(obj.get("spec"))
    if rt.kind == "Pod":
        _validate_pod_spec(obj.get("spec"), "spec", causes)
    elif rt.kind in _POD_TEMPLATE_KINDS:
        template = as_map(spec.get("template"))
        _validate_pod_spec(template.get("spec"), "spec.template.spec", causes)
        replicas = spec.get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
            causes.append(("spec.replicas", "FieldValueInvalid",
                           f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0"))
        selector = spec.get("selector")
        template_labels = (template.get("metadata") or {}).get("labels") or {}
        if rt.kind != "Job" or spec.get("manualSelector"):
            if not selector:
                causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            elif not from_label_selector_object(selector) or not labels_match(
                from_label_selector_object(selector), {"metadata": {"labels": template_labels}}
            ):
                causes.append((
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(template_labels, separators=(',', ':'))}: "
                    "`selector` does not match template `labels`",
                ))
        if rt.kind == "Job":
            policy = as_map(template.get("spec")).get("restartPolicy")
            if policy not in ("Never", "OnFailure"):
                causes.append(("spec.template.spec.restartPolicy", "FieldValueRequired",
                               'Required value: valid values: "OnFailure", "Never"'))
        if old is not None and rt.kind != "Job":
            old_selector = (old.get("spec") or {}).get("selector")
            if old_selector and selector != old_selector:
                causes.append(("spec.selector", "FieldValueInvalid",
                               f"Invalid value: {json.dumps(selector)}: field is immutable"))
        if old is not None and rt.kind == "Job":
            old_template = (old.get("spec") or {}).get("template")
            if old_template and not templates_equal(old_template, template, ()):
                causes.append(("spec.template", "FieldValueInvalid", "Invalid value: field is immutable"))
    elif rt.kind == "ConfigMap" and old is not None and old.get("immutable") and (
        obj.get("data") != old.get("data") or obj.get("binaryData") != old.get("binaryData")
    ):
        causes.append(("data", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set"))
    elif rt.kind == "Service" and old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and spec.get("clusterIP") not in (old_ip, None, ""):
            causes.append(("spec.clusterIPs[0]", "FieldValueInvalid",
                           f'Invalid value: ["{spec.get("clusterIP")}"]: may not change once set'))
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def check_object_type(rt: ResourceType, obj: Obj) -> None:
    """apiVersion/kind in a body must match the URL (400 BadRequest like the real server)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind and kind != rt.kind:
        raise KubeError(400, "BadRequest", f"the API version in the data ({api_version}) does not match the expected "
                        f"API version ({rt.api_version})" if api_version and api_version != rt.api_version else
                        f'Object \'Kind\' is "{kind}" but expected "{rt.kind}"')
    if api_version and api_version != rt.api_version and not (rt.versions and api_version.startswith(rt.group)):
        raise KubeError(400, "BadRequest", f"the API version in the data ({api_version}) does not match the expected "
                        f"API version ({rt.api_version})")
