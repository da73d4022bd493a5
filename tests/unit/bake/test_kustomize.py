from pathlib import Path

import pytest
import yaml

from gennaker.bake import BakeError, render_kustomize

BASE = {
    "base/kustomization.yaml": "resources: [deployment.yaml]\n",
    "base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n",
    "overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\nnamespace: shop\n",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_overlay_by_file_or_directory(tmp_path: Path) -> None:
    root = write(tmp_path, BASE)
    for path in ("overlays/prod/kustomization.yaml", "overlays/prod"):
        (deployment,) = list(yaml.safe_load_all(render_kustomize(root, path)))
        assert deployment["metadata"] == {"name": "prod-web", "namespace": "shop"}


def test_errors(tmp_path: Path) -> None:
    root = write(tmp_path, {**BASE, "broken/kustomization.yaml": "resources: [missing.yaml]\n"})
    with pytest.raises(BakeError, match=r"kustomize build failed: .*missing\.yaml"):
        render_kustomize(root, "broken/kustomization.yaml")
    with pytest.raises(BakeError, match="does not exist"):
        render_kustomize(root, "nowhere/kustomization.yaml")
    with pytest.raises(BakeError, match="inside the repository"):
        render_kustomize(root, "../outside")
    with pytest.raises(BakeError, match="should contain a kustomize file path"):
        render_kustomize(root, "")
