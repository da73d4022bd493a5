"""The Bake (Manifest) stage: its context as a request, and `bake()`, which fetches, renders and returns the
`embedded/base64` artifact holding the rendered YAML (Orca's `CreateBakeManifestTask` plus Rosco).

Helm: `inputArtifacts[0]` is the chart, either a chart archive (`helm/chart`, `http/file`, …) or a
`git/repo` whose `helmChartFilePath` names the chart directory, its `Chart.yaml` or a chart archive inside
the repository; the other inputs are values files, in order. HELM2 is rendered like HELM3 (without CRDs).
Kustomize: the single input is a `git/repo` and `kustomizeFilePath` names the kustomization in it.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gennaker.artifacts.fetchers import Fetch
from gennaker.artifacts.model import Artifact, artifact_from_json, describe_artifact
from gennaker.bake.archive import extract_tarball, inside
from gennaker.bake.errors import BakeError
from gennaker.bake.helm import HelmRenderer, render_helm
from gennaker.bake.kustomize import render_kustomize
from gennaker.bake.limits import DEFAULT_LIMITS, BakeLimits

HELM_RENDERERS = ("HELM2", "HELM3")
KUSTOMIZE_RENDERERS = ("KUSTOMIZE", "KUSTOMIZE4")
ONE_OUTPUT_ARTIFACT = (
    "The Bake (Manifest) stage produces one embedded base64 artifact. Please ensure that your Bake (Manifest) "
    "stage config's `Produces Artifacts` section (`expectedArtifacts` field) contains exactly one artifact."
)
NO_INPUTS = "At least one input artifact to bake must be supplied"

ResolveId = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class BakeManifestRequest:
    """A validated `bakeManifest` context. `inputs` are the artifacts to fetch, with the stage's account set."""

    template_renderer: str
    inputs: list[Artifact]
    output_artifact_name: str | None
    expected_artifact: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    raw_overrides: bool = False
    evaluate_override_expressions: bool = False
    include_crds: bool = False
    namespace: str | None = None
    output_name: str | None = None
    api_versions: list[str] = field(default_factory=list)
    kube_version: str | None = None
    helm_chart_file_path: str | None = None
    kustomize_file_path: str | None = None


def parse_bake_request(context: Mapping[str, Any], resolve: ResolveId | None = None) -> BakeManifestRequest:
    """Validate a stage context; `resolve(id)` returns the bound artifact of an expected artifact id.

    An input with an `id` takes the artifact bound to it (when `resolve` is given), otherwise its inline
    `artifact`; a non-empty `account` replaces the artifact's `artifactAccount`, as in Orca.
    """
    renderer = str(context.get("templateRenderer") or "").upper()
    if renderer not in (*HELM_RENDERERS, *KUSTOMIZE_RENDERERS):
        supported = ", ".join((*HELM_RENDERERS, *KUSTOMIZE_RENDERERS))
        raise BakeError(f"template renderer {context.get('templateRenderer')!r} is not supported (use {supported})")
    expected = context.get("expectedArtifacts") or []
    if not isinstance(expected, list) or len(expected) != 1 or not isinstance(expected[0], Mapping):
        raise BakeError(ONE_OUTPUT_ARTIFACT)
    match = expected[0].get("matchArtifact") or {}
    raw_inputs = _raw_inputs(context, renderer)
    if not raw_inputs:
        raise BakeError(NO_INPUTS)
    overrides = context.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise BakeError("overrides must be a map of Helm value paths to values")
    return BakeManifestRequest(
        template_renderer=renderer,
        inputs=[_input_artifact(item, resolve) for item in raw_inputs],
        output_artifact_name=match.get("name") if isinstance(match, Mapping) else None,
        expected_artifact=dict(expected[0]),
        overrides=dict(overrides),
        raw_overrides=bool(context.get("rawOverrides")),
        evaluate_override_expressions=bool(context.get("evaluateOverrideExpressions")),
        include_crds=bool(context.get("includeCRDs")),
        namespace=_text(context.get("namespace")),
        output_name=_text(context.get("outputName")),
        api_versions=_api_versions(context.get("apiVersions")),
        kube_version=_text(context.get("kubeVersion")),
        helm_chart_file_path=_text(context.get("helmChartFilePath")),
        kustomize_file_path=_text(context.get("kustomizeFilePath")),
    )


def bake(
    request: BakeManifestRequest,
    fetch: Fetch,
    *,
    helm: HelmRenderer = render_helm,
    limits: BakeLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Fetch the inputs, render them, and return `{type: embedded/base64, name, reference}`. `limits` bound
    the fetched inputs, unpacking and kustomize; the Helm renderer has its own (the stage gives it the same)."""
    with tempfile.TemporaryDirectory(prefix="gennaker-bake-") as tmp:
        work = Path(tmp)
        if request.template_renderer in KUSTOMIZE_RENDERERS:
            manifests = _bake_kustomize(request, fetch, work, limits)
        else:
            manifests = _bake_helm(request, fetch, work, helm, limits)
    return {
        "type": "embedded/base64",
        "name": request.output_artifact_name,
        "reference": base64.b64encode(manifests.encode()).decode(),
    }


def _bake_helm(request: BakeManifestRequest, fetch: Fetch, work: Path, helm: HelmRenderer, limits: BakeLimits) -> str:
    chart_artifact, *values_artifacts = request.inputs
    chart: bytes | Path
    if chart_artifact.get("type") == "git/repo":
        data = _fetch(fetch, chart_artifact, limits)
        repo = extract_tarball(data, work / "chart", what="the chart repository", limits=limits)
        chart = inside(repo, request.helm_chart_file_path or "", what="helmChartFilePath")
        if chart.is_file() and chart.name in ("Chart.yaml", "Chart.yml"):
            chart = chart.parent
        if not chart.exists():
            raise BakeError(f"helmChartFilePath {request.helm_chart_file_path!r} does not exist in the repository")
    else:
        chart = _fetch(fetch, chart_artifact, limits)
    values = [_values_file(fetch, a, work / f"values-{i}", limits) for i, a in enumerate(values_artifacts)]
    return helm(
        chart,
        values,
        request.overrides,
        raw_overrides=request.raw_overrides,
        release_name=request.output_name or "",
        namespace=request.namespace,
        include_crds=request.include_crds and request.template_renderer != "HELM2",
        api_versions=request.api_versions,
        kube_version=request.kube_version,
    )


def _bake_kustomize(request: BakeManifestRequest, fetch: Fetch, work: Path, limits: BakeLimits) -> str:
    source = request.inputs[0]
    if source.get("type") != "git/repo":
        raise BakeError(f"Kustomize bakes need a git/repo input artifact, not {describe_artifact(source)}")
    if not request.kustomize_file_path:
        raise BakeError("The bake request should contain a kustomize file path.")
    data = _fetch(fetch, source, limits)
    repo = extract_tarball(data, work / "repo", what="the kustomize repository", limits=limits)
    return render_kustomize(repo, request.kustomize_file_path, limits=limits)


def _values_file(fetch: Fetch, artifact: Artifact, work: Path, limits: BakeLimits) -> bytes:
    """A values file's bytes; a `git/repo` values artifact must name one file (its sub path) or hold one file."""
    data = _fetch(fetch, artifact, limits)
    if artifact.get("type") != "git/repo":
        return data
    tree = extract_tarball(data, work, what=f"values artifact {describe_artifact(artifact)}", limits=limits)
    metadata = artifact.get("metadata") or {}
    sub_path = str(metadata.get("subPath") or artifact.get("location") or "")
    target = inside(tree, sub_path, what="the values file sub path")
    if target.is_file():
        return target.read_bytes()
    files = [p for p in target.rglob("*") if p.is_file()]
    if len(files) != 1:
        raise BakeError(
            f"values artifact {describe_artifact(artifact)} is a git/repo holding {len(files)} files; "
            "set its sub path to the one values file"
        )
    return files[0].read_bytes()


def _fetch(fetch: Fetch, artifact: Artifact, limits: BakeLimits) -> bytes:
    try:
        data = fetch(artifact)
    except BakeError:
        raise
    except Exception as exc:  # a fetcher's own error type; the bake fails with its message
        raise BakeError(str(exc)) from exc
    if len(data) > limits.max_input_bytes:
        raise BakeError(
            f"input artifact {describe_artifact(artifact)} is {len(data)} bytes, more than "
            f"{limits.max_input_bytes} (limit: bake.maxInputBytes)"
        )
    return data


def _raw_inputs(context: Mapping[str, Any], renderer: str) -> list[Mapping[str, Any]]:
    single = context.get("inputArtifact")
    if renderer in KUSTOMIZE_RENDERERS and isinstance(single, Mapping) and single:
        return [single]
    items = context.get("inputArtifacts") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise BakeError("inputArtifacts must be a list of {id, account, artifact} objects")
    return list(items)


def _input_artifact(item: Mapping[str, Any], resolve: ResolveId | None) -> Artifact:
    artifact_id, account = item.get("id"), item.get("account")
    found = resolve(str(artifact_id)) if artifact_id and resolve is not None else item.get("artifact")
    if not found:
        raise BakeError(f"Input artifact (id: {artifact_id}, account: {account}) could not be found in execution")
    artifact = artifact_from_json(found)
    if account:
        artifact["artifactAccount"] = str(account)
    return artifact


def _api_versions(value: Any) -> list[str]:
    items: Sequence[Any] = value.split(",") if isinstance(value, str) else value or []
    return [str(v).strip() for v in items if str(v).strip()]


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
