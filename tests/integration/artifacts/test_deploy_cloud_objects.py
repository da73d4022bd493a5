"""Deploy manifests kept as cloud objects: a `deployManifest` stage binds an `s3/object` or `gcs/object`
expected artifact, Gennaker fetches it with the configured account (from moto's S3 and fake-gcs-server on
127.0.0.1) and applies it to the Kubernetes emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.cloud_storage import GcsServer, S3Server
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config, error_of
from tests.support import make_runtime, pipeline, wait_status

pytestmark = pytest.mark.slow


def deployment(replicas: int) -> bytes:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: shop}}}}
  template:
    metadata: {{labels: {{app: shop}}}}
    spec: {{containers: [{{name: web, image: "nginx:1.27"}}]}}
""".encode()


CONFIG_MAP = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop-settings}\ndata: {color: blue}\n"


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.create_bucket("releases", versioned=True)
        yield server


@pytest.fixture
def gcs(tmp_path: Path) -> Iterator[GcsServer]:
    with GcsServer(tmp_path) as server:
        server.create_bucket("settings")
        yield server


@pytest.fixture
def rt(kube: KubeEmulator, s3: S3Server, gcs: GcsServer, tmp_path: Path) -> Iterator[Runtime]:
    config = accounts_config(kube.write_kubeconfig(tmp_path / "kubeconfig", context="emulator"))
    s3_account = {"name": "releases-s3", "apiEndpoint": s3.endpoint, "apiRegion": "us-east-1"}
    s3_account |= {"awsAccessKeyId": s3.access_key, "awsSecretAccessKey": s3.secret_key}
    gcs_account = {"name": "settings-gcs", "jsonPath": str(gcs.key_file), "apiEndpoint": gcs.url}
    config["artifacts"] = {"s3": {"enabled": True, "accounts": [s3_account]}, "gcs": {"accounts": [gcs_account]}}
    config["outbound"] = {"allowNetworks": ["127.0.0.0/8"]}  # the storage emulators listen on loopback
    runtime = make_runtime(tmp_path / "gennaker", config=config, engine={"manifest_poll_ms": 50})
    runtime.start_workers(1)
    yield runtime
    runtime.close()


def release_pipeline() -> dict[str, Any]:
    """Spinnaker's shape: expected artifacts with defaults, deploy stages naming them by id."""
    shop = {"type": "s3/object", "name": "s3://releases/shop/deploy.yaml"}
    settings = {"type": "gcs/object", "name": "gs://settings/shop.yaml"}
    expected = [
        {
            "id": "shop-manifest",
            "displayName": "shop",
            "matchArtifact": shop,
            "useDefaultArtifact": True,
            "defaultArtifact": {**shop, "reference": shop["name"], "artifactAccount": "releases-s3"},
        },
        {
            "id": "settings-manifest",
            "displayName": "settings",
            "matchArtifact": settings,
            "useDefaultArtifact": True,
            "defaultArtifact": {**settings, "reference": settings["name"], "artifactAccount": "settings-gcs"},
        },
    ]
    stages = [
        {
            "refId": ref,
            "type": "deployManifest",
            "name": f"Deploy {ref}",
            "account": "emu",
            "cloudProvider": "kubernetes",
            "source": "artifact",
            "manifestArtifactId": artifact_id,
            "moniker": {"app": "shop"},
        }
        for ref, artifact_id in (("settings", "settings-manifest"), ("shop", "shop-manifest"))
    ]
    return pipeline("release", stages, app="shop", expectedArtifacts=expected)


def test_deploy_manifests_fetched_from_s3_and_gcs(
    rt: Runtime, s3: S3Server, gcs: GcsServer, kube: KubeEmulator
) -> None:
    s3.put("releases", "shop/deploy.yaml", deployment(3))
    gcs.upload("settings", "shop.yaml", CONFIG_MAP)
    rt.save_pipeline(release_pipeline(), "tester")
    execution_id = rt.start_pipeline("shop", "release", {"type": "manual"}, "tester")
    execution = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    shop = kube.get_object("apps/v1", "Deployment", "default", "shop")
    assert shop is not None and shop["spec"]["replicas"] == 3
    settings = kube.get_object("v1", "ConfigMap", "default", "shop-settings-v000")  # versioned, as in Spinnaker
    assert settings is not None and settings["data"] == {"color": "blue"}
    assert gcs.storage_requests() and all(r.header("Authorization") for r in gcs.storage_requests())


def test_a_trigger_artifact_with_a_version_deploys_that_version(
    rt: Runtime, s3: S3Server, gcs: GcsServer, kube: KubeEmulator
) -> None:
    first = s3.put("releases", "shop/deploy.yaml", deployment(1))
    s3.put("releases", "shop/deploy.yaml", deployment(5))
    generation = gcs.upload("settings", "shop.yaml", CONFIG_MAP)
    rt.save_pipeline(release_pipeline(), "tester")
    artifacts = [
        {
            "type": "s3/object",
            "name": "s3://releases/shop/deploy.yaml",
            "reference": "s3://releases/shop/deploy.yaml",
            "version": first,
            "artifactAccount": "releases-s3",
        },
        {
            "type": "gcs/object",
            "name": "gs://settings/shop.yaml",
            "reference": "gs://settings/shop.yaml",
            "version": generation,
            "artifactAccount": "settings-gcs",
        },
    ]
    trigger = {"type": "webhook", "artifacts": artifacts, "expectedArtifactIds": ["shop-manifest", "settings-manifest"]}
    execution_id = rt.start_pipeline("shop", "release", trigger, "tester")
    execution = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    assert execution["status"] == "SUCCEEDED", error_of(execution)
    shop = kube.get_object("apps/v1", "Deployment", "default", "shop")
    assert shop is not None and shop["spec"]["replicas"] == 1  # the version the trigger named, not the newest


def test_a_missing_object_fails_the_stage_naming_it(rt: Runtime, s3: S3Server, gcs: GcsServer) -> None:
    gcs.upload("settings", "shop.yaml", CONFIG_MAP)
    rt.save_pipeline(release_pipeline(), "tester")
    execution_id = rt.start_pipeline("shop", "release", {"type": "manual"}, "tester")
    execution = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    assert execution["status"] == "TERMINAL"
    assert "object s3://releases/shop/deploy.yaml does not exist" in error_of(execution)
