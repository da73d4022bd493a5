"""Controllers and a fake kubelet: Deployment -> ReplicaSet -> Pod, StatefulSet, DaemonSet, Job, Service endpoints.

A pass runs every controller once; each write it makes is a normal API write (events, resourceVersion, generation).
The kubelet only acts on pods that existed before the pass began, so every pod transition (Pending, Running,
Succeeded...) lasts at least one pass and is observable by watchers and pollers.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from .api import Api
from .defaults import random_suffix, template_hash, templates_equal
from .errors import KubeError
from .resources import Registry, ResourceType
from .selectors import from_label_selector_object, labels_match
from .store import Obj, Store, parse_rfc3339, rfc3339

log = logging.getLogger(__name__)

NODE_NAME = "emulator-node"
NODE_IP = "192.168.49.2"
MANAGER = "kube-controller-manager"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIP_COPY = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
FINISHED = ("Succeeded", "Failed")


def image_pull_fails(image: str) -> bool:
    return "bad-image" in image or image.endswith(":missing")


def image_crashes(image: str) -> bool:
    return "crash" in image


def image_fails(image: str) -> bool:
    return "fail" in image or "crash" in image


def controlled_by(obj: Obj, owner: Obj) -> bool:
    uid = owner["metadata"].get("uid")
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def owner_ref(owner: Obj, rt: ResourceType) -> dict[str, Any]:
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    if not pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    cond = next(c for c in pod["status"]["conditions"] if c.get("type") == "Ready")
    return parse_rfc3339(cond.get("lastTransitionTime")) + min_ready_seconds <= now


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        amount = total * int(value[:-1]) / 100
        return int(-(-amount // 1)) if round_up else int(amount // 1)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def revision_of(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str,
                  touch: bool = False, with_update_time: bool = True) -> None:
    """Set a condition like the controllers do: lastTransitionTime moves only when status changes."""
    now = rfc3339()
    for cond in conditions:
        if cond.get("type") != ctype:
            continue
        if cond.get("status") == status and cond.get("reason") == reason and cond.get("message") == message:
            if touch and with_update_time:
                cond["lastUpdateTime"] = now
            return
        if cond.get("status") != status:
            cond["lastTransitionTime"] = now
        cond.update({"status": status, "reason": reason, "message": message})
        if with_update_time:
            cond["lastUpdateTime"] = now
        return
    cond = {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}
    if with_update_time:
        cond["lastUpdateTime"] = now
    conditions.append(cond)


def _omit_zero(status: dict[str, Any], *fields: str) -> dict[str, Any]:
    for f in fields:
        if not status.get(f):
            status.pop(f, None)
    return status


class Controllers:
    def __init__(self, api: Api, registry: Registry, store: Store) -> None:
        self.api = api
        self.registry = registry
        self.store = store
        self._pass_lock = threading.Lock()
        self._pass_start_rv = 0
        self._managed_endpoints: set[tuple[str, str]] = set()
        self.errors: list[str] = []

    def rt(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.by_key((group, plural))
        assert rt is not None
        return rt

    # Passes --------------------------------------------------------------------------------------------------------

    def run_once(self) -> bool:
        """One pass of every controller. Returns True when anything was written."""
        steps: list[Callable[[], None]] = [
            self._namespaces,
            self._pvcs,
            self._deployments,
            self._replicasets,
            self._statefulsets,
            self._daemonsets,
            self._jobs,
            self._kubelet,
            self._endpoints,
        ]
        with self._pass_lock, self.store.lock:
            before = self._pass_start_rv = self.store.resource_version
            for step in steps:
                try:
                    step()
                except KubeError as exc:  # e.g. a namespace deleted mid-pass; the next pass retries
                    log.debug("controller step %s: %s", step.__name__, exc.message)
                except Exception as exc:  # an emulator bug: record it (once) and keep the other controllers going
                    text = f"{step.__name__}: {exc!r}"
                    if text not in self.errors:
                        log.exception("controller step %s failed", step.__name__)
                        self.errors.append(text)
            return self.store.resource_version != before

    def settle(self, max_passes: int = 200) -> int:
        """Run passes until one changes nothing; returns the number of passes that changed something."""
        for n in range(max_passes):
            if not self.run_once():
                return n
        raise RuntimeError(f"controllers did not settle after {max_passes} passes")

    # Helpers -------------------------------------------------------------------------------------------------------

    def _write(self, rt: ResourceType, obj: Obj, sub: str = "", manager: str = MANAGER) -> Obj:
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("resourceVersion", None)
        return self.api.update_object(rt, obj, manager, sub)

    def _write_status(self, rt: ResourceType, obj: Obj, status: dict[str, Any], manager: str = MANAGER) -> Obj:
        if obj.get("status") == status:
            return obj
        new = copy.deepcopy(obj)
        new["status"] = status
        return self._write(rt, new, "status", manager)

    def _event(self, involved: Obj, rt: ResourceType, reason: str, message: str, etype: str = "Normal",
               component: str = "kubelet", field_path: str | None = None) -> None:
        meta = involved["metadata"]
        now = rfc3339()
        ref: dict[str, Any] = {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            "name": meta["name"],
            "namespace": meta.get("namespace", "default"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            ref["fieldPath"] = field_path
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": ref["namespace"]},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": etype,
            "source": {"component": component, **({"host": NODE_NAME} if component == "kubelet" else {})},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": NODE_NAME if component == "kubelet" else "",
        }
        with contextlib.suppress(KubeError):
            self.api.create(self.rt("", "events"), ref["namespace"], event, component)

    def _pods(self, namespace: str) -> list[Obj]:
        return self.store.list(("", "pods"), namespace)

    def _new_pod(self, template: dict[str, Any], owner: Obj, owner_rt: ResourceType, name: str | None,
                 extra_labels: dict[str, str] | None = None) -> Obj:
        tmeta = template.get("metadata") or {}
        meta: dict[str, Any] = {
            "labels": {**(tmeta.get("labels") or {}), **(extra_labels or {})},
            "ownerReferences": [owner_ref(owner, owner_rt)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = f"{owner['metadata']['name']}-"
            meta["name"] = f"{owner['metadata']['name']}-{random_suffix()}"
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}

    def _create_pod(self, pod: Obj, owner: Obj, owner_rt: ResourceType, component: str) -> Obj | None:
        ns = owner["metadata"]["namespace"]
        try:
            created = self.api.create(self.rt("", "pods"), ns, pod, MANAGER)
        except KubeError as exc:
            self._event(owner, owner_rt, "FailedCreate", f"Error creating: {exc.message}", "Warning", component)
            return None
        self._event(owner, owner_rt, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                    component=component)
        return created

    def _delete_pod(self, pod: Obj, owner: Obj, owner_rt: ResourceType, component: str) -> None:
        try:
            self.api.delete(self.rt("", "pods"), pod["metadata"]["namespace"], pod["metadata"]["name"])
        except KubeError:
            return
        self._event(owner, owner_rt, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                    component=component)

    # Namespaces, PVCs ----------------------------------------------------------------------------------------------

    def _namespaces(self) -> None:
        sa_rt, cm_rt = self.rt("", "serviceaccounts"), self.rt("", "configmaps")
        for ns in self.store.list(("", "namespaces")):
            name = ns["metadata"]["name"]
            if ns["metadata"].get("deletionTimestamp"):
                continue
            if self.store.get(sa_rt.key, name, "default") is None:
                self.api.create(sa_rt, name, {"metadata": {"name": "default"}}, MANAGER)
            if self.store.get(cm_rt.key, name, "kube-root-ca.crt") is None:
                self.api.create(cm_rt, name, {
                    "metadata": {"name": "kube-root-ca.crt",
                                 "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used "
                                                 "to verify the kube-apiserver when using internal endpoints such as "
                                                 "the internal service IP or kubernetes.default.svc. No other usage "
                                                 "is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nZW11bGF0b3I=\n-----END CERTIFICATE-----\n"},
                }, MANAGER)

    def _pvcs(self) -> None:
        rt = self.rt("", "persistentvolumeclaims")
        for pvc in self.store.list(rt.key):
            status = pvc.get("status") or {}
            if status.get("phase") == "Bound" or int(pvc["metadata"]["resourceVersion"]) > self._pass_start_rv:
                continue
            spec = pvc.get("spec") or {}
            if not spec.get("volumeName"):
                new = copy.deepcopy(pvc)
                new["spec"]["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
                new.setdefault("spec", {}).setdefault("storageClassName", "standard")
                pvc = self._write(rt, new)
            capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
            self._write_status(rt, pvc, {"phase": "Bound", "accessModes": spec.get("accessModes") or
                                         ["ReadWriteOnce"], "capacity": {"storage": capacity}})

    # Deployments ---------------------------------------------------------------------------------------------------

    def _deployments(self) -> None:
        for d in self.store.list(("apps", "deployments")):
            if not d["metadata"].get("deletionTimestamp"):
                self._sync_deployment(d)

    def _scale_rs(self, rs: Obj, replicas: int, deployment: Obj, d_rt: ResourceType, rs_rt: ResourceType,
                  surge: int) -> Obj:
        current = int((rs.get("spec") or {}).get("replicas", 0))
        if current == replicas:
            return rs
        new = copy.deepcopy(rs)
        new["spec"]["replicas"] = replicas
        annotations = new["metadata"].setdefault("annotations", {})
        desired = int(deployment["spec"].get("replicas", 1))
        annotations[DESIRED] = str(desired)
        annotations[MAX_REPLICAS] = str(desired + surge)
        written = self._write(rs_rt, new)
        direction = "up" if replicas > current else "down"
        self._event(deployment, d_rt, "ScalingReplicaSet",
                    f"Scaled {direction} replica set {rs['metadata']['name']} from {current} to {replicas}",
                    component="deployment-controller")
        return written

    def _sync_deployment(self, d: Obj) -> None:
        d_rt, rs_rt = self.rt("apps", "deployments"), self.rt("apps", "replicasets")
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        desired = int(spec.get("replicas", 1))
        paused = bool(spec.get("paused"))
        rss = [rs for rs in self.store.list(rs_rt.key, ns) if controlled_by(rs, d)]
        new_rs = next((rs for rs in rss if templates_equal((rs.get("spec") or {}).get("template"), template)), None)
        old_rss = [rs for rs in rss if rs is not new_rs]
        max_old_rev = max((revision_of(rs) for rs in old_rss), default=0)
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        recreate = strategy.get("type") == "Recreate"
        surge = 0 if recreate else _int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = 0 if recreate else _int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
        if not recreate and surge == 0 and unavailable == 0:
            unavailable = 1
        copied = {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in SKIP_COPY}
        created_new = False

        if new_rs is None and not paused:
            pod_hash = template_hash(template)
            rs_name = f"{name}-{pod_hash}"
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            no_old_pods = all(int((rs.get("spec") or {}).get("replicas", 0)) == 0 for rs in old_rss)
            replicas = desired if no_old_pods and not recreate else 0
            if not recreate and not no_old_pods:
                total = sum(int(rs["spec"].get("replicas", 0)) for rs in old_rss)
                replicas = max(0, min(desired, desired + surge - total))
            body = {
                "metadata": {
                    "name": rs_name,
                    "namespace": ns,
                    "labels": dict((template.get("metadata") or {}).get("labels") or {}, **{
                        "pod-template-hash": pod_hash}),
                    "annotations": {**copied, REVISION: str(max_old_rev + 1), DESIRED: str(desired),
                                    MAX_REPLICAS: str(desired + surge)},
                    "ownerReferences": [owner_ref(d, d_rt)],
                },
                "spec": {"replicas": replicas, "minReadySeconds": int(spec.get("minReadySeconds", 0)),
                         "selector": selector, "template": rs_template},
            }
            new_rs = self.api.create(rs_rt, ns, body, MANAGER)
            created_new = True
            if replicas:
                self._event(d, d_rt, "ScalingReplicaSet", f"Scaled up replica set {rs_name} from 0 to {replicas}",
                            component="deployment-controller")
        elif new_rs is not None and not paused:
            annotations = dict(new_rs["metadata"].get("annotations") or {})
            wanted = dict(annotations)
            wanted.update(copied)
            if revision_of(new_rs) <= max_old_rev:
                old_rev = annotations.get(REVISION, "")
                history = [h for h in (annotations.get(REVISION_HISTORY, "").split(",")) if h]
                wanted[REVISION_HISTORY] = ",".join([*history, old_rev]) if old_rev else ",".join(history)
                wanted[REVISION] = str(max_old_rev + 1)
                if not wanted[REVISION_HISTORY]:
                    wanted.pop(REVISION_HISTORY)
            if wanted != annotations:
                patched = copy.deepcopy(new_rs)
                patched["metadata"]["annotations"] = wanted
                new_rs = self._write(rs_rt, patched)
            if int(new_rs["spec"].get("minReadySeconds", 0)) != int(spec.get("minReadySeconds", 0)):
                patched = copy.deepcopy(new_rs)
                patched["spec"]["minReadySeconds"] = int(spec.get("minReadySeconds", 0))
                new_rs = self._write(rs_rt, patched)

        if not paused and new_rs is not None:
            new_rs, old_rss = self._rollout(d, d_rt, rs_rt, new_rs, old_rss, desired, surge, unavailable, recreate)
            self._cleanup_history(d, rs_rt, old_rss)

        if new_rs is not None and (d["metadata"].get("annotations") or {}).get(REVISION) != str(
                revision_of(new_rs)):
            updated = copy.deepcopy(d)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision_of(new_rs))
            d = self._write(d_rt, updated)
        self._deployment_status(d, d_rt, new_rs, old_rss, desired, unavailable, created_new)

    def _rollout(self, d: Obj, d_rt: ResourceType, rs_rt: ResourceType, new_rs: Obj, old_rss: list[Obj],
                 desired: int, surge: int, unavailable: int, recreate: bool) -> tuple[Obj, list[Obj]]:
        def replicas(rs: Obj) -> int:
            return int((rs.get("spec") or {}).get("replicas", 0))

        def available(rs: Obj) -> int:
            return int((rs.get("status") or {}).get("availableReplicas", 0))

        old_rss = sorted(old_rss, key=lambda rs: (rs["metadata"].get("creationTimestamp", ""),
                                                  self.store.creation_order(rs)))
        if recreate:
            old_rss = [self._scale_rs(rs, 0, d, d_rt, rs_rt, surge) for rs in old_rss]
            pods_left = any(controlled_by(p, rs) for p in self._pods(d["metadata"]["namespace"]) for rs in old_rss)
            if not pods_left:
                new_rs = self._scale_rs(new_rs, desired, d, d_rt, rs_rt, surge)
            return new_rs, old_rss

        # Scale up the new ReplicaSet within maxSurge.
        total = replicas(new_rs) + sum(replicas(rs) for rs in old_rss)
        if replicas(new_rs) > desired:
            new_rs = self._scale_rs(new_rs, desired, d, d_rt, rs_rt, surge)
        elif replicas(new_rs) < desired:
            room = desired + surge - total
            if room > 0:
                new_rs = self._scale_rs(new_rs, min(desired, replicas(new_rs) + room), d, d_rt, rs_rt, surge)

        # Scale down old ReplicaSets within maxUnavailable: unhealthy replicas first, then by availability.
        total = replicas(new_rs) + sum(replicas(rs) for rs in old_rss)
        min_available = desired - unavailable
        new_unavailable = max(0, replicas(new_rs) - available(new_rs))
        budget = total - min_available - new_unavailable
        result = []
        for rs in old_rss:
            unhealthy = max(0, replicas(rs) - available(rs))
            cut = min(unhealthy, max(0, budget))
            if cut:
                rs = self._scale_rs(rs, replicas(rs) - cut, d, d_rt, rs_rt, surge)
                budget -= cut
            result.append(rs)
        total_available = available(new_rs) + sum(available(rs) for rs in result)
        budget = total_available - min_available
        old_rss, result = result, []
        for rs in old_rss:
            cut = min(replicas(rs), max(0, budget))
            if cut:
                rs = self._scale_rs(rs, replicas(rs) - cut, d, d_rt, rs_rt, surge)
                budget -= cut
            result.append(rs)
        return new_rs, result

    def _cleanup_history(self, d: Obj, rs_rt: ResourceType, old_rss: list[Obj]) -> None:
        limit = int((d.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [rs for rs in old_rss if int(rs["spec"].get("replicas", 0)) == 0
                and int((rs.get("status") or {}).get("replicas", 0)) == 0
                and int((rs.get("status") or {}).get("observedGeneration", 0)) >= int(rs["metadata"].get(
                    "generation", 1))]
        idle.sort(key=revision_of)
        for rs in idle[: max(0, len(idle) - limit)]:
            self.api.delete(rs_rt, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _deployment_status(self, d: Obj, d_rt: ResourceType, new_rs: Obj | None, old_rss: list[Obj],
                           desired: int, max_unavailable: int, created_new: bool) -> None:
        all_rs = [*old_rss, *([new_rs] if new_rs is not None else [])]

        def total(field: str, source: str = "status") -> int:
            return sum(int((rs.get(source) or {}).get(field, 0)) for rs in all_rs)

        old_status = d.get("status") or {}
        replicas = total("replicas")
        updated = int(((new_rs or {}).get("status") or {}).get("replicas", 0))
        ready = total("readyReplicas")
        available = total("availableReplicas")
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, total("replicas", "spec") - available),
        }
        _omit_zero(status, "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                   "unavailableReplicas")
        conditions = copy.deepcopy(old_status.get("conditions") or [])
        if available >= desired - max_unavailable:
            set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.")
        else:
            set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
        rs_name = (new_rs or {}).get("metadata", {}).get("name", "")
        complete = (new_rs is not None and updated == desired and replicas == desired and available >= desired
                    and int((new_rs.get("spec") or {}).get("replicas", 0)) == desired)
        old_updated = int(old_status.get("updatedReplicas", 0))
        progressed = (
            updated > old_updated
            or ready > int(old_status.get("readyReplicas", 0))
            or available > int(old_status.get("availableReplicas", 0))
            or replicas - updated < int(old_status.get("replicas", 0)) - old_updated
        )
        deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
        if (d.get("spec") or {}).get("paused"):
            set_condition(conditions, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif progressing is not None and progressing.get("reason") == "DeploymentPaused":
            set_condition(conditions, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
        elif complete:
            set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.', touch=progressed)
        elif created_new:
            set_condition(conditions, "Progressing", "True", "NewReplicaSetCreated",
                          f'Created new replica set "{rs_name}"', touch=True)
        elif progressed or progressing is None:
            set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                          f'ReplicaSet "{rs_name}" is progressing.', touch=True)
        elif (deadline is not None and progressing.get("reason") != "ProgressDeadlineExceeded"
              and time.time() - parse_rfc3339(progressing.get("lastUpdateTime")) > int(deadline)):
            set_condition(conditions, "Progressing", "False", "ProgressDeadlineExceeded",
                          f'ReplicaSet "{rs_name}" has timed out progressing.')
            self._event(d, d_rt, "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.',
                        "Warning", "deployment-controller")
        conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type", ""), 2))
        status["conditions"] = conditions
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        self._write_status(d_rt, d, status)

    # ReplicaSets ---------------------------------------------------------------------------------------------------

    def _replicasets(self) -> None:
        rs_rt = self.rt("apps", "replicasets")
        now = time.time()
        for rs in self.store.list(rs_rt.key):
            if rs["metadata"].get("deletionTimestamp"):
                continue
            ns = rs["metadata"]["namespace"]
            spec = rs.get("spec") or {}
            pods = [p for p in self._pods(ns) if controlled_by(p, rs) and not p["metadata"].get("deletionTimestamp")
                    and (p.get("status") or {}).get("phase") not in FINISHED]
            desired = int(spec.get("replicas", 1))
            template = spec.get("template") or {}
            if len(pods) < desired:
                for _ in range(desired - len(pods)):
                    pod = self._create_pod(self._new_pod(template, rs, rs_rt, None), rs, rs_rt,
                                           "replicaset-controller")
                    if pod is not None:
                        pods.append(pod)
            elif len(pods) > desired:
                victims = sorted(pods, key=lambda p: (pod_ready(p), -self.store.creation_order(p)))
                for pod in victims[: len(pods) - desired]:
                    self._delete_pod(pod, rs, rs_rt, "replicaset-controller")
                    pods.remove(pod)
            selector = from_label_selector_object(template.get("metadata", {}).get("labels") and {
                "matchLabels": template["metadata"]["labels"]})
            min_ready = int(spec.get("minReadySeconds", 0))
            status = {
                "replicas": len(pods),
                "fullyLabeledReplicas": sum(1 for p in pods if labels_match(selector, p)),
                "readyReplicas": sum(1 for p in pods if pod_ready(p)),
                "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
            _omit_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
            self._write_status(rs_rt, rs, status)

    # StatefulSets --------------------------------------------------------------------------------------------------

    def _controller_revision(self, owner: Obj, owner_rt: ResourceType, template: dict[str, Any]) -> str:
        cr_rt = self.rt("apps", "controllerrevisions")
        ns = owner["metadata"]["namespace"]
        revision_hash = template_hash(template, ("controller-revision-hash", "pod-template-generation"))
        name = f"{owner['metadata']['name']}-{revision_hash}"
        existing = [cr for cr in self.store.list(cr_rt.key, ns) if controlled_by(cr, owner)]
        if not any(cr["metadata"]["name"] == name for cr in existing):
            self.api.create(cr_rt, ns, {
                "metadata": {"name": name, "namespace": ns,
                             "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                                        "controller.kubernetes.io/hash": revision_hash},
                             "ownerReferences": [owner_ref(owner, owner_rt)]},
                "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
                "revision": max((int(cr.get("revision", 0)) for cr in existing), default=0) + 1,
            }, MANAGER)
        return name

    def _statefulsets(self) -> None:
        sts_rt = self.rt("apps", "statefulsets")
        pvc_rt = self.rt("", "persistentvolumeclaims")
        for sts in self.store.list(sts_rt.key):
            if sts["metadata"].get("deletionTimestamp"):
                continue
            ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
            spec = sts.get("spec") or {}
            template = spec.get("template") or {}
            update_rev = self._controller_revision(sts, sts_rt, template)
            replicas = int(spec.get("replicas", 1))
            ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
            pods: dict[int, Obj] = {}
            for p in self._pods(ns):
                pod_name = p["metadata"]["name"]
                suffix = pod_name[len(name) + 1:]
                if controlled_by(p, sts) and pod_name.startswith(f"{name}-") and suffix.isdigit():
                    pods[int(suffix)] = p
            for i in range(replicas):
                if i in pods:
                    continue
                if ordered and not all(pod_ready(pods[j]) for j in range(i) if j in pods):
                    break
                pod = self._new_pod(template, sts, sts_rt, f"{name}-{i}", {
                    "controller-revision-hash": update_rev,
                    "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
                    "apps.kubernetes.io/pod-index": str(i),
                })
                pod["spec"]["hostname"] = f"{name}-{i}"
                if spec.get("serviceName"):
                    pod["spec"]["subdomain"] = spec["serviceName"]
                for claim in spec.get("volumeClaimTemplates") or []:
                    claim_name = f"{claim['metadata']['name']}-{name}-{i}"
                    if self.store.get(pvc_rt.key, ns, claim_name) is None:
                        self.api.create(pvc_rt, ns, {"metadata": {
                            "name": claim_name, "labels": dict((template.get("metadata") or {}).get("labels") or {})},
                            "spec": copy.deepcopy(claim.get("spec") or {})}, MANAGER)
                    volumes = pod["spec"].setdefault("volumes", [])
                    if not any(v.get("name") == claim["metadata"]["name"] for v in volumes):
                        volumes.append({"name": claim["metadata"]["name"],
                                        "persistentVolumeClaim": {"claimName": claim_name}})
                created = self._create_pod(pod, sts, sts_rt, "statefulset-controller")
                if created is not None:
                    pods[i] = created
                if ordered:
                    break
            extra = sorted((i for i in pods if i >= replicas), reverse=True)
            for i in extra[:1] if ordered else extra:
                self._delete_pod(pods.pop(i), sts, sts_rt, "statefulset-controller")
            strategy = spec.get("updateStrategy") or {}
            partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
            in_range = [pods[i] for i in range(replicas) if i in pods]
            if (strategy.get("type", "RollingUpdate") == "RollingUpdate" and len(in_range) == replicas
                    and all(pod_ready(p) for p in in_range)):
                for i in sorted(pods, reverse=True):
                    if i >= partition and pods[i]["metadata"]["labels"].get("controller-revision-hash") != update_rev:
                        self._delete_pod(pods.pop(i), sts, sts_rt, "statefulset-controller")
                        break
            old_status = sts.get("status") or {}
            current_rev = old_status.get("currentRevision") or update_rev
            revs = [p["metadata"]["labels"].get("controller-revision-hash") for p in pods.values()]
            updated = revs.count(update_rev)
            if updated == replicas and len(pods) == replicas:
                current_rev = update_rev
            status = {
                "observedGeneration": sts["metadata"].get("generation", 1),
                "replicas": len(pods),
                "readyReplicas": sum(1 for p in pods.values() if pod_ready(p)),
                "currentReplicas": revs.count(current_rev),
                "updatedReplicas": updated,
                "currentRevision": current_rev,
                "updateRevision": update_rev,
                "collisionCount": 0,
                "availableReplicas": sum(1 for p in pods.values() if pod_ready(p)),
            }
            _omit_zero(status, "readyReplicas", "currentReplicas", "updatedReplicas")
            self._write_status(sts_rt, sts, status)

    # DaemonSets ----------------------------------------------------------------------------------------------------

    def _daemonsets(self) -> None:
        ds_rt = self.rt("apps", "daemonsets")
        for ds in self.store.list(ds_rt.key):
            if ds["metadata"].get("deletionTimestamp"):
                continue
            ns = ds["metadata"]["namespace"]
            template = (ds.get("spec") or {}).get("template") or {}
            rev = self._controller_revision(ds, ds_rt, template)
            revision_hash = rev.rsplit("-", 1)[1]
            pods = [p for p in self._pods(ns) if controlled_by(p, ds) and not p["metadata"].get("deletionTimestamp")]
            stale = [p for p in pods if p["metadata"]["labels"].get("controller-revision-hash") != revision_hash]
            if stale and all(pod_ready(p) or p in stale for p in pods):
                self._delete_pod(stale[0], ds, ds_rt, "daemonset-controller")
                pods.remove(stale[0])
            if not pods:
                pod = self._new_pod(template, ds, ds_rt, None, {
                    "controller-revision-hash": revision_hash,
                    "pod-template-generation": str(ds["metadata"].get("generation", 1)),
                })
                created = self._create_pod(pod, ds, ds_rt, "daemonset-controller")
                if created is not None:
                    pods.append(created)
            ready = sum(1 for p in pods if pod_ready(p))
            updated = sum(1 for p in pods if p["metadata"]["labels"].get("controller-revision-hash") == revision_hash)
            status = {
                "currentNumberScheduled": min(1, len(pods)),
                "desiredNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberUnavailable": 1 - min(1, ready),
                "updatedNumberScheduled": min(1, updated),
                "observedGeneration": ds["metadata"].get("generation", 1),
            }
            _omit_zero(status, "numberAvailable", "numberUnavailable", "updatedNumberScheduled")
            self._write_status(ds_rt, ds, status)

    # Jobs ----------------------------------------------------------------------------------------------------------

    def _jobs(self) -> None:
        job_rt = self.rt("batch", "jobs")
        now = time.time()
        for job in self.store.list(job_rt.key):
            if job["metadata"].get("deletionTimestamp"):
                continue
            ns = job["metadata"]["namespace"]
            spec = job.get("spec") or {}
            old_status = job.get("status") or {}
            conditions = copy.deepcopy(old_status.get("conditions") or [])
            finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)
            if finished:
                ttl = spec.get("ttlSecondsAfterFinished")
                done_at = parse_rfc3339(old_status.get("completionTime")) or max(
                    (parse_rfc3339(c.get("lastTransitionTime")) for c in conditions), default=now)
                if ttl is not None and now >= done_at + int(ttl):
                    self.api.delete(job_rt, ns, job["metadata"]["name"], {"propagationPolicy": "Background"})
                continue
            pods = [p for p in self._pods(ns) if controlled_by(p, job)]
            active = [p for p in pods if (p.get("status") or {}).get("phase") not in FINISHED]
            succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
            failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
            completions = int(spec.get("completions") or 1)
            parallelism = int(spec.get("parallelism", 1))
            status: dict[str, Any] = {"startTime": old_status.get("startTime") or rfc3339()}
            deadline = spec.get("activeDeadlineSeconds")
            outcome: tuple[str, str, str] | None = None
            if failed > int(spec.get("backoffLimit", 6)):
                outcome = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            elif deadline is not None and now - parse_rfc3339(status["startTime"]) > int(deadline):
                outcome = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            elif succeeded >= completions:
                outcome = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
            if outcome is not None:
                for pod in active:
                    self._delete_pod(pod, job, job_rt, "job-controller")
                active = []
                kind, reason, message = outcome
                if kind == "Failed":
                    set_condition(conditions, "FailureTarget", "True", reason, message, with_update_time=False)
                    set_condition(conditions, "Failed", "True", reason, message, with_update_time=False)
                    self._event(job, job_rt, reason, message, "Warning", "job-controller")
                else:
                    set_condition(conditions, "SuccessCriteriaMet", "True", reason, message, with_update_time=False)
                    set_condition(conditions, "Complete", "True", reason, message, with_update_time=False)
                    status["completionTime"] = rfc3339()
                    self._event(job, job_rt, "Completed", "Job completed", component="job-controller")
                for c in conditions:
                    c["lastProbeTime"] = c["lastTransitionTime"]
            elif not spec.get("suspend"):
                wanted = min(parallelism, completions - succeeded) - len(active)
                for _ in range(max(0, wanted)):
                    created = self._create_pod(self._new_pod(spec.get("template") or {}, job, job_rt, None), job,
                                               job_rt, "job-controller")
                    if created is not None:
                        active.append(created)
            status.update({
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "ready": sum(1 for p in active if pod_ready(p)),
                "terminating": 0,
                "uncountedTerminatedPods": {},
            })
            if conditions:
                status["conditions"] = conditions
            if old_status.get("completionTime") and "completionTime" not in status:
                status["completionTime"] = old_status["completionTime"]
            _omit_zero(status, "active", "succeeded", "failed")
            self._write_status(job_rt, job, status)

    # Kubelet -------------------------------------------------------------------------------------------------------

    def _kubelet(self) -> None:
        pod_rt = self.rt("", "pods")
        for pod in self.store.list(pod_rt.key):
            if int(pod["metadata"]["resourceVersion"]) > self._pass_start_rv or pod["metadata"].get(
                    "deletionTimestamp"):
                continue
            self._step_pod(pod_rt, pod)

    def _step_pod(self, pod_rt: ResourceType, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        status = copy.deepcopy(pod.get("status") or {})
        phase = status.get("phase", "Pending")
        containers = spec.get("containers") or []
        if phase in FINISHED:
            return
        now = rfc3339()
        if not spec.get("nodeName"):
            new = copy.deepcopy(pod)
            new["spec"]["nodeName"] = NODE_NAME
            pod = self._write(pod_rt, new, manager="kube-scheduler")
            conditions = status.setdefault("conditions", [])
            set_condition(conditions, "PodScheduled", "True", "", "", with_update_time=False)
            for c in conditions:
                c.pop("reason", None)
                c.pop("message", None)
                c["lastProbeTime"] = None
            self._write_status(pod_rt, pod, status, "kube-scheduler")
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            self._event(pod, pod_rt, "Scheduled", f"Successfully assigned {ns}/{name} to {NODE_NAME}",
                        component="default-scheduler")
            return
        restart_policy = spec.get("restartPolicy", "Always")
        statuses = {s["name"]: s for s in status.get("containerStatuses") or []}
        first_start = not statuses
        if first_start:
            status["hostIP"] = NODE_IP
            status["hostIPs"] = [{"ip": NODE_IP}]
            ip = self.api.allocator.pod_ip()
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
            status["startTime"] = now
            if spec.get("initContainers"):
                status["initContainerStatuses"] = [
                    self._container_status(c, {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                                              "finishedAt": now}}, False, 0)
                    for c in spec["initContainers"]
                ]
        new_statuses = []
        run_to_completion = restart_policy in ("Never", "OnFailure")
        for c in containers:
            image = str(c.get("image", ""))
            field = f"spec.containers{{{c['name']}}}"
            prev = statuses.get(c["name"])
            if image_pull_fails(image):
                reason = "ImagePullBackOff" if prev else "ErrImagePull"
                message = (f'Back-off pulling image "{image}"' if prev else
                           f'failed to pull and unpack image "{image}": not found')
                if prev is None:
                    self._event(pod, pod_rt, "Pulling", f'Pulling image "{image}"', field_path=field)
                    self._event(pod, pod_rt, "Failed", f'Failed to pull image "{image}": rpc error: code = NotFound '
                                f'desc = failed to pull and unpack image "{image}": not found', "Warning",
                                field_path=field)
                    self._event(pod, pod_rt, "Failed", "Error: ErrImagePull", "Warning", field_path=field)
                elif ((prev.get("state") or {}).get("waiting") or {}).get("reason") != reason:
                    self._event(pod, pod_rt, "BackOff", f'Back-off pulling image "{image}"', "Normal",
                                field_path=field)
                    self._event(pod, pod_rt, "Failed", "Error: ImagePullBackOff", "Warning", field_path=field)
                new_statuses.append(self._container_status(c, {"waiting": {"reason": reason, "message": message}},
                                                           False, 0, started=False))
                continue
            if prev is None:
                self._event(pod, pod_rt, "Pulling", f'Pulling image "{image}"', field_path=field)
                self._event(pod, pod_rt, "Pulled", f'Successfully pulled image "{image}" in 1.2s (1.2s including '
                            "waiting). Image size: 0 bytes.", field_path=field)
                self._event(pod, pod_rt, "Created", f"Created container: {c['name']}", field_path=field)
                self._event(pod, pod_rt, "Started", f"Started container {c['name']}", field_path=field)
            if run_to_completion and prev is not None and (prev.get("state") or {}).get("running"):
                code = 1 if image_fails(image) else 0
                finished = self._container_status(c, {"terminated": {
                    "exitCode": code, "reason": "Error" if code else "Completed",
                    "startedAt": prev["state"]["running"].get("startedAt", now), "finishedAt": now}}, False, 0,
                    started=False)
                finished["containerID"] = prev.get("containerID", finished.get("containerID"))
                finished["state"]["terminated"]["containerID"] = finished["containerID"]
                new_statuses.append(finished)
            elif not run_to_completion and image_crashes(image):
                if prev is None:
                    self._event(pod, pod_rt, "BackOff", f"Back-off restarting failed container {c['name']} in pod "
                                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                                "Warning", field_path=field)
                new_statuses.append(prev or self._container_status(c, {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 10s restarting failed container={c['name']} pod={pod['metadata']['name']}_"
                               f"{pod['metadata']['namespace']}({pod['metadata']['uid']})"}}, False, 1,
                    started=False, last={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now,
                                                        "finishedAt": now}}))
            else:
                new_statuses.append(prev or self._container_status(c, {"running": {"startedAt": now}}, True, 0))
        status["containerStatuses"] = new_statuses
        all_ready = bool(new_statuses) and all(s.get("ready") for s in new_statuses)
        terminated = [s for s in new_statuses if "terminated" in s.get("state", {})]
        pulling = any("waiting" in s.get("state", {}) and s["state"]["waiting"]["reason"] in (
            "ErrImagePull", "ImagePullBackOff") for s in new_statuses)
        if new_statuses and len(terminated) == len(new_statuses):
            failed = any(s["state"]["terminated"]["exitCode"] for s in terminated)
            status["phase"] = "Failed" if failed else "Succeeded"
        elif pulling:
            status["phase"] = "Pending"
        else:
            status["phase"] = "Running"
        conditions = status.setdefault("conditions", [])
        done = status["phase"] in FINISHED
        containers_ready = "True" if all_ready else "False"
        reason = "PodCompleted" if done else ("" if all_ready else "ContainersNotReady")
        unready = [s["name"] for s in new_statuses if not s.get("ready")]
        message = "" if all_ready or done else f"containers with unready status: [{' '.join(unready)}]"
        set_condition(conditions, "PodReadyToStartContainers", "False" if done else "True", "", "",
                      with_update_time=False)
        set_condition(conditions, "Initialized", "True", "PodCompleted" if done else "", "", with_update_time=False)
        set_condition(conditions, "Ready", containers_ready, reason, message, with_update_time=False)
        set_condition(conditions, "ContainersReady", containers_ready, reason, message, with_update_time=False)
        set_condition(conditions, "PodScheduled", "True", "", "", with_update_time=False)
        for cond in conditions:
            cond["lastProbeTime"] = None
            if not cond.get("reason"):
                cond.pop("reason", None)
            if not cond.get("message"):
                cond.pop("message", None)
        order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        conditions.sort(key=lambda c: order.index(c["type"]) if c.get("type") in order else len(order))
        self._write_status(pod_rt, pod, status, "kubelet")

    @staticmethod
    def _container_status(c: dict[str, Any], state: dict[str, Any], ready: bool, restarts: int,
                          started: bool = True, last: dict[str, Any] | None = None) -> dict[str, Any]:
        image = str(c.get("image", ""))
        digest = hashlib.sha256(image.encode()).hexdigest()
        qualified = image if "/" in image.split(":")[0] and "." in image.split("/")[0] else f"docker.io/library/{image}"
        status: dict[str, Any] = {
            "name": c["name"],
            "image": qualified if ":" in image.rsplit("/", 1)[-1] else f"{qualified}:latest",
            "imageID": f"{qualified.split(':')[0]}@sha256:{digest}" if "running" in state or "terminated" in state
            else "",
            "ready": ready,
            "restartCount": restarts,
            "started": started,
            "state": state,
            "lastState": last or {},
        }
        if "running" in state or "terminated" in state or last:
            container_id = hashlib.sha256((c["name"] + secrets.token_hex(4)).encode()).hexdigest()
            status["containerID"] = f"containerd://{container_id}"
        return status

    # Endpoints -----------------------------------------------------------------------------------------------------

    def _endpoints(self) -> None:
        svc_rt, ep_rt = self.rt("", "services"), self.rt("", "endpoints")
        seen: set[tuple[str, str]] = set()
        for svc in self.store.list(svc_rt.key):
            spec = svc.get("spec") or {}
            selector = spec.get("selector")
            if not selector:
                continue
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            seen.add((ns, name))
            reqs = from_label_selector_object({"matchLabels": selector})
            pods = [p for p in self._pods(ns) if labels_match(reqs, p) and (p.get("status") or {}).get("podIP")
                    and (p.get("status") or {}).get("phase") not in FINISHED
                    and not p["metadata"].get("deletionTimestamp")]

            def address(p: Obj) -> dict[str, Any]:
                return {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", NODE_NAME),
                        "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"],
                                      "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}

            ready = sorted((address(p) for p in pods if pod_ready(p)), key=lambda a: a["ip"])
            not_ready = sorted((address(p) for p in pods if not pod_ready(p)), key=lambda a: a["ip"])
            ports = []
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                if isinstance(target, str) and not target.isdigit():
                    named = [cp.get("containerPort") for p in pods for c in p["spec"].get("containers") or []
                             for cp in c.get("ports") or [] if cp.get("name") == target]
                    if not named:
                        continue
                    target = named[0]
                entry = {"port": int(target), "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
            subset: dict[str, Any] = {}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            if subset and ports:
                subset["ports"] = ports
            subsets = [subset] if subset else []
            labels = dict(svc["metadata"].get("labels") or {})
            existing = self.store.get(ep_rt.key, ns, name)
            body: Obj = {"metadata": {"name": name, "namespace": ns}}
            if labels:
                body["metadata"]["labels"] = labels
            if subsets:
                body["subsets"] = subsets
            self._managed_endpoints.add((ns, name))
            if existing is None:
                self.api.create(ep_rt, ns, body, "endpoint-controller")
            elif existing.get("subsets") != body.get("subsets") or (existing["metadata"].get("labels") or {}) != (
                    labels):
                new = copy.deepcopy(existing)
                new["subsets"] = body.get("subsets")
                if new["subsets"] is None:
                    new.pop("subsets")
                new["metadata"]["labels"] = labels
                self._write(ep_rt, new, manager="endpoint-controller")
        for ns, name in list(self._managed_endpoints - seen):
            self._managed_endpoints.discard((ns, name))
            if self.store.get(ep_rt.key, ns, name) is not None:
                self.api.delete(ep_rt, ns, name)
