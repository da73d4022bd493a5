"""PATCH bodies: strategic merge patch, JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Server-side apply lives in `apply.py`; it shares the list merge keys defined here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import KubeError, bad_request

# Strategic-merge list fields: field name -> merge key. Lists not named here are atomic (replaced as a whole).
# Real Kubernetes takes these from struct tags; the names below cover the built-in kinds this emulator serves.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "hostAliases": "ip",
    "conditions": "type",
    "readinessGates": "conditionType",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "schedulingGates": "name",
}
# "ports" is keyed by containerPort in containers and by port in services.
PORT_KEYS = ("containerPort", "port")

# Lists of scalars merged as sets by strategic merge patch.
SET_LISTS = {"finalizers"}


def merge_key(field: str, items: list[Any]) -> str | None:
    """The merge key of list `field` given its items, or None when the list is atomic."""
    if not items or not all(isinstance(i, dict) for i in items):
        key = MERGE_KEYS.get(field)
        if field == "ports":
            return None if items else "containerPort"
        return key
    if field == "ports":
        for candidate in PORT_KEYS:
            if all(candidate in i for i in items):
                return candidate
        return None
    key = MERGE_KEYS.get(field)
    if key and all(key in i for i in items):
        return key
    return None


# Strategic merge patch ---------------------------------------------------------------------------------------------


def strategic_merge(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch body must be a JSON object")
    return _smp_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(target.get(field), list):
                target[field] = [v for v in target[field] if v not in (value or [])]
            continue
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                target.pop(key, None)
            elif isinstance(target.get(key), dict):
                target[key] = _smp_map(target[key], value)
            else:
                target[key] = _smp_map({}, value)
        elif isinstance(value, list):
            target[key] = _smp_list(key, target.get(key), value)
        else:
            target[key] = value
    if isinstance(retain, list):
        for key in list(target):
            if key not in retain:
                del target[key]
    return target


def _smp_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return _strip_directives([i for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")])
    if field in SET_LISTS and isinstance(current, list):
        return current + [v for v in patch if v not in current]
    key = merge_key(field, [i for i in patch if isinstance(i, dict) and i.get("$patch") != "delete"] or patch)
    if key is None or not isinstance(current, list):
        return _strip_directives(patch)
    result = [copy.deepcopy(i) for i in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            continue
        index = next((n for n, existing in enumerate(result) if isinstance(existing, dict)
                      and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _smp_map(result[index], item)
    return result


# JSON merge patch (RFC 7386) ---------------------------------------------------------------------------------------


def merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# JSON patch (RFC 6902) ---------------------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"the server rejected our request due to an error in our request: invalid path {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _patch_error(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise _patch_error(f"array index {index} out of bounds")
    return index


def _patch_error(message: str) -> KubeError:
    # kube-apiserver reports JSON patch failures as 422 Invalid (or 500 for some); 422 is what clients see mostly.
    return KubeError(422, "Invalid", f"the server rejected our request due to an error in our request: {message}")


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _patch_error(f"missing path component {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, False)]
        else:
            raise _patch_error(f"cannot traverse into {token!r}")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _patch_error(f"missing value at path /{'/'.join(tokens)}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, False)]
    raise _patch_error("invalid path")


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _patch_error("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _patch_error(f"unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, False))
    raise _patch_error("invalid path")


def _add(doc: Any, tokens: list[str], value: Any, replace: bool = False) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _patch_error(f"replace operation does not apply: doc is missing key: /{'/'.join(tokens)}: "
                               "missing value")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, False)] = value
        else:
            parent.insert(_index(parent, last, True), value)
    else:
        raise _patch_error("invalid path")
    return doc


def json_patch(original: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("json patch body must be a JSON array of operations")
    doc = copy.deepcopy(original)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation: {json.dumps(op)}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"missing value for JSON patch {kind} operation")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]), replace=True)
        elif kind == "test":
            if _get(doc, tokens) != op["value"]:
                raise _patch_error(f"testing value {op['path']} failed: test failed")
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            if kind == "move" and tokens[: len(source)] == source and tokens != source:
                raise _patch_error("cannot move a value into one of its children")
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, tokens, value)
        else:
            raise bad_request(f"unexpected JSON patch operation {kind!r}")
    return doc
