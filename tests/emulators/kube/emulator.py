"""`KubeEmulator`: the public entry point tying store, API, controllers and HTTP server together."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import yaml

from .api import SYSTEM_NAMESPACES, Api
from .controllers import NODE_IP, NODE_NAME, Controllers
from .errors import KubeError
from .resources import Registry
from .routes import Router
from .server import KubeHTTPServer
from .store import Obj, Store

LogValue = str | Callable[[], str]


class KubeEmulator:
    """An in-process Kubernetes API server on 127.0.0.1 for tests.

    Usage::

        with KubeEmulator() as kube:
            kube.write_kubeconfig(tmp_path / "kubeconfig")
            ...
            kube.settle()   # run controllers until nothing changes

    `controllers=False` disables the background controller thread (call `settle()` / `step()` yourself);
    `tick` is the background pass interval; `watch_history` bounds the events kept for watches that resume from an
    old resourceVersion (older ones get 410 Expired).
    """

    TOKEN = "emulator-token"

    def __init__(self, port: int = 0, controllers: bool = True, tick: float = 0.05, watch_history: int = 20000) -> None:
        self.store = Store(history=watch_history)
        self.registry = Registry()
        self.api = Api(self.store, self.registry)
        self.controllers = Controllers(self.api, self.registry, self.store)
        self.pod_logs: dict[tuple[str, str, str], LogValue] = {}
        self._port = port
        self._run_controllers = controllers
        self._tick = tick
        self._server: KubeHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._bootstrap()

    # Lifecycle -----------------------------------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        if self._server is not None:
            return self
        self._stop.clear()

        def factory(server: KubeHTTPServer) -> Router:
            return Router(self.api, self.registry, self.store, self._log_text,
                          lambda: f"127.0.0.1:{server.port}", lambda: server.stopping or self._stop.is_set())

        self._server = KubeHTTPServer(self._port, factory)
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="kube-emulator-http", daemon=True)
        serve.start()
        self._threads = [serve]
        if self._run_controllers:
            loop = threading.Thread(target=self._controller_loop, name="kube-emulator-controllers", daemon=True)
            loop.start()
            self._threads.append(loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.stopping = True
            self.store.close()
            server.shutdown()
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _controller_loop(self) -> None:
        while not self._stop.wait(self._tick):
            self.controllers.run_once()

    # Connection details --------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("KubeEmulator is not running")
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, context: str = "emulator", namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": self.TOKEN}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-user",
                                                       "namespace": namespace}}],
            "current-context": context,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | Path, context: str = "emulator", namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(context, namespace), sort_keys=False))
        return path

    # Request log ---------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every HTTP request served since start or the last `reset_request_log()`."""
        return [(method, path) for method, path, _ in self.request_log]

    @property
    def request_log(self) -> list[tuple[str, str, dict[str, list[str]]]]:
        """(method, path, query parameters) of every HTTP request, to check what a client asked for (selectors)."""
        served = list(self._server.requests) if self._server is not None else []
        return [(method, path, parse_qs(query, keep_blank_values=True)) for method, path, query in served]

    @property
    def request_count(self) -> int:
        return len(self._server.requests) if self._server is not None else 0

    def reset_request_log(self) -> None:
        if self._server is not None:
            self._server.requests.clear()

    # Direct access (no HTTP) ---------------------------------------------------------------------------------------

    def get_object(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        """Look an object up by apiVersion ("apps/v1", "v1") or group version, kind, namespace and name."""
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"unknown kind {kind} in {api_version}")
        try:
            return self.api.get(rt, namespace or "", name)
        except KubeError:
            return None

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"unknown kind {kind} in {api_version}")
        return self.api.list(rt, namespace)

    def put_object(self, obj: Obj) -> Obj:
        """Create or replace an object directly, as seed data. Missing namespaces are created; status is kept."""
        obj = copy.deepcopy(obj)
        rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise KeyError(f"unknown kind {obj.get('kind')} in {obj.get('apiVersion')}")
        meta = obj.setdefault("metadata", {})
        ns = (meta.get("namespace") or "default") if rt.namespaced else ""
        with self.store.lock:
            if rt.namespaced and self.store.get(("", "namespaces"), "", ns) is None:
                self.api.create(self.registry.by_kind("v1", "Namespace"), None,  # type: ignore[arg-type]
                                {"metadata": {"name": ns}}, "emulator")
            status = obj.get("status")
            existing = self.store.get(rt.key, ns, meta.get("name", ""))
            meta.pop("resourceVersion", None)
            if existing is None:
                result = self.api.create(rt, ns or None, obj, "emulator")
            else:
                result = self.api.replace(rt, ns, meta["name"], obj, "emulator")
            if status is not None and "status" in rt.subresources:
                result = self.api.replace(rt, ns, result["metadata"]["name"], {**result, "status": status},
                                          "emulator", "status")
            return result

    def delete_object(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"unknown kind {kind} in {api_version}")
        self.api.delete(rt, namespace or "", name, {"propagationPolicy": "Background"})

    def settle(self, max_passes: int = 200) -> int:
        """Run controller passes until one changes nothing (synchronous; safe alongside the background loop)."""
        return self.controllers.settle(max_passes)

    def step(self) -> bool:
        """Run one controller pass; True if it changed anything."""
        return self.controllers.run_once()

    # Logs ----------------------------------------------------------------------------------------------------------

    def _log_text(self, namespace: str, pod: str, container: str, pod_obj: Obj) -> str:
        value = self.pod_logs.get((namespace, pod, container))
        if value is not None:
            return value() if callable(value) else str(value)
        for c in (pod_obj.get("spec") or {}).get("containers") or []:
            if c.get("name") == container:
                for env in c.get("env") or []:
                    if env.get("name") == "EMULATOR_LOGS":
                        text = str(env.get("value") or "")
                        return text if not text or text.endswith("\n") else text + "\n"
        return ""

    # Bootstrap -----------------------------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        ns_rt = self.registry.by_kind("v1", "Namespace")
        assert ns_rt is not None
        for name in SYSTEM_NAMESPACES:
            self.api.create(ns_rt, None, {"metadata": {"name": name}}, "kube-apiserver")
        node_rt = self.registry.by_kind("v1", "Node")
        assert node_rt is not None
        self.api.create(node_rt, None, {
            "metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": NODE_NAME}],
                "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                "nodeInfo": {"kubeletVersion": "v1.37.0", "containerRuntimeVersion": "containerd://2.0.0",
                             "operatingSystem": "linux", "architecture": "amd64", "osImage": "Emulated Linux",
                             "kernelVersion": "6.0.0", "kubeProxyVersion": "v1.37.0", "machineID": "emulator",
                             "systemUUID": "emulator", "bootID": "emulator"},
            },
        }, "kubelet")
        svc_rt = self.registry.by_kind("v1", "Service")
        assert svc_rt is not None
        self.api.create(svc_rt, "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
        }, "kube-apiserver")
        self.controllers.settle()
