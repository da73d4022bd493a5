"""Unpacking fetched tarballs (git/repo artifacts) without letting them write outside the target directory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

from gennaker.bake.errors import BakeError
from gennaker.bake.limits import DEFAULT_LIMITS, BakeLimits


def extract_tarball(data: bytes, destination: Path, *, what: str, limits: BakeLimits = DEFAULT_LIMITS) -> Path:
    """Unpack a (gzipped) tarball into `destination` with tarfile's `data` filter (no absolute paths, no
    escaping links, no devices) once its size and entry count are known to be within the limits."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            _check_members(tar, what, limits)
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BakeError(f"cannot unpack {what}: {exc}") from None
    return destination


def _check_members(tar: tarfile.TarFile, what: str, limits: BakeLimits) -> None:
    """Read the headers one by one and stop at the first limit passed: a small archive can hold millions of
    empty entries, whose headers alone would fill memory."""
    size = 0
    for count, member in enumerate(tar, start=1):
        if count > limits.max_unpacked_files:
            raise BakeError(
                f"{what} holds more than {limits.max_unpacked_files} entries (limit: bake.maxUnpackedFiles)"
            )
        size += member.size if member.isfile() else 0
        if size > limits.max_unpacked_bytes:
            raise BakeError(
                f"{what} unpacks to more than {limits.max_unpacked_bytes} bytes (limit: bake.maxUnpackedBytes)"
            )


def inside(root: Path, relative: str, *, what: str) -> Path:
    """`root / relative`, refusing absolute paths and `..` so a stage cannot read outside the repository."""
    text = relative.strip()
    parts = PurePosixPath(text).parts if text else ()
    if text.startswith("/") or ".." in parts:
        raise BakeError(f"{what} {relative!r} must be a relative path inside the repository")
    target = root.joinpath(*parts).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise BakeError(f"{what} {relative!r} leaves the repository")
    return target
