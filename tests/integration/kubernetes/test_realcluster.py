"""The provider against a real cluster: `KUBECONFIG=... pytest -m realcluster` (skipped otherwise).

Everything happens in a namespace created for the run and deleted afterwards; images come from Docker Hub.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.integration.kubernetes.conftest import error_of, run, stage
from tests.integration.kubernetes.manifests import config_map, deploy_stage, deployment, service
from tests.support import make_runtime

pytestmark = [
    pytest.mark.realcluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG names no cluster"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Runtime, str]]:
    namespace = f"gennaker-test-{uuid.uuid4().hex[:8]}"
    account = {"name": "real", "kubeconfigFile": os.environ["KUBECONFIG"]}
    rt = make_runtime(
        tmp_path, config={"providers": {"kubernetes": {"accounts": [account]}}}, engine={"manifest_poll_ms": 1000}
    )
    rt.start_workers(1)
    namespace_manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    created = run(rt, [deploy_stage([namespace_manifest], account="real")], name="namespace", timeout=120)
    assert created["status"] == "SUCCEEDED", error_of(created)
    yield rt, namespace
    rt.kubernetes.operations("real").delete("", f"namespace {namespace}", options={"cascading": True})
    rt.close()


def real(stage_json: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**stage_json, "account": "real", "namespaceOverride": namespace}


def test_deploy_scale_undo_and_delete_on_a_real_cluster(cluster: tuple[Runtime, str]) -> None:
    rt, namespace = cluster
    first = run(
        rt,
        [real(deploy_stage([config_map(), deployment(image="nginx:1.27"), service()]), namespace)],
        name="v1",
        timeout=300,
    )
    assert first["status"] == "SUCCEEDED", error_of(first)
    assert "configMap cfg-v000" in stage(first, "1")["outputs"]["manifestNamesByNamespace"][namespace]
    second = run(
        rt, [real(deploy_stage([config_map(), deployment(image="nginx:1.28")]), namespace)], name="v2", timeout=300
    )
    assert second["status"] == "SUCCEEDED", error_of(second)
    common = {"account": "real", "cloudProvider": "kubernetes", "location": namespace, "manifestName": "deployment web"}
    scaled = run(rt, [{"refId": "1", "type": "scaleManifest", "replicas": 1, **common}], name="scale", timeout=300)
    assert scaled["status"] == "SUCCEEDED", error_of(scaled)
    undone = run(
        rt, [{"refId": "1", "type": "undoRolloutManifest", "numRevisionsBack": 1, **common}], name="undo", timeout=300
    )
    assert undone["status"] == "SUCCEEDED", error_of(undone)
    image = rt.kubernetes.operations("real").require(namespace, "deployment web")
    assert image["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_a_bad_image_fails_fast_on_a_real_cluster(cluster: tuple[Runtime, str]) -> None:
    rt, namespace = cluster
    bad = deployment(image="registry.invalid/gennaker/does-not-exist:0", config=None)
    execution = run(rt, [real(deploy_stage([bad]), namespace)], timeout=300)
    assert execution["status"] == "TERMINAL"
    assert "ImagePull" in error_of(execution) or "ErrImage" in error_of(execution)
