"""The seeds' scenario (issue 6): bake a Helm chart and a values override from the `staging` branch of a
repository, override the image with the one the trigger names and the ingress host, deploy the result to
the Kubernetes emulator and find that image running under that host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest

from gennaker.runtime import Runtime
from tests.emulators.github.git import make_bare_repo
from tests.emulators.github.server import GitHubEmulator
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import accounts_config, error_of, stage
from tests.support import make_runtime, pipeline, wait_status

pytestmark = pytest.mark.slow

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    "values.yaml": "image: {repository: nginx, tag: latest}\nreplicas: 1\ningress: {hosts: [{host: example.test}]}\n",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
""",
    "templates/ingress.yaml": """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}
spec:
  rules:
    {{- range .Values.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: {{ $.Release.Name }}, port: {number: 80}}}
    {{- end }}
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: 80}]
""",
}
VALUES_SPIN = b"replicas: 2\nimage:\n  tag: '3.1'\n"


@pytest.fixture
def seeds_repo(tmp_path: Path) -> Path:
    source = tmp_path / "chart" / "shop"
    for path, text in CHART.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text)
    archive = Path(helm_python.package(source, destination=tmp_path / "dist")).read_bytes()
    files = {"helm.tar.gz": archive, "values-spin.yaml": VALUES_SPIN}
    return make_bare_repo(tmp_path / "origin", {"master": {"README.md": b"seeds"}, "staging": files})


@pytest.fixture
def github(seeds_repo: Path) -> Iterator[GitHubEmulator]:
    with GitHubEmulator(git_repos={"seeds/shop": seeds_repo}, token="gh-token") as emulator:
        yield emulator


@pytest.fixture
def seeds(kubeconfig: Path, github: GitHubEmulator, tmp_path: Path) -> Iterator[Runtime]:
    config = accounts_config(kubeconfig)
    config["artifacts"] = {"github": {"accounts": [{"name": "gh", "token": "gh-token", "baseUrl": github.url}]}}
    config["outbound"] = {"allowNetworks": ["127.0.0.0/8"]}  # the GitHub emulator listens on loopback
    rt = make_runtime(tmp_path / "gennaker", config=config, engine={"manifest_poll_ms": 50})
    rt.start_workers(1)
    yield rt
    rt.close()


def github_file(github: GitHubEmulator, path: str) -> dict[str, Any]:
    return {
        "type": "github/file",
        "name": path,
        "reference": github.contents_url("seeds/shop", path),
        "version": "staging",
        "artifactAccount": "gh",
    }


def seeds_pipeline(github: GitHubEmulator) -> dict[str, Any]:
    """Shaped like the seeds' exported Spinnaker JSON: expected artifacts with defaults, bake, deploy."""
    expected = [
        {
            "id": "chart",
            "displayName": "helm.tar.gz",
            "useDefaultArtifact": True,
            "matchArtifact": {"type": "github/file", "name": "helm.tar.gz"},
            "defaultArtifact": github_file(github, "helm.tar.gz"),
        },
        {
            "id": "values",
            "displayName": "values-spin.yaml",
            "useDefaultArtifact": True,
            "matchArtifact": {"type": "github/file", "name": "values-spin.yaml"},
            "defaultArtifact": github_file(github, "values-spin.yaml"),
        },
    ]
    bake = {
        "refId": "bake",
        "type": "bakeManifest",
        "name": "Bake shop",
        "templateRenderer": "HELM3",
        "outputName": "shop",
        "namespace": "default",
        "inputArtifacts": [{"id": "chart", "account": "gh"}, {"id": "values", "account": "gh"}],
        "overrides": {
            "image.repository": '${trigger["properties"]["imageName"]}',
            "ingress.hosts[0].host": "shop.staging.example.com",
        },
        "expectedArtifacts": [
            {"id": "baked", "displayName": "baked", "matchArtifact": {"type": "embedded/base64", "name": "shop"}}
        ],
    }
    deploy = {
        "refId": "deploy",
        "requisiteStageRefIds": ["bake"],
        "type": "deployManifest",
        "name": "Deploy shop",
        "account": "emu",
        "cloudProvider": "kubernetes",
        "source": "artifact",
        "manifestArtifactId": "baked",
        "manifestArtifactAccount": "embedded-artifact",
        "moniker": {"app": "shop"},
        "skipExpressionEvaluation": True,
    }
    return pipeline("release", [bake, deploy], app="shop", expectedArtifacts=expected)


def test_bake_from_the_staging_branch_and_deploy_the_trigger_image(
    seeds: Runtime, github: GitHubEmulator, kube: KubeEmulator
) -> None:
    seeds.save_pipeline(seeds_pipeline(github), "tester")
    trigger = {
        "type": "jenkins",
        "properties": {"imageName": "registry.local/shop/web"},
        "expectedArtifactIds": ["chart", "values"],
    }
    execution_id = seeds.start_pipeline("shop", "release", trigger, "tester")
    execution = wait_status(seeds, execution_id, "SUCCEEDED", "TERMINAL", timeout=60)
    assert execution["status"] == "SUCCEEDED", error_of(execution)

    baked = stage(execution, "bake")["outputs"]["artifacts"][0]
    assert baked["type"] == "embedded/base64" and baked["name"] == "shop"
    deployment = kube.get_object("apps/v1", "Deployment", "default", "shop")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/shop/web:3.1"
    assert deployment["spec"]["replicas"] == 2  # values-spin.yaml overrides the chart's default
    assert deployment["status"]["readyReplicas"] == 2
    ingress = kube.get_object("networking.k8s.io/v1", "Ingress", "default", "shop")
    assert ingress["spec"]["rules"][0]["host"] == "shop.staging.example.com"
    assert github.requests and all(r.header("Authorization") == "token gh-token" for r in github.requests)


def test_a_missing_expected_artifact_stops_the_trigger_naming_it(seeds: Runtime, github: GitHubEmulator) -> None:
    config = seeds_pipeline(github)
    config["expectedArtifacts"][0]["useDefaultArtifact"] = False
    seeds.save_pipeline(config, "tester")
    with pytest.raises(ValueError, match=r"Unmatched expected artifact \(id=chart, displayName=helm.tar.gz"):
        seeds.start_pipeline("shop", "release", {"type": "jenkins", "expectedArtifactIds": ["chart"]}, "tester")


def test_a_render_error_fails_the_bake_with_helms_message(seeds: Runtime, github: GitHubEmulator) -> None:
    config = seeds_pipeline(github)
    config["stages"][0]["overrides"] = {"ingress.hosts": "not-a-list"}
    config["stages"][0]["rawOverrides"] = True
    seeds.save_pipeline(config, "tester")
    execution_id = seeds.start_pipeline("shop", "release", {"properties": {"imageName": "x"}}, "tester")
    execution = wait_status(seeds, execution_id, "TERMINAL", "SUCCEEDED", timeout=60)
    assert execution["status"] == "TERMINAL"
    assert error_of(execution).startswith("Bake failed:")
