"""Artifact binding: put pool artifacts into the manifest fields that refer to them (kubernetes.md §1.8).

Each kind of reference (a container image, a ConfigMap volume, an HPA target, …) is a `Slot`: a
dictionary and the key holding the name. Binding replaces a slot's value with an artifact's
`reference` when the value names the artifact; discovery reads the same slots the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gennaker.providers.kubernetes import manifest as mf


@dataclass(slots=True)
class Slot:
    artifact_type: str
    holder: dict[str, Any]
    key: str

    @property
    def value(self) -> str | None:
        value = self.holder.get(self.key)
        return value if isinstance(value, str) else None


def _pod_specs(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if manifest.get("kind") == "Pod":
        spec = manifest.get("spec")
        if isinstance(spec, dict):
            yield spec
        return
    template = mf.pod_template(manifest)
    if template and isinstance(template.get("spec"), dict):
        yield template["spec"]


def _containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            if isinstance(container, dict):
                yield container


def slots(manifest: dict[str, Any]) -> Iterator[Slot]:
    """Every field of `manifest` that may name an artifact."""
    for pod_spec in _pod_specs(manifest):
        for container in _containers(pod_spec):
            if "image" in container:
                yield Slot("docker/image", container, "image")
            yield from _env_slots(container)
        yield from _volume_slots(pod_spec)
    if manifest.get("kind") == "HorizontalPodAutoscaler":
        target = (manifest.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") in ("Deployment", "ReplicaSet"):
            yield Slot(f"kubernetes/{target['kind'][0].lower()}{target['kind'][1:]}", target, "name")


def _env_slots(container: dict[str, Any]) -> Iterator[Slot]:
    for env in container.get("env") or []:
        value_from = (env or {}).get("valueFrom") or {}
        if isinstance(value_from.get("configMapKeyRef"), dict):
            yield Slot("kubernetes/configMap", value_from["configMapKeyRef"], "name")
        if isinstance(value_from.get("secretKeyRef"), dict):
            yield Slot("kubernetes/secret", value_from["secretKeyRef"], "name")
    for source in container.get("envFrom") or []:
        if isinstance((source or {}).get("configMapRef"), dict):
            yield Slot("kubernetes/configMap", source["configMapRef"], "name")
        if isinstance((source or {}).get("secretRef"), dict):
            yield Slot("kubernetes/secret", source["secretRef"], "name")


def _volume_slots(pod_spec: dict[str, Any]) -> Iterator[Slot]:
    for volume in pod_spec.get("volumes") or []:
        if isinstance((volume or {}).get("configMap"), dict):
            yield Slot("kubernetes/configMap", volume["configMap"], "name")
        if isinstance((volume or {}).get("secret"), dict):
            yield Slot("kubernetes/secret", volume["secret"], "secretName")
        for source in ((volume or {}).get("projected") or {}).get("sources") or []:
            if isinstance((source or {}).get("configMap"), dict):
                yield Slot("kubernetes/configMap", source["configMap"], "name")
            if isinstance((source or {}).get("secret"), dict):
                yield Slot("kubernetes/secret", source["secret"], "name")


def image_name(image: str) -> str:
    """An image reference without its tag or digest: `gcr.io/p/img:1.0` → `gcr.io/p/img`."""
    if "@" in image:
        return image.split("@", 1)[0]
    last_colon, last_slash = image.rfind(":"), image.rfind("/")
    return image[:last_colon] if last_colon > last_slash else image


def _matches(slot: Slot, artifact: dict[str, Any]) -> bool:
    value = slot.value
    if value is None or artifact.get("type") != slot.artifact_type:
        return False
    if slot.artifact_type == "docker/image":
        return image_name(value) == artifact.get("name") or value == artifact.get("name")
    return value == artifact.get("name")


def eligible(artifact: dict[str, Any], namespace: str | None, account: str) -> bool:
    """Kubernetes artifacts bind only within their namespace and account; others bind anywhere."""
    kind = str(artifact.get("type") or "")
    if not kind:
        return False
    if not kind.startswith("kubernetes/"):
        return True
    target_account = (artifact.get("metadata") or {}).get("account")
    return (artifact.get("location") or "") == (namespace or "") and target_account in (None, "", account)


def bind(
    manifest: dict[str, Any], pool: Iterable[dict[str, Any]], account: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    """Replace references in `manifest` (in place); returns the artifacts that replaced at least one field."""
    namespace = namespace or mf.namespace(manifest)
    candidates = [a for a in pool if eligible(a, namespace, account)]
    bound: list[dict[str, Any]] = []
    for slot in list(slots(manifest)):
        for artifact in candidates:
            if _matches(slot, artifact):
                slot.holder[slot.key] = artifact.get("reference")
                if artifact not in bound:
                    bound.append(artifact)
                break
    return bound


def discover(manifest: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """The artifacts a manifest refers to: images, ConfigMaps, Secrets, HPA targets (kubernetes.md §4.7)."""
    found: list[dict[str, Any]] = []
    for slot in slots(manifest):
        value = slot.value
        if not value:
            continue
        if slot.artifact_type == "docker/image":
            artifact: dict[str, Any] = {"type": "docker/image", "name": image_name(value), "reference": value}
        else:
            artifact = {
                "type": slot.artifact_type,
                "name": value,
                "reference": value,
                "location": mf.namespace(manifest) or "",
                "metadata": {"account": account},
            }
        if artifact not in found:
            found.append(artifact)
    return found


def pool_key(artifact: dict[str, Any]) -> tuple[str, str, str]:
    """Binding pool identity: `[type]-[name]-[location]`."""
    return (str(artifact.get("type") or ""), str(artifact.get("name") or ""), str(artifact.get("location") or ""))
