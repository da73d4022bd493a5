"""Unpacking fetched tarballs (git/repo artifacts) without letting them write outside the target directory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

from gennaker.bake.errors import BakeError

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024


def extract_tarball(data: bytes, destination: Path, *, what: str, max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack a (gzipped) tarball into `destination` with tarfile's `data` filter (no absolute paths, no
    escaping links, no devices) and a size limit; returns `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            if sum(m.size for m in tar.getmembers() if m.isfile()) > max_bytes:
                raise BakeError(f"{what} unpacks to more than {max_bytes} bytes")
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BakeError(f"cannot unpack {what}: {exc}") from None
    return destination


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
