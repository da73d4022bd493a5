"""Reading and writing Spinnaker's annotations and labels on a manifest (kubernetes.md §1.5-§1.7).

Annotations are "first writer wins": a value already in the manifest is kept, so users can set their
own cluster name in YAML. They go on the object and on its pod template, so pods carry them too.
"""

from __future__ import annotations

import json
import re
from typing import Any

MONIKER = "moniker.spinnaker.io/"
ARTIFACT = "artifact.spinnaker.io/"
STRATEGY = "strategy.spinnaker.io/"
LOAD_BALANCERS = "traffic.spinnaker.io/load-balancers"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MANAGED_BY = "app.kubernetes.io/managed-by"
APP_NAME = "app.kubernetes.io/name"
REVISION = "deployment.kubernetes.io/revision"
MONIKER_FIELDS = ("application", "cluster", "stack", "detail", "sequence")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only ("²" is a digit to str.isdigit), and bounded


def whole_number(value: Any) -> int | None:
    """`value` (an annotation, a form field) as a whole number, or None when it is not one."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


def optional_whole_number(value: Any) -> int | None:
    """`value` as a whole number, None when absent or empty; a ValueError saying why for anything else (a typo
    must not read as "not given")."""
    if value is None or value == "":
        return None
    number = whole_number(value)
    if number is None:
        raise ValueError(f"must be a whole number, not {str(value)[:40]!r}")
    return number


def metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest.setdefault("metadata", {})


def annotations_of(manifest: dict[str, Any]) -> dict[str, str]:
    return (manifest.get("metadata") or {}).get("annotations") or {}


def labels_of(manifest: dict[str, Any]) -> dict[str, str]:
    return (manifest.get("metadata") or {}).get("labels") or {}


def name(manifest: dict[str, Any]) -> str:
    return str((manifest.get("metadata") or {}).get("name") or "")


def namespace(manifest: dict[str, Any]) -> str | None:
    return (manifest.get("metadata") or {}).get("namespace")


def pod_template(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template (`spec.template`, or a CronJob's `spec.jobTemplate.spec.template`), if any."""
    spec = manifest.get("spec") or {}
    if "template" in spec:
        return spec["template"]
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return job_spec.get("template")


def pod_labels(manifest: dict[str, Any]) -> dict[str, str]:
    """The labels its pods get: the pod template's, or the object's own for a Pod."""
    template = pod_template(manifest)
    meta = (template.get("metadata") or {}) if template is not None else (manifest.get("metadata") or {})
    return meta.get("labels") or {}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a non-empty Service selector matches these labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def _annotation_targets(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    template = pod_template(manifest)
    return [metadata(manifest)] + ([template.setdefault("metadata", {})] if template is not None else [])


def annotate(manifest: dict[str, Any], values: dict[str, str], *, overwrite: bool = False) -> None:
    """Set annotations on the object and its pod template; existing values win unless `overwrite`."""
    for meta in _annotation_targets(manifest):
        existing = meta.get("annotations") or {}
        for key, value in values.items():
            if overwrite or key not in existing:
                existing[key] = value
        meta["annotations"] = existing


def label(manifest: dict[str, Any], values: dict[str, str], *, overwrite: bool, template: bool = True) -> None:
    targets = _annotation_targets(manifest) if template else [metadata(manifest)]
    for meta in targets:
        existing = meta.get("labels") or {}
        for key, value in values.items():
            if overwrite or key not in existing:
                existing[key] = value
        meta["labels"] = existing


def app_label(manifest: dict[str, Any], app: str | None = None) -> str | None:
    """The `app.kubernetes.io/name` label the object carries once deployed (its own value wins, else the moniker
    app), when it is a value a label selector can name; objects are found by it rather than by reading a namespace."""
    return selectable_label(manifest, APP_NAME, app)


def selectable_label(manifest: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """The object's label `key` (else `default`) when a label selector can name it: a non-empty label value."""
    value = labels_of(manifest).get(key, default)
    return value if isinstance(value, str) and value and LABEL_VALUE.fullmatch(value) else None


def write_moniker(
    manifest: dict[str, Any],
    moniker: dict[str, Any],
    *,
    skip_template_labels: bool = False,
    managed_by: str = "spinnaker",
) -> None:
    """Moniker annotations (first writer wins) and the reserved labels (kubernetes.md §1.6)."""
    values = {}
    for field in MONIKER_FIELDS:
        value = moniker.get("app" if field == "application" else field)
        if value not in (None, ""):
            values[MONIKER + field] = str(value)
    annotate(manifest, values)
    app = moniker.get("app")
    template = not skip_template_labels
    if app:
        label(manifest, {APP_NAME: str(app)}, overwrite=False, template=template)
    label(manifest, {MANAGED_BY: managed_by}, overwrite=True, template=template)
    if moniker.get("sequence") is not None:
        label(manifest, {MONIKER + "sequence": str(moniker["sequence"])}, overwrite=True, template=template)


def read_moniker(manifest: dict[str, Any]) -> dict[str, Any]:
    """The moniker a manifest carries; a ReplicaSet without a sequence takes its Deployment revision."""
    values = annotations_of(manifest)
    moniker: dict[str, Any] = {
        "app": values.get(MONIKER + "application"),
        "cluster": values.get(MONIKER + "cluster"),
    }
    for field in ("stack", "detail"):
        if values.get(MONIKER + field):
            moniker[field] = values[MONIKER + field]
    sequence = values.get(MONIKER + "sequence")
    if sequence is None and manifest.get("kind") == "ReplicaSet":
        sequence = values.get(REVISION)
    if (number := whole_number(sequence)) is not None:
        moniker["sequence"] = number
    return moniker


def write_artifact(manifest: dict[str, Any], artifact: dict[str, Any]) -> None:
    annotate(
        manifest,
        {
            ARTIFACT + "type": artifact["type"],
            ARTIFACT + "name": artifact["name"],
            ARTIFACT + "location": artifact.get("location") or "",
            ARTIFACT + "version": artifact.get("version") or "",
        },
    )


def version_number(manifest: dict[str, Any]) -> int | None:
    version = annotations_of(manifest).get(ARTIFACT + "version") or ""
    return whole_number(version[1:]) if version.startswith("v") else None


def strategy(manifest: dict[str, Any], key: str) -> str | None:
    value = annotations_of(manifest).get(STRATEGY + key)
    return None if value is None else str(value)


def load_balancers(manifest: dict[str, Any]) -> list[str]:
    """The `traffic.spinnaker.io/load-balancers` list, each `"service <name>"` (kubernetes.md §3.3)."""
    raw = annotations_of(manifest).get(LOAD_BALANCERS)
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{LOAD_BALANCERS} must be a JSON list of '<kind> <name>' strings: {error}") from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ValueError(f"{LOAD_BALANCERS} must be a JSON list of '<kind> <name>' strings")
    return parsed


def last_applied(manifest: dict[str, Any]) -> dict[str, Any] | None:
    raw = annotations_of(manifest).get(LAST_APPLIED)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def without_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest minus `metadata` (and status), as version reuse compares them (kubernetes.md §1.4)."""
    return {k: v for k, v in manifest.items() if k not in ("metadata", "status")}


# Fields the API server owns; an edited copy of a live object leaves them out so it can be applied again.
SERVER_OWNED_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


def editable(live: dict[str, Any]) -> dict[str, Any]:
    """A live object as a manifest to edit and deploy again: no status, no server-owned metadata."""
    manifest = {k: v for k, v in live.items() if k != "status"}
    meta = {k: v for k, v in (live.get("metadata") or {}).items() if k not in SERVER_OWNED_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    manifest["metadata"] = meta
    return manifest
