"""Deploy (Manifest): prepare each manifest the way Spinnaker does, then submit it (kubernetes.md §1.3 to §1.10).

Preparation is sequential in deploy-priority order, so a ConfigMap versioned to `cfg-v004` is bound
into the Deployment that mounts `cfg` in the same request. Every decision (versions, source
capacity, Service selectors) reads the cluster live.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any

from gennaker.providers.kubernetes import binding, selectors, traffic
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.client import KubeClient, KubernetesError
from gennaker.providers.kubernetes.kinds import CUSTOM_RESOURCE_PRIORITY, KindInfo, full_name, kind_info
from gennaker.providers.kubernetes.operations import artifact_versions

RED_BLACK = ("RED_BLACK", "BLUE_GREEN")


class DeployError(Exception):
    """A deploy that cannot go ahead; the message is the stage's error."""


@dataclass
class DeployRequest:
    manifests: list[dict[str, Any]]
    moniker: dict[str, Any]
    required_artifacts: list[dict[str, Any]] = field(default_factory=list)
    optional_artifacts: list[dict[str, Any]] = field(default_factory=list)
    versioned: bool | None = None
    namespace_override: str | None = None
    enable_artifact_binding: bool = True
    enable_traffic: bool = True
    services: list[str] = field(default_factory=list)
    strategy: str = "NONE"
    skip_spec_template_labels: bool = False
    # Jobs are immutable, so Run Job deletes and re-creates (kubernetes.md §4.8).
    force_recreate: bool = False
    # Deploy only the manifests whose labels match (`kubectl apply -l`), Spinnaker's selector object.
    label_selectors: dict[str, Any] | None = None
    allow_nothing_selected: bool = False


@dataclass
class DeployResult:
    manifests: list[dict[str, Any]] = field(default_factory=list)
    manifest_names_by_namespace: dict[str, list[str]] = field(default_factory=dict)
    created_artifacts: list[dict[str, Any]] = field(default_factory=list)
    bound_artifacts: list[dict[str, Any]] = field(default_factory=list)

    def outputs(self) -> dict[str, Any]:
        """The stage outputs Orca promotes (kubernetes.md §1.10)."""
        return {
            "manifests": self.manifests,
            "manifestNamesByNamespace": self.manifest_names_by_namespace,
            "boundArtifacts": self.bound_artifacts,
            "createdArtifacts": self.created_artifacts,
            "artifacts": self.created_artifacts,
        }


def expand(manifests: list[Any], namespace_override: str | None) -> list[dict[str, Any]]:
    """Flatten `kind: List` documents, drop empty ones, apply the namespace override to namespaced kinds."""
    expanded: list[dict[str, Any]] = []
    for document in manifests:
        if not document:
            continue
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise DeployError("every manifest must be a mapping with apiVersion and kind")
        items = (document.get("items") or []) if document["kind"] == "List" else [document]
        for item in items:
            item = copy.deepcopy(item)
            if namespace_override and kind_info(item["apiVersion"], item["kind"]).namespaced:
                mf.metadata(item)["namespace"] = namespace_override
            expanded.append(item)
    return expanded


class Deployer:
    def __init__(self, client: KubeClient):
        self.client = client
        self.account = client.account
        self.default_namespace = client.default_namespace
        self._bound: list[dict[str, Any]] = []
        self._request_services: dict[str, dict[str, Any]] = {}

    def deploy(self, request: DeployRequest) -> DeployResult:
        prepared = self.prepare(request)
        result = DeployResult()
        for manifest, info, created in prepared:
            deployed = self.submit(manifest, info, request.force_recreate)
            if deployed.get("kind") == "Secret":
                deployed.pop("data", None)
                deployed.pop("stringData", None)
            namespace = mf.namespace(deployed) or ""
            result.manifests.append(deployed)
            result.manifest_names_by_namespace.setdefault(namespace, []).append(full_name(deployed))
            created["reference"] = mf.name(deployed)
            result.created_artifacts.append(created)
        result.bound_artifacts = self._bound
        return result

    # -- preparation -------------------------------------------------------------------------------
    def prepare(self, request: DeployRequest) -> list[tuple[dict[str, Any], KindInfo, dict[str, Any]]]:
        manifests = self._selected(expand(request.manifests, request.namespace_override), request)
        if not request.moniker.get("app"):
            raise DeployError("Every resource deployed via spinnaker must be assigned a moniker (moniker.app)")
        infos = [(m, self._info(m)) for m in manifests]
        for manifest, info in infos:
            self._validate(manifest, info)
        infos.sort(key=lambda pair: pair[1].priority)
        pool: dict[tuple[str, str, str], dict[str, Any]] = {}
        if request.enable_artifact_binding:
            for artifact in request.required_artifacts + request.optional_artifacts:
                pool.setdefault(binding.pool_key(artifact), artifact)
        self._bound = []
        self._request_services = {mf.name(m): m for m, info in infos if info.kind == "Service"}
        prepared = []
        for manifest, info in infos:
            created = self._prepare_one(manifest, info, request, pool)
            prepared.append((manifest, info, created))
        missing = [a for a in request.required_artifacts if a not in self._bound]
        if missing:
            keys = ", ".join("-".join(binding.pool_key(a)) for a in missing)
            raise DeployError(
                f"The following required artifacts could not be bound: '{keys}'. Check that the Docker image name "
                "above matches the name used in the image field of your manifest. Failing the stage as this is "
                "likely a configuration error."
            )
        return prepared

    def _selected(self, manifests: list[dict[str, Any]], request: DeployRequest) -> list[dict[str, Any]]:
        """The manifests a label selector keeps (kubernetes.md §1.3 steps 4 and 6)."""
        if not request.label_selectors:
            return manifests
        if any(mf.strategy(m, "replace") == "true" for m in manifests):
            raise DeployError("label selectors not supported with replace strategy, not deploying")
        try:
            kept = [m for m in manifests if selectors.matches(request.label_selectors, mf.labels_of(m))]
        except selectors.SelectorError as error:
            raise DeployError(str(error)) from None
        if not kept and not request.allow_nothing_selected:
            raise DeployError(
                f"nothing deployed to account {self.account.name} with label selector(s) "
                f"{json.dumps(request.label_selectors.get('selectors') or [])}"
            )
        return kept

    def _validate(self, manifest: dict[str, Any], info: KindInfo) -> None:
        if not mf.name(manifest) and not mf.metadata(manifest).get("generateName"):
            raise DeployError(f"{manifest['kind']} has no metadata.name")
        if info.namespaced and not mf.namespace(manifest):
            mf.metadata(manifest)["namespace"] = self.default_namespace
        problem = self.account.allows_namespace(mf.namespace(manifest) if info.namespaced else None)
        problem = problem or self.account.allows_kind(manifest["kind"])
        if problem:
            raise DeployError(problem)

    def _info(self, manifest: dict[str, Any]) -> KindInfo:
        """Built-in facts, or for a custom resource the account's settings and the CRD's scope."""
        info = kind_info(manifest["apiVersion"], manifest["kind"])
        if info.priority != CUSTOM_RESOURCE_PRIORITY:
            return info
        custom = self.account.custom_resource(manifest["kind"])
        try:
            namespaced = self.client.is_namespaced(manifest["apiVersion"], manifest["kind"])
        except KubernetesError:
            namespaced = custom.namespaced if custom is not None else True
        return KindInfo(
            info.kind,
            info.name,
            info.api_version,
            namespaced=namespaced,
            priority=custom.deploy_priority if custom is not None else info.priority,
            versioned=custom.versioned if custom is not None else False,
        )

    def _prepare_one(
        self,
        manifest: dict[str, Any],
        info: KindInfo,
        request: DeployRequest,
        pool: dict[tuple[str, str, str], dict[str, Any]],
    ) -> dict[str, Any]:
        history = mf.whole_number(mf.strategy(manifest, "max-version-history"))
        if request.strategy in RED_BLACK and history is not None and history < 2:
            raise DeployError(
                "The max version history specified in your manifest conflicts with the behavior of the Red/Black "
                "rollout strategy. Please update your strategy.spinnaker.io/max-version-history annotation to a "
                "value greater than or equal to 2."
            )
        for artifact in binding.bind(manifest, pool.values(), self.account.name):
            if artifact not in self._bound:
                self._bound.append(artifact)
        base_name = mf.name(manifest)
        moniker = dict(request.moniker)
        moniker.setdefault("cluster", full_name(manifest) if base_name else None)
        if not moniker["cluster"]:
            moniker.pop("cluster")
        self._traffic(manifest, info, request)
        versioned = bool(base_name) and self._versioned(manifest, info, request)
        live_versions = self._live_versions(manifest, base_name, str(moniker["app"])) if versioned else None
        self._use_source_capacity(manifest, info, live_versions)
        version = self._version(manifest, info, request, moniker, live_versions) if live_versions is not None else None
        if version is not None:
            moniker["sequence"] = version
        self._decorate(manifest, info, request, moniker, version)
        created = {
            **_artifact(manifest, info, base_name, version),
            "reference": mf.name(manifest),
            "metadata": {"account": self.account.name},
            "customKind": False,
        }
        pool[binding.pool_key(created)] = created
        return created

    def _versioned(self, manifest: dict[str, Any], info: KindInfo, request: DeployRequest) -> bool:
        annotation = mf.strategy(manifest, "versioned")
        if annotation is not None:
            return annotation.lower() == "true"
        if request.versioned is not None:
            return request.versioned
        return info.versioned

    def _decorate(
        self,
        manifest: dict[str, Any],
        info: KindInfo,
        request: DeployRequest,
        moniker: dict[str, Any],
        version: int | None,
    ) -> None:
        """Artifact and moniker annotations, reserved labels, the versioned name, last-applied configuration."""
        base_name = mf.name(manifest)
        artifact = _artifact(manifest, info, base_name, version)
        mf.write_artifact(manifest, artifact)
        mf.write_moniker(manifest, moniker, skip_template_labels=request.skip_spec_template_labels)
        if version is not None:
            mf.metadata(manifest)["name"] = f"{base_name}-{artifact['version']}"
        annotations = mf.metadata(manifest).setdefault("annotations", {})
        annotations.pop(mf.LAST_APPLIED, None)
        annotations[mf.LAST_APPLIED] = json.dumps(manifest, sort_keys=True, separators=(",", ":"))

    def _live_versions(self, manifest: dict[str, Any], base_name: str, app: str) -> list[dict[str, Any]]:
        """The artifact's live versions, found by the app label the deploy writes, then checked by name: an object
        the label misses (deployed under another app label, or by a tool that writes no labels) may hold the next
        version's name, and then the whole namespace is read, as Spinnaker does, rather than overwrite it."""
        label = mf.app_label(manifest, app)
        found = artifact_versions(self.client, manifest, base_name, label)
        if label is None:
            return found
        following = max((v for item in found if (v := mf.version_number(item)) is not None), default=-1) + 1
        name = f"{base_name}-{_version_text(following)}"
        if self.client.get(manifest["apiVersion"], manifest["kind"], mf.namespace(manifest), name) is None:
            return found
        return artifact_versions(self.client, manifest, base_name, None)

    def _version(
        self,
        manifest: dict[str, Any],
        info: KindInfo,
        request: DeployRequest,
        moniker: dict[str, Any],
        live_versions: list[dict[str, Any]],
    ) -> int:
        """Reuse the version of an identical live object, else one more than the highest (kubernetes.md §1.4)."""
        versions = {v: item for item in live_versions if (v := mf.version_number(item)) is not None}
        for version, item in sorted(versions.items()):
            candidate = copy.deepcopy(manifest)
            self._decorate(candidate, info, request, {**moniker, "sequence": version}, version)
            applied = mf.last_applied(item)
            if applied is not None and mf.without_metadata(applied) == mf.without_metadata(candidate):
                return version
        return max(versions) + 1 if versions else 0

    def _use_source_capacity(
        self, manifest: dict[str, Any], info: KindInfo, live_versions: list[dict[str, Any]] | None
    ) -> None:
        """Copy replicas from what runs now: the newest live version of a versioned object, or the object."""
        if mf.strategy(manifest, "use-source-capacity") != "true" or not info.scalable:
            return
        if live_versions is not None:
            source = max(live_versions, key=lambda item: mf.version_number(item) or -1, default=None)
        else:
            source = self.client.get(
                manifest["apiVersion"], manifest["kind"], mf.namespace(manifest), mf.name(manifest)
            )
        if source is not None and (source.get("spec") or {}).get("replicas") is not None:
            manifest.setdefault("spec", {})["replicas"] = source["spec"]["replicas"]

    def _traffic(self, manifest: dict[str, Any], info: KindInfo, request: DeployRequest) -> None:
        if not (info.has_pod_template or info.kind == "Pod"):
            return
        if request.services:
            existing = mf.annotations_of(manifest).get(mf.LOAD_BALANCERS)
            wanted = json.dumps(request.services)
            if existing is not None and mf.load_balancers(manifest) != request.services:
                raise DeployError(
                    f"Manifest already has {mf.LOAD_BALANCERS} annotation set to {existing}. "
                    f"Deployment is trying to set it to {wanted}."
                )
            mf.metadata(manifest).setdefault("annotations", {})[mf.LOAD_BALANCERS] = wanted
        if not request.enable_traffic:
            return
        try:
            for entry in mf.load_balancers(manifest):
                service_name = traffic.parse_load_balancer(entry)
                service = self._request_services.get(service_name) or self.client.get(
                    "v1", "Service", mf.namespace(manifest), service_name
                )
                if service is None:
                    raise DeployError(f"Service '{service_name}' not found in namespace '{mf.namespace(manifest)}'")
                traffic.attach(manifest, service)
        except ValueError as error:  # a TrafficError, or a malformed load-balancer annotation
            raise DeployError(str(error)) from None

    # -- submission --------------------------------------------------------------------------------
    def submit(self, manifest: dict[str, Any], info: KindInfo, force_recreate: bool = False) -> dict[str, Any]:
        """Create, recreate, replace or server-side apply, by the manifest's strategy annotations (§1.9)."""
        what = f"Deploy failed for manifest: {full_name(manifest) if mf.name(manifest) else manifest['kind']}"
        try:
            if not mf.name(manifest) and mf.metadata(manifest).get("generateName"):
                return self.client.create(manifest)
            if force_recreate or mf.strategy(manifest, "recreate") == "true":
                try:
                    self.client.delete(
                        manifest["apiVersion"],
                        manifest["kind"],
                        mf.namespace(manifest),
                        mf.name(manifest),
                        cascade="background",
                    )
                    self._wait_gone(manifest)
                except KubernetesError:
                    pass  # recreate ignores delete errors, as kubectl --ignore-not-found does
                return self.client.apply(manifest, force=True)
            if mf.strategy(manifest, "replace") == "true":
                try:
                    return self.client.replace(manifest)
                except KubernetesError as error:
                    if not error.not_found:
                        raise
                    return self.client.create(manifest)
            server_side = mf.strategy(manifest, "server-side-apply")
            return self.client.apply(manifest, force=server_side != "true")
        except KubernetesError as error:
            raise DeployError(f"{what}. Error: {error}") from error

    def _wait_gone(self, manifest: dict[str, Any], attempts: int = 50) -> None:
        """A deleted object may linger while finalizers run; re-creating it too early would conflict."""
        for _ in range(attempts):
            if (
                self.client.get(manifest["apiVersion"], manifest["kind"], mf.namespace(manifest), mf.name(manifest))
                is None
            ):
                return
            time.sleep(0.1)


def _artifact(manifest: dict[str, Any], info: KindInfo, base_name: str, version: int | None) -> dict[str, Any]:
    """What a deployed object is as an artifact: `kubernetes/<kind>`, its unversioned name, namespace, `vNNN`."""
    return {
        "type": f"kubernetes/{info.name}",
        "name": base_name,
        "location": mf.namespace(manifest) or "",
        "version": _version_text(version) if version is not None else "",
    }


def _version_text(version: int) -> str:
    return f"v{version:03d}"
