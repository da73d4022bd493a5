"""Server-side apply and `metadata.managedFields`, with a simplified field-ownership model.

A field path is a tuple of FieldsV1 segments: `f:<name>` for a map field, `k:<json key>` for an item of a keyed list
(keyed by the single strategic-merge key, see `patch.MERGE_KEYS`), and a final `.` marking ownership of a list item
itself. Managers own leaf paths (scalars, atomic lists, empty maps). `status` and identity metadata are not tracked.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import KubeError
from .patch import merge_key
from .store import rfc3339

Path = tuple[str, ...]
_MISSING = object()
_TRACKED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def field_paths(obj: Any) -> dict[Path, Any]:
    """Leaf paths of an object with their values (item markers map to the item)."""
    result: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return result
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            if isinstance(value, dict):
                for meta_key in _TRACKED_METADATA:
                    if meta_key in value and value[meta_key] is not None:
                        _walk(value[meta_key], ("f:metadata", f"f:{meta_key}"), meta_key, result)
            continue
        _walk(value, (f"f:{key}",), key, result)
    return result


def _item_segment(key: str, item: dict[str, Any]) -> str:
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"), sort_keys=True)


def _walk(value: Any, prefix: Path, field: str, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            if v is not None:
                _walk(v, (*prefix, f"f:{k}"), k, out)
        return
    if isinstance(value, list) and value:
        key = merge_key(field, value)
        if key is not None and all(isinstance(i, dict) and key in i for i in value):
            for item in value:
                seg = _item_segment(key, item)
                out[(*prefix, seg, ".")] = item
                for k, v in item.items():
                    if v is not None:
                        _walk(v, (*prefix, seg, f"f:{k}"), k, out)
            return
    out[prefix] = value


def lookup(obj: Any, path: Path) -> Any:
    node = obj
    for seg in path:
        if seg == ".":
            return node
        if seg.startswith("f:"):
            if not isinstance(node, dict) or seg[2:] not in node:
                return _MISSING
            node = node[seg[2:]]
        elif seg.startswith("k:"):
            if not isinstance(node, list):
                return _MISSING
            wanted = json.loads(seg[2:])
            node = next((i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())),
                        _MISSING)
            if node is _MISSING:
                return _MISSING
    return node


def _remove(obj: Any, path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    parent = lookup(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        wanted = json.loads(last[2:])
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items()))]


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for seg in path:
            node = node.setdefault(seg, {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(tree, dict):
        return paths
    for seg, sub in tree.items():
        if seg == ".":
            paths.add((*prefix, "."))
        elif isinstance(sub, dict) and sub:
            paths |= from_fields_v1(sub, (*prefix, seg))
        else:
            paths.add((*prefix, seg))
    return paths


def _dotted(path: Path) -> str:
    out = ""
    for seg in path:
        if seg == ".":
            continue
        if seg.startswith("f:"):
            out += f".{seg[2:]}"
        else:
            key = json.loads(seg[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]"
    return out


class _Entry:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = {k: v for k, v in raw.items() if k != "fieldsV1"}
        self.paths = from_fields_v1(raw.get("fieldsV1") or {})

    @property
    def manager(self) -> str:
        return str(self.raw.get("manager", ""))

    @property
    def operation(self) -> str:
        return str(self.raw.get("operation", ""))

    def render(self) -> dict[str, Any]:
        out = dict(self.raw)
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.paths)
        return out


def _entries(obj: dict[str, Any] | None) -> list[_Entry]:
    return [_Entry(e) for e in ((obj or {}).get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


def _entry_for(entries: list[_Entry], manager: str, operation: str, api_version: str) -> _Entry:
    for entry in entries:
        if entry.manager == manager and entry.operation == operation and not entry.raw.get("subresource"):
            entry.raw["apiVersion"] = api_version
            return entry
    entry = _Entry({"manager": manager, "operation": operation, "apiVersion": api_version})
    entries.append(entry)
    return entry


def _finish(obj: dict[str, Any], entries: list[_Entry], touched: _Entry | None) -> None:
    present = set(field_paths(obj))
    for entry in entries:
        entry.paths &= present
    if touched is not None:
        touched.raw["time"] = rfc3339()
    kept = [e.render() for e in entries if e.paths]
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str) -> None:
    """Give `manager` (operation Update) ownership of every field the write changed; others lose those fields."""
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent == [{}]:
        entries: list[_Entry] = []
    elif sent and sent != (old or {}).get("metadata", {}).get("managedFields"):
        entries = _entries(new)
    else:
        entries = _entries(old)
    old_paths = field_paths(old) if old else {}
    changed = {p for p, v in field_paths(new).items() if old_paths.get(p, _MISSING) != v}
    touched = None
    if changed:
        for entry in entries:
            entry.paths -= changed
        touched = _entry_for(entries, manager, "Update", api_version)
        touched.paths |= changed
    _finish(new, entries, touched)


def _apply_merge(live: Any, applied: Any, field: str = "") -> Any:
    if isinstance(applied, dict) and isinstance(live, dict):
        result = dict(live)
        for k, v in applied.items():
            if v is None:
                continue
            result[k] = _apply_merge(live.get(k), v, k) if k in live else copy.deepcopy(v)
        return result
    if isinstance(applied, list) and isinstance(live, list):
        key = merge_key(field, applied)
        if key is not None and all(isinstance(i, dict) and key in i for i in applied + live):
            result_list = [copy.deepcopy(i) for i in live]
            for item in applied:
                index = next((n for n, cur in enumerate(result_list) if cur.get(key) == item[key]), None)
                if index is None:
                    result_list.append(copy.deepcopy(item))
                else:
                    result_list[index] = _apply_merge(result_list[index], item, field)
            return result_list
    return copy.deepcopy(applied)


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str,
    force: bool,
    api_version: str,
    plural: str,
    group: str,
) -> dict[str, Any]:
    """Merge an applied configuration into `live` (None to create) and return the new object with managedFields.

    Raises 409 Conflict when another manager owns a field the configuration sets to a different value, unless
    `force` is true, in which case ownership moves to `manager`.
    """
    live_obj: dict[str, Any] = live or {}
    entries = _entries(live)
    applied_paths = field_paths(applied)
    conflicts: list[tuple[Path, str]] = []
    for path, value in applied_paths.items():
        if path[-1] == ".":
            continue
        current = lookup(live_obj, path)
        if current is _MISSING or current == value:
            continue
        for entry in entries:
            if entry.manager == manager and entry.operation == "Apply":
                continue
            if any(owned[: len(path)] == path for owned in entry.paths):
                who = f'"{entry.manager}"' + (f" using {entry.raw['apiVersion']}" if entry.raw.get("apiVersion")
                                              else "")
                conflicts.append((path, who))
    if conflicts and not force:
        name = (applied.get("metadata") or {}).get("name", "")
        if len(conflicts) == 1:
            path, who = conflicts[0]
            message = f"Apply failed with 1 conflict: conflict with {who}: {_dotted(path)}"
        else:
            lines = [f"conflict with {who}: {_dotted(path)}" for path, who in conflicts]
            message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
        details: dict[str, Any] = {
            "name": name,
            "kind": plural,
            "causes": [
                {"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": _dotted(path)}
                for path, who in conflicts
            ],
        }
        if group:
            details["group"] = group
        raise KubeError(409, "Conflict", message, details)
    for path, _ in conflicts:
        for entry in entries:
            if not (entry.manager == manager and entry.operation == "Apply"):
                entry.paths = {p for p in entry.paths if p[: len(path)] != path}

    mine = _entry_for(entries, manager, "Apply", api_version)
    previous = set(mine.paths)
    merged = _apply_merge(copy.deepcopy(live_obj), applied)
    for key in ("apiVersion", "kind"):
        if key in applied:
            merged[key] = applied[key]
    others = set().union(*(e.paths for e in entries if e is not mine))
    for path in sorted(previous - set(applied_paths), key=len, reverse=True):
        if any(o[: len(path[:-1] if path[-1] == "." else path)] == (path[:-1] if path[-1] == "." else path)
               for o in others):
            continue
        if lookup(merged, path) is not _MISSING:
            _remove(merged, path)
    mine.paths = set(applied_paths)
    _finish(merged, entries, mine)
    return merged

