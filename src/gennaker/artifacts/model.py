"""The artifact JSON Spinnaker passes around, kept as plain dicts so executions store it unchanged.

Artifacts travel through triggers, stage contexts and outputs as JSON, so they are typed dicts rather than
classes. The helpers normalise incoming JSON the way Spinnaker's Jackson model does: known keys are kept,
`null`s are dropped and unknown keys are folded into `metadata`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict, cast

STRING_KEYS = ("type", "name", "version", "location", "reference", "artifactAccount", "provenance", "uuid")
ARTIFACT_KEYS = (*STRING_KEYS, "metadata", "customKind")
MATCH_KEYS = ("type", "name", "version", "location", "reference")
_USERINFO = re.compile(r"//[^/@\s]+@")


class Artifact(TypedDict, total=False):
    """Spinnaker's artifact: what it is (`type`, `name`, `version`, `location`) and where to get it (`reference`)."""

    type: str
    name: str
    version: str
    location: str
    reference: str
    artifactAccount: str
    provenance: str
    uuid: str
    metadata: dict[str, Any]
    customKind: bool


class ExpectedArtifact(TypedDict, total=False):
    """A pipeline's or stage's declaration of an artifact it needs, and how to bind one when none arrives."""

    id: str
    displayName: str
    matchArtifact: Artifact
    useDefaultArtifact: bool
    defaultArtifact: Artifact
    usePriorArtifact: bool
    boundArtifact: Artifact


def artifact_from_json(data: Mapping[str, Any]) -> Artifact:
    """A normalised artifact: scalar keys as strings, `null`s dropped, unknown keys moved into `metadata`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"an artifact must be a JSON object, not {type(data).__name__}")
    result: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in STRING_KEYS:
            result[key] = value if isinstance(value, str) else _scalar_text(key, value)
        elif key == "customKind":
            result[key] = bool(value)
        elif key == "metadata":
            if not isinstance(value, Mapping):
                raise ValueError("artifact metadata must be a JSON object")
            extra = {**dict(value), **extra}
        else:
            extra[key] = value
    if extra:
        result["metadata"] = extra
    return cast(Artifact, result)


def artifact_to_json(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of an artifact (a fresh dict, so callers may mutate it)."""
    return dict(artifact_from_json(artifact))


def expected_from_json(data: Mapping[str, Any]) -> ExpectedArtifact:
    """A normalised expected artifact; nested artifacts are normalised, the flags default to false."""
    if not isinstance(data, Mapping):
        raise ValueError(f"an expected artifact must be a JSON object, not {type(data).__name__}")
    result: dict[str, Any] = {
        "id": str(data.get("id") or ""),
        "useDefaultArtifact": bool(data.get("useDefaultArtifact")),
        "usePriorArtifact": bool(data.get("usePriorArtifact")),
    }
    if data.get("displayName") is not None:
        result["displayName"] = str(data["displayName"])
    for key in ("matchArtifact", "defaultArtifact", "boundArtifact"):
        if data.get(key) is not None:
            result[key] = artifact_from_json(data[key])
    result.setdefault("matchArtifact", {})
    return cast(ExpectedArtifact, result)


def artifact_identity(artifact: Mapping[str, Any]) -> str:
    """A stable text key for equality, so lists of artifacts can be deduplicated like Java sets."""
    return json.dumps(artifact_from_json(artifact), sort_keys=True, default=str)


def describe_artifact(artifact: Mapping[str, Any]) -> str:
    """A short description naming the artifact for error messages: long references are cut, URL credentials
    and embedded content left out."""
    parts = [str(artifact.get("type") or "<no type>")]
    for key in ("name", "reference", "version"):
        value = artifact.get(key)
        if value:
            text = _USERINFO.sub("//***@", str(value))
            if key == "reference" and artifact.get("type") == "embedded/base64":
                text = f"<{len(text)} base64 characters>"
            elif len(text) > 120:
                text = text[:117] + "..."
            parts.append(f"{key}={text}")
    return " ".join(parts)


def _scalar_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"artifact field {key} must be a string, not {type(value).__name__}")
