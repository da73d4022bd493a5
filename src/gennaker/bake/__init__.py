"""Bake (Manifest): render Helm charts and kustomizations into one embedded base64 artifact.

`bake`, `parse_bake_request` and `BakeManifestRequest` are loaded on first use: they import the artifact
fetchers, which the Helm render child (`helm_child`) does not need and which would triple its start time.
"""

from typing import TYPE_CHECKING, Any

from gennaker.bake.errors import BakeError
from gennaker.bake.helm import HelmBinaryRenderer, HelmEngineRenderer, HelmRenderer, render_helm
from gennaker.bake.kustomize import render_kustomize
from gennaker.bake.limits import BakeConfigError, BakeLimits

if TYPE_CHECKING:
    from gennaker.bake.request import BakeManifestRequest, bake, parse_bake_request

__all__ = [
    "BakeConfigError",
    "BakeError",
    "BakeLimits",
    "BakeManifestRequest",
    "HelmBinaryRenderer",
    "HelmEngineRenderer",
    "HelmRenderer",
    "bake",
    "parse_bake_request",
    "render_helm",
    "render_kustomize",
]
_REQUEST_NAMES = ("BakeManifestRequest", "bake", "parse_bake_request")


def __getattr__(name: str) -> Any:
    if name in _REQUEST_NAMES:
        from gennaker.bake import request

        return getattr(request, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
