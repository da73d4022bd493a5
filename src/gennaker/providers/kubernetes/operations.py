"""Everything done to objects that already run: find, scale, patch, delete, roll back, pause, resume,
restart, enable, disable, and the questions stages ask (is it stable? which version is newest?).

Pipeline stages and the infrastructure actions of the API call the same methods (kubernetes.md §4).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube.types import PatchType

from gennaker.providers.kubernetes import binding, stability, traffic
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.client import KubeClient, KubernetesError
from gennaker.providers.kubernetes.kinds import KindInfo, built_in, full_name, kind_info, parse_manifest_name
from gennaker.providers.kubernetes.selectors import SelectorError, label_query

PATCH_TYPES = {"strategic": PatchType.STRATEGIC, "json": PatchType.JSON, "merge": PatchType.MERGE}
# Criteria → position in the cluster's objects sorted oldest first (or smallest first, by replicas).
CRITERIA = {"newest": -1, "second_newest": -2, "oldest": 0, "largest": -1, "smallest": 0}


class OperationError(Exception):
    """An operation that cannot be done; the message is the stage's (or the API's) error."""


@dataclass(slots=True)
class Observation:
    """What a live object's status means (the wait task's view of one manifest)."""

    status: stability.ManifestStatus
    pod_failure: str | None = None


class ManifestOperations:
    def __init__(self, client: KubeClient, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client = client
        self.account = client.account.name
        self._clock = clock

    # -- addressing --------------------------------------------------------------------------------
    def kind_address(self, kind: str) -> tuple[str, str]:
        """`(apiVersion, Kind)` for a Spinnaker kind name: `replicaSet`, `VirtualService.networking.istio.io`."""
        known = built_in(kind)
        if known is not None:
            return known.api_version, known.kind
        name, _, group = kind.partition(".")
        spec = self.client.custom_kind(group, name)
        if spec is None:
            raise OperationError(f"account '{self.account}': unknown kind '{kind}'")
        served = [v["name"] for v in spec.get("versions") or [] if v.get("served", True)]
        return f"{group}/{served[0] if served else 'v1'}", spec["names"]["kind"]

    def get(self, location: str | None, manifest_name: str) -> dict[str, Any] | None:
        kind, name = _parse(manifest_name)
        api_version, real_kind = self.kind_address(kind)
        return self.client.get(api_version, real_kind, location or None, name)

    def require(self, location: str | None, manifest_name: str) -> dict[str, Any]:
        found = self.get(location, manifest_name)
        if found is None:
            raise OperationError(f"account '{self.account}': {manifest_name} not found in namespace '{location}'")
        return found

    def cluster(
        self, location: str, kind: str, app: str, cluster: str, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The objects of one moniker cluster, oldest first (creation time, then version). The moniker lives in
        annotations, which the API server cannot select by; `labels` narrows the list on the server when the
        caller knows a label every object of the cluster carries."""
        api_version, real_kind = self.kind_address(kind)
        items = [
            item
            for item in self.client.list_objects(api_version, real_kind, location, labels=labels)
            if mf.annotations_of(item).get(mf.MONIKER + "application") == app
            and mf.annotations_of(item).get(mf.MONIKER + "cluster") == cluster
        ]
        return sorted(items, key=_age_key)

    def dynamic_target(self, location: str, kind: str, app: str, cluster: str, criteria: str) -> dict[str, Any]:
        """Resolve newest / second_newest / oldest / largest / smallest live (kubernetes.md §3.4)."""
        if criteria not in CRITERIA:
            raise OperationError(f"criteria must be one of {', '.join(CRITERIA)}; got '{criteria}'")
        items = self.cluster(location, kind, app, cluster)
        if criteria in ("largest", "smallest"):
            items = sorted(items, key=lambda i: int((i.get("spec") or {}).get("replicas") or 0))
        index = CRITERIA[criteria]
        if len(items) < (-index if index < 0 else index + 1):
            raise OperationError(
                f"No manifests matching {kind} in cluster '{cluster}' of application '{app}' in namespace "
                f"'{location}' (account '{self.account}') found for criteria {criteria}"
            )
        return items[index]

    # -- watching ----------------------------------------------------------------------------------
    def observe(self, location: str | None, manifest_name: str) -> Observation:
        manifest = self.get(location, manifest_name)
        if manifest is None:
            return Observation(stability.ManifestStatus().unstable("Waiting for the manifest to be created"))
        status = stability.status_of(manifest)
        failure = None
        if not status.stable.state and not status.failed.state:
            failure = self.pod_failure(manifest)
        return Observation(status, failure)

    def pod_failure(self, workload: dict[str, Any]) -> str | None:
        """The reason the workload's newest pods cannot start, if one of them cannot."""
        for pod in self.newest_pods(workload):
            reason = stability.pod_failure(pod)
            if reason:
                return f"pod '{mf.name(pod)}': {reason}"
        return None

    def newest_pods(self, workload: dict[str, Any]) -> list[dict[str, Any]]:
        """Pods of the workload's current version: its own pods (for a Deployment, its newest ReplicaSet's;
        for a StatefulSet, those of its update revision). Other versions may share the label selector."""
        kind = workload.get("kind")
        if kind == "Pod":
            return [workload]
        if kind not in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            return []
        owner = workload
        if kind == "Deployment":
            replica_sets = self.owned(workload, "apps/v1", "ReplicaSet")
            if not replica_sets:
                return []
            owner = max(replica_sets, key=lambda rs: int(mf.annotations_of(rs).get(mf.REVISION) or 0))
        selector = dict(((owner.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
        if kind == "StatefulSet" and (workload.get("status") or {}).get("updateRevision"):
            selector["controller-revision-hash"] = workload["status"]["updateRevision"]
        pods = self.client.list_objects("v1", "Pod", mf.namespace(workload), labels=selector or None)
        uid = mf.metadata(owner).get("uid")
        return [p for p in pods if any(r.get("uid") == uid for r in mf.metadata(p).get("ownerReferences") or [])]

    def owned(self, owner: dict[str, Any], api_version: str, kind: str) -> list[dict[str, Any]]:
        """What `owner` controls. Its ReplicaSets, pods and revisions carry its selector's labels (the API server
        refuses a template that does not match the selector), so only those are listed."""
        uid = mf.metadata(owner).get("uid")
        match_labels = ((owner.get("spec") or {}).get("selector") or {}).get("matchLabels") or None
        return [
            item
            for item in self.client.list_objects(api_version, kind, mf.namespace(owner), labels=match_labels)
            if any(ref.get("uid") == uid for ref in mf.metadata(item).get("ownerReferences") or [])
        ]

    # -- changes -----------------------------------------------------------------------------------
    def scale(self, location: str, manifest_name: str, replicas: int) -> dict[str, Any]:
        target = self.require(location, manifest_name)
        if not _info(target).scalable:
            raise OperationError(f"Resource with {manifest_name} in {location} does not support scale")
        if replicas < 0:
            raise OperationError("replicas must be zero or more")
        return self._patch(target, {"spec": {"replicas": int(replicas)}}, PatchType.MERGE)

    def patch(
        self,
        location: str,
        manifest_name: str,
        body: Any,
        merge_strategy: str = "strategic",
        record: bool = True,
        artifacts: list[dict[str, Any]] | None = None,
        required_artifacts: list[dict[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Patch a live object; strategic and merge patches get artifacts bound into them (kubernetes.md §4.4)."""
        patch_type = PATCH_TYPES.get(merge_strategy)
        if patch_type is None:
            raise OperationError(f"options.mergeStrategy must be one of strategic, json, merge; got '{merge_strategy}'")
        if patch_type is PatchType.JSON and not isinstance(body, list):
            raise OperationError("patchBody must be a list of JSON patch operations when mergeStrategy is json")
        if patch_type is not PatchType.JSON and not isinstance(body, dict):
            raise OperationError(f"patchBody must be an object when mergeStrategy is {merge_strategy}")
        target = self.require(location, manifest_name)
        bound: list[dict[str, Any]] = []
        if patch_type is not PatchType.JSON:
            probe = copy.deepcopy(body)
            probe.setdefault("kind", target["kind"])  # which fields name artifacts depends on the kind
            pool = (artifacts or []) + (required_artifacts or [])
            bound = binding.bind(probe, pool, self.account, namespace=location)
            if "kind" not in body:
                probe.pop("kind")
            body = probe
            missing = [a for a in required_artifacts or [] if a not in bound]
            if missing:
                names = ", ".join(str(a.get("name")) for a in missing)
                raise OperationError(f"The following required artifacts could not be bound: '{names}'")
        patched = self._patch(target, body, patch_type)
        if record:
            cause = f"gennaker patch {manifest_name} --type {merge_strategy}"
            patched = self._patch(
                patched, {"metadata": {"annotations": {"kubernetes.io/change-cause": cause}}}, PatchType.MERGE
            )
        return patched, bound

    def delete(
        self,
        location: str,
        manifest_name: str | None = None,
        kinds: list[str] | None = None,
        label_selectors: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> list[str]:
        """Delete one object, or every object of `kinds` matching the label selector; returns what was deleted."""
        cascade, grace = _delete_options(options or {})
        targets: list[dict[str, Any]] = []
        if manifest_name:
            found = self.get(location, manifest_name)
            targets = [found] if found else []
        else:
            if not kinds or not label_selectors:
                raise OperationError("deleteManifest needs manifestName, or kinds with labelSelectors")
            for kind in kinds:
                api_version, real_kind = self.kind_address(kind)
                query = _label_query(label_selectors)
                targets += self.client.list_objects(api_version, real_kind, location, labels=query)
        deleted = []
        for target in targets:
            if self.client.delete(
                target["apiVersion"],
                target["kind"],
                mf.namespace(target),
                mf.name(target),
                cascade=cascade,
                grace_period=grace,
            ):
                deleted.append(full_name(target))
        return deleted

    def undo_rollout(
        self, location: str, manifest_name: str, revision: int | None = None, revisions_back: int | None = None
    ) -> int:
        """Roll a Deployment back to an earlier ReplicaSet's pod template; returns the revision rolled back to."""
        target = self.require(location, manifest_name)
        if not _info(target).rollout:
            raise OperationError(f"{manifest_name} does not support undo rollout")
        if target["kind"] != "Deployment":
            return self._undo_by_controller_revision(target, revision, revisions_back)
        by_revision = {
            int(mf.annotations_of(rs).get(mf.REVISION) or 0): rs for rs in self.owned(target, "apps/v1", "ReplicaSet")
        }
        chosen = _pick_revision(sorted(by_revision), revision, revisions_back)
        template = copy.deepcopy((by_revision[chosen].get("spec") or {}).get("template") or {})
        (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
        self._patch(target, [{"op": "replace", "path": "/spec/template", "value": template}], PatchType.JSON)
        return chosen

    def _undo_by_controller_revision(
        self, target: dict[str, Any], revision: int | None, revisions_back: int | None
    ) -> int:
        by_revision = {int(cr.get("revision") or 0): cr for cr in self.owned(target, "apps/v1", "ControllerRevision")}
        chosen = _pick_revision(sorted(by_revision), revision, revisions_back)
        data = by_revision[chosen].get("data") or {}
        self._patch(target, data, PatchType.STRATEGIC)
        return chosen

    def pause(self, location: str, manifest_name: str, paused: bool = True) -> dict[str, Any]:
        target = self.require(location, manifest_name)
        if not _info(target).rollout:
            raise OperationError(f"{manifest_name} does not support pause and resume rollout")
        return self._patch(target, {"spec": {"paused": paused}}, PatchType.MERGE)

    def rolling_restart(self, location: str, manifest_name: str) -> dict[str, Any]:
        target = self.require(location, manifest_name)
        if not _info(target).rollout:
            raise OperationError(f"{manifest_name} does not support rolling restart")
        stamp = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        annotations = {"kubectl.kubernetes.io/restartedAt": stamp}
        return self._patch(target, {"spec": {"template": {"metadata": {"annotations": annotations}}}}, PatchType.MERGE)

    def set_traffic(
        self, location: str, manifest_name: str, enable: bool, load_balancers: list[str] | None = None
    ) -> list[str]:
        target = self.require(location, manifest_name)
        pods = self.owned(target, "v1", "Pod") if _info(target).relabels_pods else []
        try:
            return traffic.set_traffic(self.client, target, enable, load_balancers, pods)
        except traffic.TrafficError as error:
            raise OperationError(str(error)) from None

    def _patch(self, target: dict[str, Any], body: Any, patch_type: PatchType) -> dict[str, Any]:
        try:
            return self.client.patch(
                target["apiVersion"], target["kind"], mf.namespace(target), mf.name(target), body, patch_type
            )
        except KubernetesError as error:
            raise OperationError(str(error)) from error

    # -- after a deploy ----------------------------------------------------------------------------
    def cleanup_versions(self, deployed: list[dict[str, Any]]) -> list[str]:
        """Delete the oldest versions beyond `max-version-history` (by creation time, kubernetes.md §1.5)."""
        deleted: list[str] = []
        for manifest in deployed:
            history = mf.whole_number(mf.strategy(manifest, "max-version-history"))
            if history is None:
                continue
            base = mf.annotations_of(manifest).get(mf.ARTIFACT + "name") or mf.name(manifest)
            # Versions the app label misses (it changed, or a tool wrote none) are kept: never one too many deleted.
            versions = artifact_versions(self.client, manifest, base, mf.app_label(manifest))
            for old in versions[: max(0, len(versions) - history)]:
                if mf.name(old) == mf.name(manifest):
                    continue
                self.client.delete(
                    old["apiVersion"], old["kind"], mf.namespace(old), mf.name(old), cascade="background"
                )
                deleted.append(full_name(old))
        return deleted

    def strategy_steps(self, deployed: list[dict[str, Any]], app: str, strategy: str) -> list[dict[str, str]]:
        """What a rollout strategy does to older ReplicaSets: `[{action, manifestName, location}]` (§3.2)."""
        if strategy not in ("HIGHLANDER", "RED_BLACK", "BLUE_GREEN"):
            return []
        disables: list[dict[str, str]] = []
        deletes: list[dict[str, str]] = []
        for manifest in deployed:
            if manifest.get("kind") != "ReplicaSet":
                continue
            cluster = mf.annotations_of(manifest).get(mf.MONIKER + "cluster") or ""
            location = mf.namespace(manifest) or ""
            for old in self.cluster(location, "replicaSet", app, cluster, _deployed_selector(manifest)):
                if mf.name(old) == mf.name(manifest):
                    continue
                step = {"manifestName": full_name(old), "location": location}
                if strategy == "HIGHLANDER":
                    disables.append({**step, "action": "disable"})
                    deletes.append({**step, "action": "delete"})
                elif _broken(old):
                    deletes.append({**step, "action": "delete"})
                else:
                    disables.append({**step, "action": "disable"})
        return disables + deletes


def _deployed_selector(manifest: dict[str, Any]) -> dict[str, str] | None:
    """What selects every object a deploy wrote in a namespace: the `managed-by` label each deploy sets. Not the
    app label: an older version deployed under another one (a chart renamed, a label edited) is still in the
    cluster, and a strategy that missed it would leave it serving traffic."""
    managed_by = mf.selectable_label(manifest, mf.MANAGED_BY)
    return {mf.MANAGED_BY: managed_by} if managed_by else None


def artifact_versions(
    client: KubeClient, manifest: dict[str, Any], base_name: str, app_label: str | None
) -> list[dict[str, Any]]:
    """The live versions of an artifact (`base_name-vNNN` objects of the manifest's kind and namespace), oldest
    first by creation time. Versions carry the `app.kubernetes.io/name` label (kubernetes.md §1.6): selecting by
    it makes the cost follow the application's own objects, not the namespace; None reads the whole namespace."""
    labels = {mf.APP_NAME: app_label} if app_label else None
    live = client.list_objects(manifest["apiVersion"], manifest["kind"], mf.namespace(manifest), labels=labels)
    return sorted((i for i in live if mf.annotations_of(i).get(mf.ARTIFACT + "name") == base_name), key=_age_key)


def _label_query(label_selectors: dict[str, Any]) -> dict[str, Any]:
    try:
        return label_query(label_selectors)
    except SelectorError as error:
        raise OperationError(str(error)) from None


def _parse(manifest_name: str) -> tuple[str, str]:
    try:
        return parse_manifest_name(manifest_name)
    except ValueError as error:
        raise OperationError(str(error)) from None


def _info(manifest: dict[str, Any]) -> KindInfo:
    return kind_info(manifest.get("apiVersion", ""), manifest.get("kind", ""))


def _age_key(item: dict[str, Any]) -> tuple[str, int, int]:
    """Oldest first; versions and resourceVersions break ties between objects created in the same second."""
    meta = item.get("metadata") or {}
    version = mf.version_number(item)
    resource_version = str(meta.get("resourceVersion") or "0")
    return (
        str(meta.get("creationTimestamp") or ""),
        -1 if version is None else version,
        int(resource_version) if resource_version.isdigit() else 0,
    )


def _broken(replica_set: dict[str, Any]) -> bool:
    """Red/black deletes a predecessor that is neither stable nor failed and has no ready, available pods."""
    status = stability.status_of(replica_set)
    counters = replica_set.get("status") or {}
    serving = int(counters.get("readyReplicas") or 0) > 0 and int(counters.get("availableReplicas") or 0) > 0
    return not status.stable.state and not status.failed.state and not serving


def _pick_revision(revisions: list[int], revision: int | None, revisions_back: int | None) -> int:
    if revision is not None:
        if revision not in revisions:
            raise OperationError(f"revision {revision} not found; known revisions: {revisions}")
        return revision
    back = 1 if revisions_back is None else int(revisions_back)
    index = len(revisions) - back - 1
    if index < 0:
        raise OperationError(f"There are {len(revisions)} revision(s) in total, cannot rollback {back}")
    return revisions[index]


def _delete_options(options: dict[str, Any]) -> tuple[str | None, int | None]:
    """kubectl's cascade mapping; Deck's misspelled `orphanDependants` is accepted too (kubernetes.md §4.5)."""
    orphan = options.get("orphanDependents", options.get("orphanDependants"))
    cascade: str | None = None
    if orphan is not None:
        cascade = "orphan" if str(orphan).lower() == "true" else "background"
    elif options.get("cascading") is not None:
        value = str(options["cascading"]).lower()
        cascade = {"false": "orphan", "true": "background"}.get(value, value)
    grace = options.get("gracePeriodSeconds")
    return cascade, int(grace) if grace is not None else None
