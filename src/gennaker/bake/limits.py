"""How much a bake may read, unpack, render and use, from the configuration file's `bake:` section.

A bake runs templates that pipeline authors supply: without limits, a few hundred bytes of chart can render
gigabytes, a template can loop until restart, and a kustomization can make kustomize reach the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
# Keys of `bake:` read by `CreateBakeManifestTask.from_config`, accepted here so that a mistyped key is an error.
OTHER_KEYS = ("helmExecutable",)
_SIZES = {  # configuration key: field
    "maxOutputBytes": "max_output_bytes",
    "maxRenderMemoryBytes": "max_render_memory_bytes",
    "maxInputBytes": "max_input_bytes",
    "maxUnpackedBytes": "max_unpacked_bytes",
    "maxUnpackedFiles": "max_unpacked_files",
}


class BakeConfigError(ValueError):
    """The `bake:` configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class BakeLimits:
    """Every limit fails the bake with a BakeError that names its configuration key."""

    max_output_bytes: int = 10 * MIB  # bake.maxOutputBytes: rendered manifests
    render_timeout_s: float = 60.0  # bake.renderTimeoutSeconds: one helm or kustomize render
    max_render_memory_bytes: int = 1024 * MIB  # bake.maxRenderMemoryBytes: in-process Helm child (RLIMIT_DATA)
    max_input_bytes: int = 100 * MIB  # bake.maxInputBytes: each fetched input (chart, repository, values)
    max_unpacked_bytes: int = 1024 * MIB  # bake.maxUnpackedBytes: files of an unpacked repository
    max_unpacked_files: int = 100_000  # bake.maxUnpackedFiles: entries of an unpacked repository
    allow_remote_bases: bool = False  # bake.kustomize.allowRemoteBases: kustomize may fetch remote bases

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> BakeLimits:
        """Limits from the `bake:` section; absent keys keep their defaults."""
        section = _mapping(section, "bake")
        kustomize = _mapping(section.get("kustomize"), "bake.kustomize")
        _known(section, "bake", (*OTHER_KEYS, *_SIZES, "renderTimeoutSeconds", "kustomize"))
        _known(kustomize, "bake.kustomize", ("allowRemoteBases",))
        defaults = cls()
        sizes = {field: _positive_int(section, key, getattr(defaults, field)) for key, field in _SIZES.items()}
        allow = kustomize.get("allowRemoteBases", defaults.allow_remote_bases)
        if not isinstance(allow, bool):
            raise BakeConfigError(f"bake.kustomize.allowRemoteBases must be true or false, not {allow!r}")
        timeout = section.get("renderTimeoutSeconds", defaults.render_timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise BakeConfigError(f"bake.renderTimeoutSeconds must be a positive number of seconds, not {timeout!r}")
        return cls(**sizes, render_timeout_s=float(timeout), allow_remote_bases=allow)


DEFAULT_LIMITS = BakeLimits()


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BakeConfigError(f"{where} must be a mapping")
    return value


def _known(section: Mapping[str, Any], where: str, keys: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in section if k not in keys)
    if unknown:
        raise BakeConfigError(f"{where}.{unknown[0]} is not a known setting (known: {', '.join(keys)})")


def _positive_int(section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BakeConfigError(f"bake.{key} must be a positive whole number, not {value!r}")
    return value
