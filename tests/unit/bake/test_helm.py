from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from gennaker.bake import BakeError, HelmBinaryRenderer, render_helm
from tests.unit.bake.charts import package_chart, write_chart

HELM_OPTIONS: dict[str, Any] = {
    "raw_overrides": False,
    "release_name": "shop",
    "namespace": "prod",
    "include_crds": False,
    "api_versions": [],
    "kube_version": None,
}


def render(
    chart: bytes | Path, values: list[bytes] | None = None, overrides: Mapping[str, Any] | None = None, **options: Any
) -> str:
    return render_helm(chart, values or [], overrides or {}, **{**HELM_OPTIONS, **options})


def documents(output: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(output) if d]


def by_kind(output: str, kind: str) -> dict[str, Any]:
    return next(d for d in documents(output) if d["kind"] == kind)


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chart(tmp_path_factory.mktemp("chart"))


def test_defaults_release_namespace_sources_and_order(chart: Path) -> None:
    output = render(chart)
    assert [d["kind"] for d in documents(output)] == ["Service", "Deployment", "Job"]  # install order, hooks last
    deployment = by_kind(output, "Deployment")
    assert deployment["metadata"] == {"name": "shop-web", "namespace": "prod", "labels": {"replicas-kind": "float64"}}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "# Source: web/templates/deployment.yaml\n" in output
    assert output.startswith("---\n# Source: web/templates/service.yaml\n")
    assert "test-connection" not in output and "Thanks for installing" not in output
    assert render(chart) == output  # stable
    assert by_kind(render(chart, namespace=None), "Deployment")["metadata"]["namespace"] == "default"


def test_values_files_then_overrides(chart: Path) -> None:
    first = b"replicas: 2\ngreeting: from-file-1\nimage: {tag: '2.0'}\n"
    second = (
        b"greeting: from-file-2\n"
        b"ingress:\n  enabled: true\n  hosts:\n    - host: file.example.com\n      paths: [/app]\n"
    )
    overrides = {"image.repository": "registry.example.com/shop/web", "ingress.hosts[0].host": "shop.example.com"}
    output = render(chart, [first, second], overrides)
    deployment = by_kind(output, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "registry.example.com/shop/web:2.0"
    assert container["env"][0] == {"name": "GREETING", "value": "from-file-2"}
    rule = by_kind(output, "Ingress")["spec"]["rules"][0]
    assert rule["host"] == "shop.example.com"  # the override wins...
    assert rule["http"]["paths"][0]["path"] == "/app"  # ...and keeps the rest of the list item from the file


def test_set_string_versus_raw_overrides(chart: Path) -> None:
    overrides = {"replicas": "3", "flag": "true", "greeting": "a,b=c\\d"}
    as_strings = by_kind(render(chart, overrides=overrides), "Deployment")
    assert as_strings["metadata"]["labels"]["replicas-kind"] == "string"
    assert as_strings["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] == "string"
    assert as_strings["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "a,b=c\\d"  # commas kept
    raw = by_kind(render(chart, overrides=overrides, raw_overrides=True), "Deployment")
    # a number (Helm's own `--set` would make it int64; values pass to the engine as JSON, so float64)
    assert raw["metadata"]["labels"]["replicas-kind"] == "float64"
    assert raw["spec"]["replicas"] == 3
    assert raw["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] == "bool"
    assert raw["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "a,b=c\\d"


def test_archive_bytes_crds_and_capabilities(chart: Path, tmp_path: Path) -> None:
    archive = package_chart(chart, tmp_path)
    output = render(archive, include_crds=True, api_versions=["monitoring.coreos.com/v1"], kube_version="v1.29.3")
    kinds = [d["kind"] for d in documents(output)]
    assert kinds[0] == "CustomResourceDefinition" and "ServiceMonitor" in kinds
    assert output.startswith("---\n# Source: web/crds/widgets.yaml\n")
    assert by_kind(output, "ServiceMonitor")["metadata"]["annotations"]["kube-version"] == "v1.29.3"
    assert "ServiceMonitor" not in render(archive)


def test_errors_carry_helms_message(chart: Path, tmp_path: Path) -> None:
    broken = write_chart(tmp_path / "broken")
    (broken / "templates" / "bad.yaml").write_text("value: {{ .Values.missing.deeper }}\n")
    with pytest.raises(BakeError, match=r"(?s)bad\.yaml.*nil pointer evaluating interface \{\}\.deeper"):
        render(broken)
    with pytest.raises(BakeError, match="invalid release name"):
        render(chart, release_name="Not_Valid")
    with pytest.raises(BakeError, match="values file 1 is not valid YAML"):
        render(chart, [b"a: [unclosed\n"])
    with pytest.raises(BakeError):
        render(b"not a chart archive")
    (broken / "templates" / "bad.yaml").write_text("a: b\n  c: d: e\n")
    with pytest.raises(BakeError, match=r"YAML parse error on web/templates/bad\.yaml"):
        render(broken)


def test_binary_renderer_builds_helm_template_command(chart: Path, tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    args_file = tmp_path / "args"
    fake.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do echo "$a"; done > {args_file}\n'
        "printf -- '---\\n# Source: web/templates/a.yaml\\nkind: A\\n"
        "---\\n# Source: web/templates/tests/t.yaml\\nkind: T\\n'\n"
    )
    fake.chmod(0o755)
    renderer = HelmBinaryRenderer(str(fake))
    output = renderer(
        chart,
        [b"a: 1\n", b"b: 2\n"],
        {"image.repository": "x,y", "replicas": 3},
        raw_overrides=True,
        release_name="shop",
        namespace="prod",
        include_crds=True,
        api_versions=["v1", "apps/v1"],
        kube_version="1.29",
    )
    assert output == "---\n# Source: web/templates/a.yaml\nkind: A\n"
    args = args_file.read_text().splitlines()
    assert args[:3] == ["template", "--namespace=prod", "--include-crds"]
    assert args[3:6] == ["--api-versions=v1", "--api-versions=apps/v1", "--kube-version=1.29"]
    assert args[6:8] == ["--set=image.repository=x\\,y", "--set=replicas=3"]
    flag, values = args[8].split("=", 1)
    assert flag == "--values" and [Path(v).name for v in values.split(",")] == ["values-0.yaml", "values-1.yaml"]
    assert args[9:] == ["--", "shop", str(chart)]
    failing = tmp_path / "failing-helm"
    failing.write_text("#!/bin/sh\necho 'Error: chart requires kubeVersion: >=1.30' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(BakeError, match="chart requires kubeVersion"):
        HelmBinaryRenderer(str(failing))(
            chart,
            [],
            {},
            raw_overrides=False,
            release_name="r",
            namespace=None,
            include_crds=False,
            api_versions=[],
            kube_version=None,
        )
