"""API semantics independent of HTTP: create/get/list/replace/patch/delete, subresources, garbage collection.

Both the HTTP layer and the controllers go through this class, so every write gets the same defaulting,
validation, generation/resourceVersion handling and managedFields bookkeeping.
"""

from __future__ import annotations

import base64
import builtins
import copy
import json
import uuid
from typing import Any

import yaml

from . import apply as ssa
from .defaults import Allocator, apply_defaults, as_map, check_object_type, random_suffix, validate, validate_name
from .errors import KubeError, already_exists, bad_request, conflict, invalid, not_found, unsupported_media_type
from .patch import json_patch, merge_patch, strategic_merge
from .resources import Registry, ResourceType
from .selectors import (
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)
from .store import Obj, Store, rfc3339

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
)
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Api:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.allocator = Allocator()

    # Reads ---------------------------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self._present(rt, obj)

    def _present(self, rt: ResourceType, obj: Obj) -> Obj:
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, rt.kind)
        equalities = {req.key: req.values[0] for req in labels if req.op == "="}
        selected = self.store.list(
            rt.key, namespace if rt.namespaced else None, lambda o: labels_match(labels, o) and fields(o), equalities
        )
        return [self._present(rt, o) for o in selected]

    # Create --------------------------------------------------------------------------------------------------------

    def _namespace_for(self, rt: ResourceType, obj: Obj, namespace: str | None) -> str:
        meta = obj["metadata"]
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        ns = namespace or body_ns or "default"
        meta["namespace"] = ns
        return ns

    def _require_namespace(self, ns: str) -> None:
        namespace = self.store.get(("", "namespaces"), "", ns)
        if namespace is None:
            raise not_found("namespaces", "", ns)
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            raise KubeError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {ns} because it is being terminated",
                {"name": ns, "kind": "namespaces"},
            )

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        manager: str,
        dry_run: bool = False,
        managed: bool = False,
    ) -> Obj:
        """POST. `managed` means managedFields were already computed (server-side apply)."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        check_object_type(rt, body)
        with self.store.lock:
            obj = copy.deepcopy(body)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            meta = obj.get("metadata")
            if not isinstance(meta, dict):
                meta = obj["metadata"] = {}
            ns = self._namespace_for(rt, obj, namespace)
            if rt.namespaced:
                self._require_namespace(ns)
            if meta.get("resourceVersion"):
                raise bad_request("resourceVersion should not be set on objects to be created")
            if not meta.get("name") and meta.get("generateName"):
                for _ in range(20):
                    candidate = f"{meta['generateName']}{random_suffix()}"
                    if self.store.get(rt.key, ns, candidate) is None:
                        meta["name"] = candidate
                        break
            name = str(meta.get("name") or "")
            validate_name(rt, name)
            if self.store.get(rt.key, ns, name) is not None:
                raise already_exists(rt.plural, rt.group, name)
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                          "selfLink"):
                meta.pop(field, None)
            if "status" in rt.subresources and rt.kind not in ("Namespace", "Node"):
                obj.pop("status", None)
            meta["uid"] = str(uuid.uuid4())
            apply_defaults(rt, obj, None, self.allocator)
            validate(rt, obj, None)
            if rt.kind == "CustomResourceDefinition" and self.registry.register_crd(obj) is None:
                raise invalid(rt.kind, rt.group, name, [("spec", "FieldValueRequired",
                                                         "Required value: group, names and versions")])
            if not managed:
                ssa.record_update(None, obj, manager, rt.api_version)
            if rt.kind == "CustomResourceDefinition":
                obj["status"] = _crd_status(obj)
            created = self.store.create(rt.key, obj, rt.has_generation, dry_run)
            return self._present(rt, created)

    # Update --------------------------------------------------------------------------------------------------------

    def _update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Any,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        managed: bool = False,
    ) -> Obj:
        if not isinstance(new, dict):
            raise bad_request("the body of the request must be a JSON object")
        check_object_type(rt, new)
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        name = old["metadata"]["name"]
        if meta.get("name") not in (None, name):
            raise _name_mismatch(meta.get("name"), name)
        if rt.namespaced and meta.get("namespace") not in (None, old["metadata"].get("namespace")):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"].get("resourceVersion"):
            raise conflict(rt.plural, rt.group, name)
        if meta.get("uid") not in (None, "", old["metadata"].get("uid")):
            raise conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: {meta.get('uid')}, "
                           f"UID in object meta: {old['metadata'].get('uid')}")
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            managed = True
        elif "status" in rt.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        apply_defaults(rt, new, old, self.allocator)
        validate(rt, new, old)
        if not managed:
            ssa.record_update(old, new, manager, rt.api_version)
        if rt.kind == "CustomResourceDefinition" and subresource != "status":
            if self.registry.register_crd(new) is None:
                raise invalid(rt.kind, rt.group, name, [("spec", "FieldValueRequired", "Required value")])
            new["status"] = _crd_status(new)
        with self.store.lock:
            if (old["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers")
                    and not dry_run):
                self.store.update(rt.key, old, new, rt.has_generation)
                return self._present(rt, self._remove(rt, self.store.get(rt.key, *_ident(old)) or old, "Background"))
            updated = self.store.update(rt.key, old, new, rt.has_generation, dry_run)
        return self._present(rt, updated)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        with self.store.lock:
            old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            return self._update(rt, old, body, manager, subresource, dry_run)

    def update_object(self, rt: ResourceType, obj: Obj, manager: str, subresource: str = "") -> Obj:
        """Controller helper: write `obj` back (no resourceVersion precondition unless obj carries one)."""
        return self.replace(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], obj, manager,
                            subresource)

    # Patch ---------------------------------------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        manager: str | None,
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """PATCH; returns (object, created). Only server-side apply can create."""
        content_type = content_type.split(";")[0].strip().lower()
        if content_type not in PATCH_TYPES:
            raise unsupported_media_type(content_type)
        if content_type == "application/apply-patch+cbor":
            raise unsupported_media_type(content_type)
        body = _decode_patch(raw, content_type)
        ns = namespace if rt.namespaced else ""
        with self.store.lock:
            old = self.store.get(rt.key, ns, name)
            if content_type == "application/apply-patch+yaml":
                return self._apply(rt, ns, name, old, body, manager, force, subresource, dry_run)
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            if content_type == "application/json-patch+json":
                new = json_patch(self._present(rt, copy.deepcopy(old)), body)
            elif content_type == "application/merge-patch+json":
                new = merge_patch(self._present(rt, copy.deepcopy(old)), body)
            else:
                if rt.versions:
                    raise unsupported_media_type(content_type)
                new = strategic_merge(self._present(rt, copy.deepcopy(old)), body)
            return self._update(rt, old, new, manager or "unknown", subresource, dry_run), False

    def _apply(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        old: Obj | None,
        body: Any,
        manager: str | None,
        force: bool,
        subresource: str,
        dry_run: bool,
    ) -> tuple[Obj, bool]:
        if not manager:
            raise bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for "
                              "apply patch")
        if not isinstance(body, dict):
            raise bad_request("apply patch body must be an object")
        if not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("invalid object type: apiVersion and kind must be set in an apply configuration")
        check_object_type(rt, body)
        meta = as_map(body.get("metadata"))
        if meta.get("name") not in (None, name):
            raise _name_mismatch(meta.get("name"), name)
        if subresource == "status":
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            new = copy.deepcopy(old)
            new["status"] = ssa._apply_merge(old.get("status") or {}, body.get("status") or {})
            return self._update(rt, old, new, manager, "status", dry_run), False
        if old is None:
            merged = ssa.server_side_apply(None, body, manager, force, rt.api_version, rt.plural, rt.group)
            merged.setdefault("metadata", {})["name"] = name
            if rt.namespaced:
                merged["metadata"]["namespace"] = ns
            return self.create(rt, ns, merged, manager, dry_run, managed=True), True
        applied = copy.deepcopy(body)
        if "status" in rt.subresources:
            applied.pop("status", None)
        merged = ssa.server_side_apply(old, applied, manager, force, rt.api_version, rt.plural, rt.group)
        return self._update(rt, old, merged, manager, "", dry_run, managed=True), False

    # Scale ---------------------------------------------------------------------------------------------------------

    def scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        status = obj.get("status") or {}
        selector = (obj.get("spec") or {}).get("selector")
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
                "creationTimestamp": meta.get("creationTimestamp"),
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0), "selector": selector_to_string(selector)},
        }

    def update_scale(
        self, rt: ResourceType, namespace: str, name: str, scale: Any, manager: str, dry_run: bool = False
    ) -> Obj:
        if not isinstance(scale, dict):
            raise bad_request("the body of the request must be a Scale object")
        with self.store.lock:
            old = self.store.get(rt.key, namespace, name)
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"].get("resourceVersion"):
                raise conflict(rt.plural, rt.group, name)
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise invalid("Scale", "autoscaling", name, [("spec.replicas", "FieldValueInvalid",
                                                              f"Invalid value: {replicas}: must be greater than or "
                                                              "equal to 0")])
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["replicas"] = replicas
            new["metadata"].pop("resourceVersion", None)
            updated = self._update(rt, old, new, manager, "", dry_run)
            return self.scale_of(rt, updated)

    def patch_scale(
        self, rt: ResourceType, namespace: str, name: str, content_type: str, raw: bytes, manager: str,
        dry_run: bool = False,
    ) -> Obj:
        content_type = content_type.split(";")[0].strip().lower()
        body = _decode_patch(raw, content_type)
        with self.store.lock:
            current = self.scale_of(rt, self.get(rt, namespace, name))
            if content_type == "application/json-patch+json":
                scale = json_patch(current, body)
            elif content_type in ("application/merge-patch+json", "application/apply-patch+yaml"):
                scale = merge_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json":
                scale = strategic_merge(current, body)
            else:
                raise unsupported_media_type(content_type)
            return self.update_scale(rt, namespace, name, scale, manager, dry_run)

    # Delete --------------------------------------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        options = options or {}
        ns = namespace if rt.namespaced else ""
        with self.store.lock:
            obj = self.store.get(rt.key, ns, name)
            if obj is None:
                raise not_found(rt.plural, rt.group, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
                raise conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                               f"UID in object meta: {obj['metadata'].get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"].get("resourceVersion"):
                raise conflict(rt.plural, rt.group, name)
            if rt.kind == "Namespace" and name in SYSTEM_NAMESPACES:
                raise KubeError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be '
                                "deleted", {"name": name, "kind": "namespaces"})
            policy = options.get("propagationPolicy")
            if policy is None and options.get("orphanDependents") is not None:
                policy = "Orphan" if options["orphanDependents"] else "Background"
            if policy is None:
                # batch/v1 Jobs orphan their pods by default when deleted through the API (kubectl asks Background).
                policy = "Orphan" if rt.kind == "Job" and not rt.versions else "Background"
            if policy not in ("Orphan", "Background", "Foreground"):
                raise bad_request(f"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: "
                                  f'"{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')
            if dry_run:
                return self._present(rt, obj)
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    marked = self.store.update(rt.key, obj, obj, rt.has_generation, deletion_timestamp=rfc3339())
                    self._cascade(obj, policy)
                    return self._present(rt, marked)
                return self._present(rt, obj)
            return self._present(rt, self._remove(rt, obj, policy))

    def _remove(self, rt: ResourceType, obj: Obj, policy: str) -> Obj:
        self._cascade(obj, policy)
        if rt.kind == "Namespace":
            name = obj["metadata"]["name"]
            for key in self.store.all_keys():
                other = self.registry.by_key(key)
                if other is None or not other.namespaced:
                    continue
                for child in self.store.list(key, name):
                    self.store.delete(key, child)
        if rt.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            for child in self.store.list(key):
                self.store.delete(key, child)
            self.registry.unregister(key)
        return self.store.delete(rt.key, obj)

    def _cascade(self, owner: Obj, policy: str) -> None:
        uid = owner["metadata"].get("uid")
        owner_ns = owner["metadata"].get("namespace")
        for key in self.store.all_keys():
            child_rt = self.registry.by_key(key)
            if child_rt is None:
                continue
            for child in self.store.list(key, owner_ns if owner_ns and child_rt.namespaced else None):
                refs = child["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                if policy == "Orphan" or len(refs) > 1:
                    new = copy.deepcopy(child)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._update(child_rt, child, new, "kube-controller-manager", managed=False)
                elif child["metadata"].get("finalizers"):
                    if not child["metadata"].get("deletionTimestamp"):
                        self.store.update(key, child, child, child_rt.has_generation, deletion_timestamp=rfc3339())
                else:
                    self._remove(child_rt, child, policy)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> builtins.list[Obj]:
        with self.store.lock:
            deleted = []
            for obj in self.list(rt, namespace, label_selector, field_selector):
                meta = obj["metadata"]
                deleted.append(self.delete(rt, meta.get("namespace", ""), meta["name"], options, dry_run))
            return deleted


def _name_mismatch(body_name: Any, url_name: str) -> KubeError:
    return bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({url_name})")


def _ident(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _crd_status(crd: Obj) -> Obj:
    now = rfc3339()
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }


def _decode_patch(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8") if raw else ""
    try:
        return json.loads(text)
    except ValueError:
        if content_type != "application/apply-patch+yaml":
            raise bad_request(f"error decoding patch: invalid JSON: {text[:80]!r}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from None


def decode_body(raw: bytes, content_type: str) -> Any:
    """POST/PUT bodies: JSON (or YAML). Protobuf/CBOR are rejected with 415 so clients fall back to JSON."""
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/vnd.kubernetes.protobuf", "application/cbor"):
        raise unsupported_media_type(ct)
    if not raw:
        return None
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        if ct in ("application/yaml", "application/x-yaml", "text/yaml"):
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError:
                pass
        raise bad_request("the body of the request could not be decoded as JSON") from None


def encode_continue(offset: int, rv: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "rv": rv}).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["o"]), int(data["rv"])
    except (ValueError, KeyError, TypeError):
        raise bad_request(f"invalid continue token {token!r}") from None
