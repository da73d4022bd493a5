"""Object storage: resourceVersion, uid, creationTimestamp, generation, and the watch event history.

Every write bumps one global, integer resourceVersion (rendered as a string, as in etcd). Stored objects are
private copies that are never mutated in place, so watch events can share them; readers get deep copies.
"""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import gone

Key = tuple[str, str]  # (group, plural)
Obj = dict[str, Any]


def rfc3339(ts: float | None = None) -> str:
    """Second precision, 'Z' suffix: the format Kubernetes uses for metav1.Time."""
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: Key
    obj: Obj
    old: Obj | None  # the previous state for MODIFIED/DELETED (used for selector transitions)


def desired_state(obj: Obj) -> Obj:
    """What metadata.generation tracks: everything except metadata and status (for built-ins: the spec)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


class Store:
    def __init__(self, history: int = 20000, initial_rv: int = 100) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        # (label, value) -> (namespace, name) of the objects carrying it, per kind: answers `a=b` selectors without a
        # scan (results are the same; a real API server scans its watch cache in compiled code, far faster than here).
        self._labelled: dict[Key, dict[tuple[str, str], set[tuple[str, str]]]] = {}
        self._order: dict[str, int] = {}  # uid -> creation sequence (stable tiebreak for equal timestamps)
        self._sequence = itertools.count()
        self._rv = initial_rv
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = initial_rv  # events at or before this rv are no longer available
        self.closed = False
        self.listeners: list[Callable[[WatchEvent], None]] = []

    # Reads ---------------------------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def get(self, key: Key, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        key: Key,
        namespace: str | None = None,
        where: Callable[[Obj], bool] | None = None,
        labelled: dict[str, str] | None = None,
    ) -> list[Obj]:
        """Objects in creation order (stable tiebreak for equal creationTimestamps). `where` filters before the
        copy, as an API server applies selectors before it serializes; `labelled` (label values every listed object
        has, the equalities of a selector) narrows the candidates through the label index first."""
        with self.lock:
            bucket = self._objects.get(key, {})
            names: Iterable[tuple[str, str]] = bucket
            if labelled:
                index = self._labelled.get(key, {})
                names = set.intersection(*(index.get(pair, set()) for pair in labelled.items()))
            candidates = (bucket[ns, name] for ns, name in names if namespace is None or ns == namespace)
            objs = [o for o in candidates if where is None or where(o)]
            objs.sort(key=lambda o: self._order.get(o["metadata"].get("uid", ""), 0))
            return copy.deepcopy(objs)

    def all_keys(self) -> builtins.list[Key]:
        with self.lock:
            return list(self._objects)

    def creation_order(self, obj: Obj) -> int:
        return self._order.get((obj.get("metadata") or {}).get("uid", ""), 0)

    # Writes --------------------------------------------------------------------------------------------------------

    def _commit(self, key: Key, event_type: str, obj: Obj, old: Obj | None) -> Obj:
        self._rv += 1
        _meta(obj)["resourceVersion"] = str(self._rv)
        ns = obj["metadata"].get("namespace", "")
        name = obj["metadata"]["name"]
        bucket = self._objects.setdefault(key, {})
        index = self._labelled.setdefault(key, {})
        previous = bucket.pop((ns, name), None)
        for pair in _label_pairs(previous):
            holders = index.get(pair, set())
            holders.discard((ns, name))
            if not holders:
                index.pop(pair, None)
        if event_type != "DELETED":
            bucket[(ns, name)] = obj
            for pair in _label_pairs(obj):
                index.setdefault(pair, set()).add((ns, name))
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        event = WatchEvent(self._rv, event_type, key, obj, old)
        self._history.append(event)
        for listener in self.listeners:
            listener(event)
        self.changed.notify_all()
        return copy.deepcopy(obj)

    def create(self, key: Key, obj: Obj, has_generation: bool, dry_run: bool = False) -> Obj:
        """Store a new object (caller checked it doesn't exist). Sets uid, creationTimestamp, generation."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = _meta(obj)
            meta["uid"] = meta.get("uid") or str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339()
            if has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            meta.pop("deletionTimestamp", None)
            if dry_run:
                meta["resourceVersion"] = str(self._rv)
                return obj
            self._order[meta["uid"]] = next(self._sequence)
            return self._commit(key, "ADDED", obj, None)

    def update(
        self,
        key: Key,
        old: Obj,
        new: Obj,
        has_generation: bool,
        dry_run: bool = False,
        deletion_timestamp: str | None = None,
    ) -> Obj:
        """Replace `old` by `new` (identity metadata is preserved). A no-op update changes nothing and emits no
        event, as on a real API server. `generation` increases only when the desired state changes."""
        with self.lock:
            new = copy.deepcopy(new)
            meta, old_meta = _meta(new), old["metadata"]
            for field in ("uid", "creationTimestamp", "name", "namespace", "deletionTimestamp"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if deletion_timestamp is not None:
                meta["deletionTimestamp"] = deletion_timestamp
                meta["deletionGracePeriodSeconds"] = 0
            if has_generation:
                generation = int(old_meta.get("generation", 1))
                if desired_state(new) != desired_state(old):
                    generation += 1
                meta["generation"] = generation
            else:
                meta.pop("generation", None)
            meta["resourceVersion"] = old_meta.get("resourceVersion")
            if _same_ignoring_managed_time(new, old) or dry_run:
                return copy.deepcopy(old) if not dry_run else new
            return self._commit(key, "MODIFIED", new, old)

    def delete(self, key: Key, obj: Obj, dry_run: bool = False) -> Obj:
        with self.lock:
            current = self._objects.get(key, {}).get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
            if current is None:
                return copy.deepcopy(obj)
            if dry_run:
                return copy.deepcopy(current)
            self._order.pop(current["metadata"].get("uid", ""), None)
            return self._commit(key, "DELETED", copy.deepcopy(current), current)

    # Watch ---------------------------------------------------------------------------------------------------------

    def events_after(self, rv: int) -> builtins.list[WatchEvent]:
        """Events with resourceVersion > rv. Raises 410 Expired when the history no longer reaches back to rv."""
        with self.lock:
            if rv < self._compacted_rv:
                raise gone(f"too old resource version: {rv} ({self._compacted_rv + 1})")
            if not self._history or self._history[-1].rv <= rv:
                return []
            # History is ordered by rv; scan from the end (watchers are usually close to the head).
            result: builtins.list[WatchEvent] = []
            for event in reversed(self._history):
                if event.rv <= rv:
                    break
                result.append(event)
            result.reverse()
            return result

    def wait(self, rv: int, timeout: float) -> None:
        """Block until something newer than `rv` is stored, the store closes, or `timeout` passes."""
        with self.lock:
            if self._rv <= rv and not self.closed:
                self.changed.wait(timeout)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()


def _label_pairs(obj: Obj | None) -> list[tuple[str, str]]:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return [(str(k), str(v)) for k, v in labels.items()] if isinstance(labels, dict) else []


def _same_ignoring_managed_time(a: Obj, b: Obj) -> bool:
    def strip(o: Obj) -> Obj:
        o = dict(o)
        meta = dict(o.get("metadata") or {})
        meta["managedFields"] = [
            {k: v for k, v in entry.items() if k != "time"} for entry in meta.get("managedFields") or []
        ]
        o["metadata"] = meta
        return o

    return strip(a) == strip(b)
