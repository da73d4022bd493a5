"""Bake (Manifest): render Helm charts and kustomizations into one embedded base64 artifact."""

from gennaker.bake.errors import BakeError
from gennaker.bake.helm import HelmBinaryRenderer, HelmRenderer, render_helm
from gennaker.bake.kustomize import render_kustomize
from gennaker.bake.request import BakeManifestRequest, bake, parse_bake_request

__all__ = [
    "BakeError",
    "BakeManifestRequest",
    "HelmBinaryRenderer",
    "HelmRenderer",
    "bake",
    "parse_bake_request",
    "render_helm",
    "render_kustomize",
]
