import base64
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gennaker.artifacts import ArtifactFetcher, artifact_accounts
from gennaker.artifacts.fetchers import loopback_only_guard
from gennaker.bake import BakeError, bake, parse_bake_request
from tests.emulators.github import GitHubEmulator, make_bare_repo
from tests.unit.bake.charts import package_chart, write_chart
from tests.unit.bake.test_kustomize import BASE

OUTPUT = {"id": "out", "matchArtifact": {"type": "embedded/base64", "name": "shop-manifests"}}


def fetcher(tmp_path: Path, section: Mapping[str, Any] | None = None) -> ArtifactFetcher:
    return ArtifactFetcher(
        artifact_accounts(section or {}),
        client_factory=lambda: httpx.Client(timeout=5.0, trust_env=False),
        guard=loopback_only_guard(),
        git_cache_dir=tmp_path / "cache",
        local_git_paths=[tmp_path],
    )


def decoded(artifact: Mapping[str, Any]) -> list[dict[str, Any]]:
    assert artifact["type"] == "embedded/base64" and artifact["name"] == "shop-manifests"
    return [d for d in yaml.safe_load_all(base64.b64decode(artifact["reference"])) if d]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The scenario: a chart tarball and a values file on a `staging` branch of a git repository."""
    chart = package_chart(write_chart(tmp_path / "src"), tmp_path / "dist")
    values = b"replicas: 3\nimage:\n  tag: '2.1'\n"
    files = {"helm.tar.gz": chart, "values-spin.yaml": values, "chart-dir/Chart.yaml": b""}
    with tarfile.open(fileobj=io.BytesIO(chart), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[f"chart-dir/{member.name.split('/', 1)[1]}"] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return make_bare_repo(tmp_path / "origin", {"master": {"README.md": b"x"}, "staging": files})


def helm_context(repo: Path, **extra: Any) -> dict[str, Any]:
    git = {"type": "git/repo", "reference": str(repo), "version": "staging"}
    return {
        "templateRenderer": "HELM3",
        "outputName": "shop",
        "namespace": "prod",
        "helmChartFilePath": "helm.tar.gz",
        "inputArtifacts": [
            {"id": "chart", "account": "no-auth-git-repo-account", "artifact": git},
            {"id": "values", "account": "", "artifact": {**git, "location": "values-spin.yaml"}},
        ],
        "overrides": {"image.repository": "registry.example.com/shop/web"},
        "expectedArtifacts": [OUTPUT],
        **extra,
    }


def test_helm_chart_tarball_and_values_from_git(repo: Path, tmp_path: Path) -> None:
    artifact = bake(parse_bake_request(helm_context(repo)), fetcher(tmp_path))
    deployment = next(d for d in decoded(artifact) if d["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "shop-web" and deployment["metadata"]["namespace"] == "prod"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/shop/web:2.1"
    assert "test-connection" not in base64.b64decode(artifact["reference"]).decode()


def test_helm_chart_directory_values_from_github_and_crds(repo: Path, tmp_path: Path) -> None:
    with GitHubEmulator(git_repos={"acme/shop": repo}, token="gh-secret") as github:
        section = {"github": {"accounts": [{"name": "gh", "token": "gh-secret", "baseUrl": github.url}]}}
        values = {
            "type": "github/file",
            "reference": github.contents_url("acme/shop", "values-spin.yaml"),
            "version": "staging",
        }
        context = helm_context(repo, helmChartFilePath="chart-dir/Chart.yaml", includeCRDs=True, rawOverrides=True)
        context["inputArtifacts"][1] = {"id": None, "account": "gh", "artifact": values}
        artifact = bake(parse_bake_request(context), fetcher(tmp_path, section))
    kinds = [d["kind"] for d in decoded(artifact)]
    assert kinds[0] == "CustomResourceDefinition" and "Deployment" in kinds


def test_helm2_is_rendered_like_helm3_without_crds(repo: Path, tmp_path: Path) -> None:
    artifact = bake(
        parse_bake_request(helm_context(repo, templateRenderer="helm2", includeCRDs=True)), fetcher(tmp_path)
    )
    assert "CustomResourceDefinition" not in [d["kind"] for d in decoded(artifact)]


def test_kustomize_from_git(tmp_path: Path) -> None:
    repo = make_bare_repo(tmp_path / "k", {"master": {p: t.encode() for p, t in BASE.items()}})
    context = {
        "templateRenderer": "KUSTOMIZE4",
        "inputArtifact": {
            "id": "src",
            "account": "no-auth-git-repo-account",
            "artifact": {"type": "git/repo", "reference": str(repo)},
        },
        "kustomizeFilePath": "overlays/prod/kustomization.yaml",
        "expectedArtifacts": [OUTPUT],
    }
    (deployment,) = decoded(bake(parse_bake_request(context), fetcher(tmp_path)))
    assert deployment["metadata"] == {"name": "prod-web", "namespace": "shop"}
    with pytest.raises(BakeError, match="should contain a kustomize file path"):
        bake(parse_bake_request({**context, "kustomizeFilePath": ""}), fetcher(tmp_path))


def test_request_validation(repo: Path) -> None:
    with pytest.raises(BakeError, match="produces one embedded base64 artifact"):
        parse_bake_request(helm_context(repo, expectedArtifacts=[OUTPUT, OUTPUT]))
    with pytest.raises(BakeError, match="produces one embedded base64 artifact"):
        parse_bake_request(helm_context(repo, expectedArtifacts=[]))
    with pytest.raises(BakeError, match="At least one input artifact to bake must be supplied"):
        parse_bake_request(helm_context(repo, inputArtifacts=[]))
    with pytest.raises(BakeError, match="not supported"):
        parse_bake_request(helm_context(repo, templateRenderer="HELMFILE"))
    with pytest.raises(BakeError, match=r"Input artifact \(id: ghost, account: acc\) could not be found in execution"):
        parse_bake_request(
            helm_context(repo, inputArtifacts=[{"id": "ghost", "account": "acc"}]), resolve=lambda i: None
        )


def test_request_fields_and_bound_artifacts(repo: Path) -> None:
    bound = {"type": "http/file", "reference": "http://127.0.0.1:1/chart.tgz", "artifactAccount": "old"}
    context = helm_context(
        repo,
        inputArtifacts=[{"id": "chart", "account": "my-http"}],
        apiVersions="v1, monitoring.coreos.com/v1",
        kubeVersion="1.29",
        rawOverrides=True,
        evaluateOverrideExpressions=True,
    )
    request = parse_bake_request(context, resolve=lambda i: bound if i == "chart" else None)
    assert request.inputs == [{**bound, "artifactAccount": "my-http"}]
    assert request.api_versions == ["v1", "monitoring.coreos.com/v1"]
    assert (request.kube_version, request.raw_overrides, request.evaluate_override_expressions) == ("1.29", True, True)
    assert (request.output_name, request.namespace, request.output_artifact_name) == ("shop", "prod", "shop-manifests")


def test_fetch_and_render_errors_become_bake_errors(repo: Path, tmp_path: Path) -> None:
    context = helm_context(repo, helmChartFilePath="nope/")
    with pytest.raises(BakeError, match="helmChartFilePath 'nope/' does not exist"):
        bake(parse_bake_request(context), fetcher(tmp_path))
    missing = helm_context(repo)
    missing["inputArtifacts"][1]["artifact"] = {"type": "git/repo", "reference": str(repo), "version": "gone"}
    with pytest.raises(BakeError, match=r"cannot fetch artifact git/repo .*version=gone"):
        bake(parse_bake_request(missing), fetcher(tmp_path))
    several = helm_context(repo)
    several["inputArtifacts"][1]["artifact"] = {"type": "git/repo", "reference": str(repo), "version": "staging"}
    with pytest.raises(BakeError, match="set its sub path to the one values file"):
        bake(parse_bake_request(several), fetcher(tmp_path))
