"""URL routing: maps Kubernetes REST paths and query parameters onto `Api` calls, watches and pod logs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import discovery
from .api import Api, decode_body, decode_continue, encode_continue
from .errors import KubeError, bad_request, method_not_allowed, not_found, path_not_found
from .resources import Registry, ResourceType
from .selectors import labels_match, parse_field_selector, parse_label_selector
from .store import Obj, Store, WatchEvent, rfc3339
from .tables import to_table, wants_table

LogSource = Callable[[str, str, str, Obj], str]


@dataclass
class Response:
    status: int
    body: Any = None  # dict (JSON), str (text/plain) or bytes
    content_type: str = "application/json"
    stream: Iterator[bytes] | None = None  # watch: newline-delimited JSON events, sent chunked


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default) or default

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("true", "1")

    @property
    def accept(self) -> str:
        return self.header("Accept")

    @property
    def manager(self) -> str:
        return self.param("fieldManager") or (self.header("User-Agent") or "unknown").split("/")[0]

    @property
    def dry_run(self) -> bool:
        return bool(self.param("dryRun"))


class Router:
    def __init__(
        self,
        api: Api,
        registry: Registry,
        store: Store,
        logs: LogSource,
        server_address: Callable[[], str],
        stopping: Callable[[], bool],
    ) -> None:
        self.api = api
        self.registry = registry
        self.store = store
        self.logs = logs
        self.server_address = server_address
        self.stopping = stopping
        self.bookmark_interval = 5.0

    # Entry point ---------------------------------------------------------------------------------------------------

    def dispatch(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return Response(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3",
                                            "/readyz", "/version"]})
        head = parts[0]
        if head == "version":
            return Response(200, discovery.VERSION_INFO)
        if head in ("healthz", "livez", "readyz"):
            return Response(200, "ok", "text/plain; charset=utf-8")
        if head == "openapi":
            return self._openapi(parts)
        if head == "api":
            if len(parts) == 1:
                if discovery.wants_aggregated(req.accept):
                    return Response(200, discovery.aggregated(self.registry, core=True), discovery.AGGREGATED_V2)
                return Response(200, discovery.api_versions(self.server_address()))
            return self._resources(req, "", parts[1], parts[2:])
        if head == "apis":
            if len(parts) == 1:
                if discovery.wants_aggregated(req.accept):
                    return Response(200, discovery.aggregated(self.registry, core=False), discovery.AGGREGATED_V2)
                return Response(200, discovery.api_group_list(self.registry))
            if len(parts) == 2:
                doc = discovery.api_group(self.registry, parts[1])
                if doc is None:
                    raise path_not_found()
                return Response(200, doc)
            return self._resources(req, parts[1], parts[2], parts[3:])
        raise path_not_found()

    def _openapi(self, parts: list[str]) -> Response:
        if parts[1:2] == ["v3"]:
            if len(parts) == 2:
                return Response(200, discovery.openapi_v3_root(self.registry))
            rest = parts[2:]
            if rest[0] == "api" and len(rest) == 2:
                group, version = "", rest[1]
            elif rest[0] == "apis" and len(rest) == 3:
                group, version = rest[1], rest[2]
            else:
                raise path_not_found()
            if version not in self.registry.groups().get(group, []):
                raise path_not_found()
            return Response(200, discovery.openapi_v3_group_version(self.registry, group, version))
        raise path_not_found()

    # Resource paths ------------------------------------------------------------------------------------------------

    def _resources(self, req: Request, group: str, version: str, rest: list[str]) -> Response:
        if version not in self.registry.groups().get(group, []):
            raise path_not_found()
        if not rest:
            if req.method != "GET":
                raise method_not_allowed()
            doc = discovery.resource_list(self.registry, group, version)
            if doc is None:
                raise path_not_found()
            return Response(200, doc)
        watch = req.flag("watch")
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.registry.by_path(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise path_not_found()
        rt = self.registry.by_path(group, version, rest[0])
        if rt is None:
            raise path_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if rt.namespaced and name is not None and namespace is None:
            raise path_not_found()
        if not rt.namespaced and namespace is not None:
            raise path_not_found()
        if sub and sub not in rt.subresources:
            raise path_not_found()
        if name is None:
            return self._collection(req, rt, namespace, watch)
        return self._object(req, rt, namespace or "", name, sub)

    def _collection(self, req: Request, rt: ResourceType, namespace: str | None, watch: bool) -> Response:
        if req.method == "GET":
            if watch:
                return self._watch(req, rt, namespace)
            return self._list(req, rt, namespace)
        if req.method == "POST":
            body = decode_body(req.body, req.header("Content-Type", ""))
            created = self.api.create(rt, namespace, body, req.manager, req.dry_run)
            return Response(201, created)
        if req.method == "DELETE":
            options = self._delete_options(req)
            deleted = self.api.delete_collection(rt, namespace, req.param("labelSelector"),
                                                 req.param("fieldSelector"), options, req.dry_run)
            return Response(200, self._list_doc(rt, deleted, str(self.store.resource_version)))
        raise method_not_allowed()

    def _object(self, req: Request, rt: ResourceType, namespace: str, name: str, sub: str) -> Response:
        if sub == "log":
            if req.method != "GET":
                raise method_not_allowed()
            return self._pod_log(req, namespace, name)
        if sub == "scale":
            return self._scale(req, rt, namespace, name)
        if req.method == "GET":
            obj = self.api.get(rt, namespace, name)
            if wants_table(req.accept):
                return Response(200, to_table(rt.kind, [obj], obj["metadata"].get("resourceVersion", ""),
                                              req.param("includeObject")))
            return Response(200, obj)
        if req.method == "PUT":
            body = decode_body(req.body, req.header("Content-Type", ""))
            return Response(200, self.api.replace(rt, namespace, name, body, req.manager, sub, req.dry_run))
        if req.method == "PATCH":
            manager = req.param("fieldManager")
            content_type = req.header("Content-Type", "")
            if not content_type.startswith("application/apply-patch"):
                manager = req.manager
            obj, created = self.api.patch(rt, namespace, name, content_type, req.body, manager,
                                          req.flag("force"), sub, req.dry_run)
            return Response(201 if created else 200, obj)
        if req.method == "DELETE":
            if sub:
                raise method_not_allowed()
            return Response(200, self.api.delete(rt, namespace, name, self._delete_options(req), req.dry_run))
        raise method_not_allowed()

    def _delete_options(self, req: Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if req.body:
            decoded = decode_body(req.body, req.header("Content-Type", ""))
            if isinstance(decoded, dict):
                options.update(decoded)
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if req.param(key) is not None:
                options[key] = req.param(key)
        if req.param("orphanDependents") is not None:
            options["orphanDependents"] = req.flag("orphanDependents")
        return options

    def _scale(self, req: Request, rt: ResourceType, namespace: str, name: str) -> Response:
        if req.method == "GET":
            return Response(200, self.api.scale_of(rt, self.api.get(rt, namespace, name)))
        if req.method == "PUT":
            body = decode_body(req.body, req.header("Content-Type", ""))
            return Response(200, self.api.update_scale(rt, namespace, name, body, req.manager, req.dry_run))
        if req.method == "PATCH":
            return Response(200, self.api.patch_scale(rt, namespace, name, req.header("Content-Type", ""),
                                                      req.body, req.manager, req.dry_run))
        raise method_not_allowed()

    # List ----------------------------------------------------------------------------------------------------------

    def _list_doc(self, rt: ResourceType, items: list[Obj], rv: str, cont: str | None = None,
                  remaining: int | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
            meta["remainingItemCount"] = remaining
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    def _list(self, req: Request, rt: ResourceType, namespace: str | None) -> Response:
        with self.store.lock:
            rv = self.store.resource_version
            items = self.api.list(rt, namespace, req.param("labelSelector"), req.param("fieldSelector"))
        offset = 0
        token = req.param("continue")
        if token:
            offset, rv = decode_continue(token)
        limit = int(req.param("limit") or 0)
        cont = None
        remaining = None
        page = items[offset:]
        if limit > 0 and len(page) > limit:
            page = page[:limit]
            cont = encode_continue(offset + limit, rv)
            remaining = len(items) - offset - limit
        if wants_table(req.accept):
            table = to_table(rt.kind, page, str(rv), req.param("includeObject"))
            if cont:
                table["metadata"]["continue"] = cont
            return Response(200, table)
        return Response(200, self._list_doc(rt, page, str(rv), cont, remaining))

    # Watch ---------------------------------------------------------------------------------------------------------

    def _watch(self, req: Request, rt: ResourceType, namespace: str | None) -> Response:
        labels = parse_label_selector(req.param("labelSelector"))
        fields = parse_field_selector(req.param("fieldSelector"), rt.kind)
        timeout = float(req.param("timeoutSeconds") or 0)
        bookmarks = req.flag("allowWatchBookmarks")
        send_initial = req.flag("sendInitialEvents")
        table = wants_table(req.accept)
        include = req.param("includeObject")
        rv_param = req.param("resourceVersion")
        ns = namespace if rt.namespaced else None

        def matches(obj: Obj | None) -> bool:
            if obj is None:
                return False
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            return labels_match(labels, obj) and fields(obj)

        def encode(kind: str, obj: Obj) -> bytes:
            obj = dict(obj)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            if table:
                obj = to_table(rt.kind, [obj], obj["metadata"].get("resourceVersion", ""), include)
            return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

        def bookmark(rv: int, initial_end: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return json.dumps({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version,
                                                              "metadata": meta}}).encode() + b"\n"

        initial: list[Obj] = []
        with self.store.lock:
            if rv_param in (None, "", "0") or send_initial:
                start_rv = self.store.resource_version
                initial = [o for o in self.api.list(rt, ns) if matches(o)]
            else:
                try:
                    start_rv = int(rv_param)
                except ValueError:
                    raise bad_request(f"invalid resource version: {rv_param}") from None

        def stream() -> Iterator[bytes]:
            deadline = time.monotonic() + timeout if timeout > 0 else None
            last = start_rv
            for obj in initial:
                yield encode("ADDED", obj)
            if send_initial and bookmarks:
                yield bookmark(start_rv, initial_end=True)
            next_bookmark = time.monotonic() + self.bookmark_interval
            while not self.stopping() and not self.store.closed:
                try:
                    events = self.store.events_after(last)
                except KubeError as exc:
                    yield json.dumps({"type": "ERROR", "object": exc.to_status()}).encode() + b"\n"
                    return
                for event in events:
                    last = event.rv
                    out = self._translate(event, rt, matches)
                    if out is not None:
                        yield encode(*out)
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return
                if bookmarks and now >= next_bookmark:
                    yield bookmark(last)
                    next_bookmark = now + self.bookmark_interval
                if not events:
                    wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - now))
                    self.store.wait(last, wait)

        return Response(200, None, "application/json", stream())

    @staticmethod
    def _translate(event: WatchEvent, rt: ResourceType, matches: Callable[[Obj | None], bool]
                   ) -> tuple[str, Obj] | None:
        if event.key != rt.key:
            return None
        now, before = matches(event.obj), matches(event.old)
        if event.type == "ADDED":
            return ("ADDED", event.obj) if now else None
        if event.type == "DELETED":
            return ("DELETED", event.obj) if before or now else None
        if now and before:
            return ("MODIFIED", event.obj)
        if now:
            return ("ADDED", event.obj)
        if before:
            return ("DELETED", event.obj)
        return None

    # Logs ----------------------------------------------------------------------------------------------------------

    def _pod_log(self, req: Request, namespace: str, name: str) -> Response:
        pods = self.registry.by_key(("", "pods"))
        assert pods is not None
        pod = self.api.get(pods, namespace, name)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        container = req.param("container")
        if not container:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]" + (f" or one of the init containers: [{' '.join(init_names)}]"
                                                            if init_names else ""))
            container = names[0]
        if container not in names + init_names:
            raise bad_request(f"container {container} is not valid for pod {name}")
        status = pod.get("status") or {}
        statuses = {s.get("name"): s for s in (status.get("containerStatuses") or [])
                    + (status.get("initContainerStatuses") or [])}
        cs = statuses.get(container)
        state = (cs or {}).get("state") or {}
        if cs is None or ("waiting" in state and not cs.get("restartCount") and not cs.get("lastState")):
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            if reason in ("ImagePullBackOff", "ErrImagePull"):
                reason = "trying and failing to pull image"
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        text = self.logs(namespace, name, container, pod)
        if req.flag("timestamps"):
            stamp = (status.get("startTime") or rfc3339()).replace("Z", ".000000000Z")
            text = "".join(f"{stamp} {line}" for line in text.splitlines(keepends=True))
        tail = req.param("tailLines")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            count = int(tail)
            text = "".join(lines[-count:]) if count > 0 else ""
        limit = req.param("limitBytes")
        if limit is not None:
            text = text.encode()[: int(limit)].decode("utf-8", "ignore")
        return Response(200, text, "text/plain")


def find_type(registry: Registry, api_version: str, kind: str) -> ResourceType:
    rt = registry.by_kind(api_version, kind)
    if rt is None:
        raise not_found(kind.lower(), api_version, "")
    return rt
