"""A Kubernetes API emulator and a runtime with accounts pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.kube import KubeEmulator
from tests.support import make_runtime, pipeline, wait_status


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def kubeconfig(kube: KubeEmulator, tmp_path: Path) -> Path:
    return Path(kube.write_kubeconfig(tmp_path / "kubeconfig", context="emulator", namespace="default"))


def accounts_config(kubeconfig: Path) -> dict[str, Any]:
    return {
        "providers": {
            "kubernetes": {
                "accounts": [
                    {"name": "emu", "kubeconfigFile": str(kubeconfig), "context": "emulator"},
                    {"name": "narrow", "kubeconfigFile": str(kubeconfig), "namespaces": ["allowed"]},
                ]
            }
        }
    }


@pytest.fixture
def k8s(kubeconfig: Path, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime with a worker, whose accounts `emu` and `narrow` talk to the emulator; polls every 50 ms."""
    rt = make_runtime(tmp_path, config=accounts_config(kubeconfig), engine={"manifest_poll_ms": 50})
    rt.start_workers(1)
    yield rt
    rt.close()


def run(
    rt: Runtime,
    stages: list[dict[str, Any]],
    name: str = "p",
    trigger: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Save a pipeline of `stages`, run it and return the finished execution."""
    rt.save_pipeline(pipeline(name, stages, app="shop"), "tester")
    execution_id = rt.start_pipeline("shop", name, trigger or {}, "tester")
    return wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", "CANCELED", timeout=timeout)


def stage(execution: dict[str, Any], ref_id: str) -> dict[str, Any]:
    return next(s for s in execution["stages"] if s.get("refId") == ref_id)


def error_of(execution: dict[str, Any]) -> str:
    for s in execution["stages"]:
        details = ((s.get("context") or {}).get("exception") or {}).get("details") or {}
        if details.get("error"):
            return str(details["error"])
    return ""
