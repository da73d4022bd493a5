"""Live infrastructure: what runs in each account, kept current by watches (kubernetes.md §6, §7).

Spinnaker rebuilds a cache by listing every kind on an interval, so the UI lags a deploy by up to a
caching cycle. Here each account keeps one list+watch stream per kind; events arrive as the cluster
changes, and `age_s` says how fresh the view is. Pipeline decisions never use this view: stages read
the cluster directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes import stability
from gennaker.providers.kubernetes.binding import discover
from gennaker.providers.kubernetes.client import KubeClient, KubernetesError
from gennaker.providers.kubernetes.kinds import full_name

log = logging.getLogger(__name__)

# (apiVersion, kind) of everything the infrastructure view shows.
WATCHED = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)
SERVER_GROUP_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet")
WATCH_TIMEOUT_S = 30


@dataclass
class KindCache:
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    synced: threading.Event = field(default_factory=threading.Event)
    updated_at: float = 0.0


class AccountWatch:
    """List+watch streams for one account: one per kind, or one per kind and namespace when the account
    names its namespaces (so it works with namespace-scoped RBAC). Each restarts from a fresh list on errors;
    objects in namespaces the account omits are left out."""

    def __init__(
        self,
        client: KubeClient,
        kinds: Iterable[tuple[str, str]] = WATCHED,
        on_change: Callable[[str], None] | None = None,
    ):
        """`on_change(account)` is called from the watch threads after every event applied."""
        self.client = client
        self.on_change = on_change
        account = client.account
        scopes: list[str | None] = list(account.namespaces) if account.namespaces else [None]
        self._streams = [(api_version, kind, scope) for api_version, kind in kinds for scope in scopes]
        self.caches = {(kind, scope): KindCache() for _, kind, scope in self._streams}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> AccountWatch:
        for api_version, kind, scope in self._streams:
            name = f"watch-{self.client.account.name}-{kind}-{scope or 'all'}"
            threading.Thread(target=self._follow, args=(api_version, kind, scope), name=name, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait_synced(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(c.synced.wait(max(0.0, deadline - time.monotonic())) for c in self.caches.values())

    def objects(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for (k, _), cache in self.caches.items() if k == kind for obj in cache.objects.values()]

    @property
    def age_s(self) -> float:
        """Seconds since the stalest stream last heard from the cluster (an event or a successful re-list)."""
        with self._lock:
            oldest = min((c.updated_at for c in self.caches.values()), default=0.0)
        return round(time.monotonic() - oldest, 3) if oldest else float("inf")

    def _follow(self, api_version: str, kind: str, scope: str | None) -> None:
        cache = self.caches[(kind, scope)]
        backoff = 0.5
        while not self._stop.is_set():
            try:
                version = self._relist(api_version, kind, scope, cache)
                for event, obj in self.client.watch(api_version, kind, scope, version, server_timeout=WATCH_TIMEOUT_S):
                    self._apply(cache, event, obj)
                    if self._stop.is_set():
                        return
                backoff = 0.5
            except Exception as error:  # a watch must outlive any failure; it re-lists after a pause
                log.warning("watch of %s in account %s restarts: %s", kind, self.client.account.name, error)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _relist(self, api_version: str, kind: str, scope: str | None, cache: KindCache) -> str | None:
        items, version = self.client.list_with_version(api_version, kind, scope)
        with self._lock:
            cache.objects = {_key(obj): obj for obj in items if self._shown(obj)}
            cache.updated_at = time.monotonic()
        cache.synced.set()
        return version

    def _apply(self, cache: KindCache, event: str, obj: dict[str, Any]) -> None:
        with self._lock:
            if event == "DELETED":
                cache.objects.pop(_key(obj), None)
            elif event in ("ADDED", "MODIFIED") and self._shown(obj):
                cache.objects[_key(obj)] = obj
            cache.updated_at = time.monotonic()
        if self.on_change is not None:
            self.on_change(self.client.account.name)

    def _shown(self, obj: dict[str, Any]) -> bool:
        namespace = mf.namespace(obj)
        return namespace is None or self.client.account.allows_namespace(namespace) is None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return (mf.namespace(obj) or "", mf.name(obj))


class Infrastructure:
    """Applications' clusters, server groups, instances, load balancers and firewalls across accounts."""

    def __init__(self, clients: Callable[[str], KubeClient], accounts: Callable[[], list[str]]):
        self._clients = clients
        self._accounts = accounts
        self._watches: dict[str, AccountWatch] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[list[str]], None]] = []

    def subscribe(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """Call `listener([account])` whenever a watched object of that account changes; returns an
        unsubscribe (the pages' live streams use it instead of polling)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self, account: str) -> None:
        for listener in list(self._listeners):
            listener([account])

    def watch(self, account: str) -> AccountWatch:
        """The account's watch, started on first use (and given a moment to sync then); an unreachable
        cluster makes its first reader wait, not every reader."""
        with self._lock:
            current = self._watches.get(account)
            started = current is None
            if current is None:
                current = self._watches[account] = AccountWatch(self._clients(account), on_change=self._changed).start()
        if started:
            current.wait_synced()
        return current

    def _watches_of(self, accounts: list[str] | None) -> list[tuple[str, AccountWatch]]:
        """The watches of these accounts (all by default); an account that cannot connect is left out, logged."""
        found = []
        for account in accounts if accounts is not None else self._accounts():
            try:
                found.append((account, self.watch(account)))
            except KubernetesError as error:
                log.warning("infrastructure of %s is unavailable: %s", account, error)
        return found

    def close(self) -> None:
        with self._lock:
            for current in self._watches.values():
                current.stop()
            self._watches.clear()

    # -- application views ------------------------------------------------------------------------
    def server_groups(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        groups = []
        for account, current in self._watches_of(accounts):
            pods = current.objects("Pod")
            services = current.objects("Service")
            deployments = current.objects("Deployment")
            for kind in SERVER_GROUP_KINDS:
                for obj in current.objects(kind):
                    if _application(obj, deployments) == application:
                        groups.append(server_group(account, obj, pods, services, deployments))
        return sorted(groups, key=lambda g: (g["account"], g["region"], g["cluster"], g.get("createdTime") or 0))

    def server_group_managers(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        """Deployments, with their revisions (the ReplicaSets they manage) for undo rollout."""
        managers = []
        for account, current in self._watches_of(accounts):
            replica_sets = current.objects("ReplicaSet")
            for obj in current.objects("Deployment"):
                if _moniker_app(obj) == application:
                    managers.append(server_group_manager(account, obj, replica_sets))
        return sorted(managers, key=lambda m: (m["account"], m["region"], m["displayName"]))

    def clusters(self, application: str, accounts: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """`{account: [{name, serverGroups, loadBalancers, …}]}` as Deck's cluster view expects."""
        by_account: dict[str, dict[str, dict[str, Any]]] = {}
        for group in self.server_groups(application, accounts):
            clusters = by_account.setdefault(group["account"], {})
            cluster = clusters.setdefault(
                group["cluster"],
                {
                    "name": group["cluster"],
                    "account": group["account"],
                    "application": application,
                    "type": "kubernetes",
                    "provider": "kubernetes",
                    "serverGroups": [],
                    "loadBalancers": [],
                },
            )
            cluster["serverGroups"].append(group)
            for balancer in group["loadBalancers"]:
                if balancer not in cluster["loadBalancers"]:
                    cluster["loadBalancers"].append(balancer)
        return {account: list(clusters.values()) for account, clusters in by_account.items()}

    def load_balancers(
        self, application: str, accounts: list[str] | None = None, groups: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Services and Ingresses with the server groups they front (pass `groups` when already built)."""
        if groups is None:
            groups = self.server_groups(application, accounts)
        found = []
        for account, current in self._watches_of(accounts):
            fronted = [g for g in groups if g["account"] == account]
            for kind in ("Service", "Ingress"):
                for obj in current.objects(kind):
                    if _moniker_app(obj) == application:
                        found.append(load_balancer(account, obj, fronted))
        return found

    def firewalls(self, application: str, accounts: list[str] | None = None) -> list[dict[str, Any]]:
        found = []
        for account, current in self._watches_of(accounts):
            for obj in current.objects("NetworkPolicy"):
                if _moniker_app(obj) == application:
                    found.append({**_summary(account, obj), "type": "kubernetes", "spec": obj.get("spec") or {}})
        return found

    def age_s(self, account: str) -> float:
        """Seconds since the account's view last heard from the cluster (infinite when it cannot connect)."""
        watches = self._watches_of([account])
        return watches[0][1].age_s if watches else float("inf")


def _moniker_app(obj: dict[str, Any]) -> str | None:
    return mf.annotations_of(obj).get(mf.MONIKER + "application")


def _application(obj: dict[str, Any], deployments: list[dict[str, Any]]) -> str | None:
    """A server group's application: its own annotation, or its owning Deployment's."""
    app = _moniker_app(obj)
    if app:
        return app
    owner = _owner(obj, deployments)
    return _moniker_app(owner) if owner else None


def _owner(obj: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    uids = {ref.get("uid") for ref in mf.metadata(obj).get("ownerReferences") or []}
    return next((c for c in candidates if mf.metadata(c).get("uid") in uids), None)


def _created_ms(obj: dict[str, Any]) -> int | None:
    stamp = mf.metadata(obj).get("creationTimestamp")
    if not stamp:
        return None
    return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() * 1000)


def _summary(account: str, obj: dict[str, Any]) -> dict[str, Any]:
    namespace = mf.namespace(obj) or ""
    return {
        "name": full_name(obj),
        "displayName": mf.name(obj),
        "account": account,
        "region": namespace,
        "namespace": namespace,
        "kind": obj.get("kind"),
        "cloudProvider": "kubernetes",
        "moniker": mf.read_moniker(obj),
        "createdTime": _created_ms(obj),
        "labels": mf.labels_of(obj),
    }


def instance(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod as Deck's instance: health from the phase and one entry per container (kubernetes.md §6.1)."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    phase_state = {"Pending": "Down", "Running": "Up"}.get(str(phase), "Unknown")
    health = [{"type": "kubernetes/pod", "state": phase_state}]
    for container in status.get("containerStatuses") or []:
        health.append(
            {
                "type": f"kubernetes/container/{container.get('name')}",
                "state": "Up" if container.get("ready") else "Down",
            }
        )
    states = {h["state"] for h in health}
    overall = "Up" if states == {"Up"} else "Down" if "Down" in states else "Unknown"
    return {
        "name": full_name(pod),
        "id": mf.name(pod),
        "displayName": mf.name(pod),
        "namespace": mf.namespace(pod),
        "zone": mf.namespace(pod),
        "launchTime": _created_ms(pod),
        "health": health,
        "healthState": overall,
        "phase": phase,
        "failure": stability.pod_failure(pod),
        "containers": [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []],
    }


def server_group(
    account: str,
    obj: dict[str, Any],
    pods: list[dict[str, Any]],
    services: list[dict[str, Any]],
    deployments: list[dict[str, Any]],
) -> dict[str, Any]:
    namespace = mf.namespace(obj) or ""
    uid = mf.metadata(obj).get("uid")
    owned = [p for p in pods if any(r.get("uid") == uid for r in mf.metadata(p).get("ownerReferences") or [])]
    instances = [instance(p) for p in owned]
    same_namespace = [s for s in services if (mf.namespace(s) or "") == namespace]
    labels = mf.pod_labels(obj)
    balancers = [full_name(s) for s in same_namespace if mf.selects((s.get("spec") or {}).get("selector"), labels)]
    owner = _owner(obj, deployments)
    moniker = mf.read_moniker(obj)
    if owner is not None:
        moniker = {**mf.read_moniker(owner), "sequence": moniker.get("sequence")}
    status = stability.status_of(obj)
    return {
        **_summary(account, obj),
        "type": "kubernetes",
        "moniker": moniker,
        "cluster": moniker.get("cluster") or full_name(owner or obj),
        "capacity": {"desired": int((obj.get("spec") or {}).get("replicas") or 0)},
        "instances": instances,
        "instanceCounts": {
            "total": len(instances),
            "up": sum(1 for i in instances if i["healthState"] == "Up"),
            "down": sum(1 for i in instances if i["healthState"] == "Down"),
            "unknown": sum(1 for i in instances if i["healthState"] == "Unknown"),
        },
        "loadBalancers": balancers,
        # Deck's "disabled": it names load balancers, yet no Service in its namespace selects its pods.
        "disabled": bool(mf.load_balancers(obj)) and not balancers,
        "buildInfo": {"images": [a["reference"] for a in discover(obj, account) if a["type"] == "docker/image"]},
        "serverGroupManagers": [{"name": mf.name(owner), "location": namespace, "account": account}] if owner else [],
        "status": status.to_json(),
    }


def server_group_manager(account: str, obj: dict[str, Any], replica_sets: list[dict[str, Any]]) -> dict[str, Any]:
    uid = mf.metadata(obj).get("uid")
    managed = [
        r for r in replica_sets if any(ref.get("uid") == uid for ref in mf.metadata(r).get("ownerReferences") or [])
    ]
    revisions: list[dict[str, Any]] = [
        {
            "revision": int(mf.annotations_of(r).get(mf.REVISION) or 0),
            "serverGroup": mf.name(r),
            "images": [a["reference"] for a in discover(r, account) if a["type"] == "docker/image"],
        }
        for r in managed
    ]
    revisions.sort(key=lambda r: int(r["revision"]), reverse=True)
    status = stability.status_of(obj)
    return {
        **_summary(account, obj),
        "type": "kubernetes",
        "cluster": mf.read_moniker(obj).get("cluster") or full_name(obj),
        "capacity": {"desired": int((obj.get("spec") or {}).get("replicas") or 0)},
        "paused": bool((obj.get("spec") or {}).get("paused")),
        "revisions": revisions,
        "status": status.to_json(),
    }


def load_balancer(account: str, obj: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    namespace = mf.namespace(obj) or ""
    selector = (obj.get("spec") or {}).get("selector") or {}
    fronted = [g for g in groups if g["region"] == namespace and full_name(obj) in g["loadBalancers"]]
    return {
        **_summary(account, obj),
        "type": "kubernetes",
        "spec": obj.get("spec") or {},
        "selector": selector,
        "ingress": ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [],
        "serverGroups": [
            {
                "name": g["name"],
                "account": account,
                "region": namespace,
                "isDisabled": g["disabled"],
                "instanceCounts": g["instanceCounts"],
            }
            for g in sorted(fronted, key=lambda g: g["disabled"])
        ],
    }


def manifest_view(client: KubeClient, account: str, location: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Clouddriver's manifest shape for one live object: the object, its status, events and artifacts."""
    try:
        events = client.events(location or None, obj.get("kind", ""), mf.name(obj))
    except KubernetesError:
        events = []
    return {
        "account": account,
        "location": location,
        "name": full_name(obj),
        "kind": obj.get("kind"),
        "moniker": mf.read_moniker(obj),
        "manifest": obj,
        "status": stability.status_of(obj).to_json(),
        "artifacts": discover(obj, account),
        "events": events,
        "warnings": [],
    }


def container_logs(client: KubeClient, pod: dict[str, Any], tail_lines: int | None = None) -> list[tuple[str, str]]:
    """`(container, log)` for every init and regular container of a pod, read live."""
    spec = pod.get("spec") or {}
    containers = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    return [(c, client.log(mf.namespace(pod) or "", mf.name(pod), c, tail_lines=tail_lines)) for c in containers]
