"""Talking to one cluster: lightkube underneath, dictionaries in and out, every failure named.

Manifests stay plain dictionaries (Spinnaker's model is raw JSON), so each kind is addressed through
a lightkube generic resource class built from the kind's plural and scope. Every call has a timeout,
retries throttling (429) and server errors (5xx) with capped exponential backoff, and raises a
`KubernetesError` that names the account, kind, namespace and name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import yaml
from lightkube import ALL_NS, ApiError, Client, KubeConfig
from lightkube.core.resource import NamespacedResource
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource, create_api_info
from lightkube.types import CascadeType, PatchType

from gennaker.providers.base import ProviderError
from gennaker.providers.kubernetes.accounts import KubernetesAccount

FIELD_MANAGER = "gennaker"
GENERIC = (GenericNamespacedResource, GenericGlobalResource)
RETRIES = 4
MAX_LOG_CHARS = 4 * 1024 * 1024  # of one container's log read at once: a workload can log without end
_T = TypeVar("_T")


class KubernetesError(ProviderError):
    """A failed call to the cluster; `status` is the HTTP status when the API server answered."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def not_found(self) -> bool:
        return self.status == 404


class KubeClient:
    """One account's connection. Cheap to keep for the life of the process; safe to share between threads."""

    def __init__(
        self,
        account: KubernetesAccount,
        *,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.account = account
        self._sleep = sleep
        timeout = httpx2.Timeout(account.request_timeout_seconds)
        self._client = Client(_kubeconfig(account), timeout=timeout, field_manager=FIELD_MANAGER, transport=transport)
        self._resources: dict[tuple[str, str], type[Any]] = {}
        self._crds: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def default_namespace(self) -> str:
        """The kubeconfig context's namespace ("default" when it names none), as kubectl would use."""
        return str(self._client.namespace or "default")

    def close(self) -> None:
        self._client.close()

    # -- reads -------------------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        resource = self.resource(api_version, kind)
        try:
            found = self._call(
                f"get {kind} {_where(namespace, name)}",
                lambda: self._client.get(resource, name, **_ns(resource, namespace)),
            )
        except KubernetesError as error:
            if error.not_found:
                return None
            raise
        return _plain(found)

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        where = namespace or "all namespaces"
        items = self._call(
            f"list {kind} in {where}",
            lambda: list(
                self._client.list(resource, namespace=_list_scope(resource, namespace), labels=labels, fields=fields)
            ),
        )
        return [_plain(item) for item in items]

    def list_with_version(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every object of a kind (in one namespace, or all), and the list's resourceVersion to watch from."""
        resource = self.resource(api_version, kind)

        def listing() -> tuple[list[dict[str, Any]], str | None]:
            items = self._client.list(resource, namespace=_list_scope(resource, namespace))
            objects = [_plain(item) for item in items]
            return objects, items.resourceVersion

        return self._call(f"list {kind} in {namespace or 'all namespaces'}", listing)

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        resource_version: str | None = None,
        server_timeout: int | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Watch events `(type, object)` from `resource_version`, reconnecting when the server ends a watch."""
        resource = self.resource(api_version, kind)
        for event_type, obj in self._client.watch(
            resource,
            namespace=_list_scope(resource, namespace),
            resource_version=resource_version,
            server_timeout=server_timeout,
        ):
            yield event_type, _plain(obj)

    def log(self, namespace: str, pod: str, container: str | None = None, tail_lines: int | None = None) -> str:
        """A container's log (its last `tail_lines` lines when given), cut after MAX_LOG_CHARS characters."""
        return self._call(
            f"logs of pod {_where(namespace, pod)}",
            lambda: bounded_log(self._client.log(pod, namespace=namespace, container=container, tail_lines=tail_lines)),
        )

    def events(self, namespace: str | None, kind: str, name: str) -> list[dict[str, Any]]:
        """Events about one object, oldest first."""
        if namespace is None:
            return []
        events = self.list_objects(
            "v1", "Event", namespace, fields={"involvedObject.name": name, "involvedObject.kind": kind}
        )
        return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    # -- writes ------------------------------------------------------------------------------------
    def apply(self, manifest: dict[str, Any], *, force: bool) -> dict[str, Any]:
        """Server-side apply as field manager `gennaker`."""
        resource, namespace, name = self._address(manifest)
        obj = resource(manifest)
        return _plain(
            self._call(
                f"apply {manifest['kind']} {_where(namespace, name)}",
                lambda: self._client.apply(obj, field_manager=FIELD_MANAGER, force=force),
            )
        )

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        resource, namespace, name = self._address(manifest, need_name=False)
        obj = resource(manifest)
        return _plain(
            self._call(
                f"create {manifest['kind']} {_where(namespace, name)}",
                lambda: self._client.create(obj, **_ns(resource, namespace)),
            )
        )

    def replace(self, manifest: dict[str, Any]) -> dict[str, Any]:
        resource, namespace, name = self._address(manifest)
        obj = resource(manifest)
        return _plain(
            self._call(
                f"replace {manifest['kind']} {_where(namespace, name)}",
                lambda: self._client.replace(obj, **_ns(resource, namespace)),
            )
        )

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, body: Any, patch_type: PatchType
    ) -> dict[str, Any]:
        resource = self.resource(api_version, kind)
        return _plain(
            self._call(
                f"patch {kind} {_where(namespace, name)}",
                lambda: self._client.patch(resource, name, body, patch_type=patch_type, **_ns(resource, namespace)),
            )
        )

    def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        *,
        cascade: str | None = None,
        grace_period: int | None = None,
    ) -> bool:
        """Delete an object; False when it did not exist (not an error, as with `--ignore-not-found`)."""
        resource = self.resource(api_version, kind)
        options: dict[str, Any] = _ns(resource, namespace)
        if cascade:
            options["cascade"] = CascadeType[cascade.upper()]
        if grace_period is not None:
            options["grace_period"] = grace_period
        try:
            self._call(
                f"delete {kind} {_where(namespace, name)}", lambda: self._client.delete(resource, name, **options)
            )
        except KubernetesError as error:
            if error.not_found:
                return False
            raise
        return True

    # -- plumbing ----------------------------------------------------------------------------------
    def is_namespaced(self, api_version: str, kind: str) -> bool:
        """Whether objects of a kind live in namespaces (custom resources: as their CRD says)."""
        return issubclass(self.resource(api_version, kind), GenericNamespacedResource)

    def resource(self, api_version: str, kind: str) -> type[Any]:
        """The lightkube class that addresses `kind`: built-in kinds from lightkube's registry, others from CRDs."""
        key = (api_version, kind)
        if key not in self._resources:
            plural, namespaced = self._scope(api_version, kind)
            group, _, version = api_version.rpartition("/")
            base = GenericNamespacedResource if namespaced else GenericGlobalResource
            self._resources[key] = type(kind, (base,), {"_api_info": create_api_info(group, version, kind, plural)})
        return self._resources[key]

    def _scope(self, api_version: str, kind: str) -> tuple[str, bool]:
        """Plural and scope of a kind lightkube ships; any other kind is asked of this cluster's CRDs.

        lightkube's registry is shared by the whole process, and generic resources registered there (by
        anyone) describe some other cluster's CRDs, so only the models lightkube ships are trusted."""
        try:
            model = resource_registry.load(api_version, kind)
        except Exception:  # lightkube raises a bare LoadResourceError for kinds it does not ship
            model = None
        if model is not None and not issubclass(model, GENERIC):
            return model._api_info.plural, issubclass(model, NamespacedResource)
        return self._custom_scope(api_version, kind)

    def _custom_scope(self, api_version: str, kind: str) -> tuple[str, bool]:
        spec = self.custom_kind(api_version.rpartition("/")[0], kind)
        if spec is None:
            raise KubernetesError(
                f"account '{self.account.name}': kind '{kind}' ({api_version}) is not known to the cluster"
            )
        return spec["names"]["plural"], spec.get("scope", "Namespaced") == "Namespaced"

    def custom_kind(self, group: str, kind: str) -> dict[str, Any] | None:
        """The spec of the CRD defining `kind` (any case) in `group`; found ones are remembered, missing ones are
        asked again, since a CRD may be created at any time."""
        key = (group, kind.lower())
        if key not in self._crds:
            for crd in self.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition", None):
                spec = crd.get("spec") or {}
                names = spec.get("names") or {}
                if names.get("kind"):
                    self._crds[(str(spec.get("group")), str(names["kind"]).lower())] = spec
        return self._crds.get(key)

    def _address(self, manifest: dict[str, Any], need_name: bool = True) -> tuple[type[Any], str | None, str]:
        metadata = manifest.get("metadata") or {}
        name = metadata.get("name") or ""
        if need_name and not name:
            raise KubernetesError(f"account '{self.account.name}': {manifest.get('kind')} has no metadata.name")
        resource = self.resource(manifest["apiVersion"], manifest["kind"])
        namespace = metadata.get("namespace") if issubclass(resource, GenericNamespacedResource) else None
        return resource, namespace, name or metadata.get("generateName", "") + "*"

    def _call(self, what: str, call: Callable[[], _T]) -> _T:
        """Run one API call with retries; failures name the account and the object."""
        delay = 0.2
        for attempt in range(RETRIES + 1):
            try:
                return call()
            except ApiError as error:
                code = error.status.code or error.response.status_code
                if (code == 429 or code >= 500) and attempt < RETRIES:
                    self._sleep(_retry_after(error.response) or delay)
                    delay = min(delay * 2, 5.0)
                    continue
                message = error.status.message or error.response.text
                raise KubernetesError(f"account '{self.account.name}': {what}: {message}", code) from error
            except httpx2.TransportError as error:
                if attempt < RETRIES:
                    self._sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise KubernetesError(
                    f"account '{self.account.name}': {what}: {error or type(error).__name__}"
                ) from error
        raise AssertionError("unreachable")


def _kubeconfig(account: KubernetesAccount) -> Any:
    """The account's cluster and credentials; a missing or broken kubeconfig names the account, never its content."""
    try:
        if account.kubeconfig_contents is not None:
            config = KubeConfig.from_dict(yaml.safe_load(account.kubeconfig_contents.get_secret_value()))
        elif account.kubeconfig_file:
            config = KubeConfig.from_file(Path(account.kubeconfig_file).expanduser())
        else:
            config = KubeConfig.from_env()
        found = config.get(context_name=account.context)
    except Exception as error:  # lightkube raises ConfigError, OSError, yaml and key errors for broken files
        where = account.kubeconfig_file or ("kubeconfigContents" if account.kubeconfig_contents else "the environment")
        reason = error.strerror if isinstance(error, OSError) else type(error).__name__
        raise KubernetesError(f"account '{account.name}': cannot load its kubeconfig from {where}: {reason}") from None
    if found is None:
        raise KubernetesError(f"account '{account.name}': context '{account.context}' is not in its kubeconfig")
    return found


def _ns(resource: type[Any], namespace: str | None) -> dict[str, Any]:
    return {"namespace": namespace} if namespace and issubclass(resource, GenericNamespacedResource) else {}


def _list_scope(resource: type[Any], namespace: str | None) -> str | None:
    if not issubclass(resource, GenericNamespacedResource):
        return None
    return namespace or ALL_NS


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 10.0) if value else None
    except ValueError:
        return None


def _plain(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dict(obj)


def _where(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def bounded_log(lines: Iterable[str], limit: int = MAX_LOG_CHARS) -> str:
    """The lines joined, read no further than `limit` characters (the stream is left unread after that)."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line)
        if size > limit:
            kept.append(f"\n[log cut after {limit} characters]\n")
            break
        kept.append(line)
    return "".join(kept)
