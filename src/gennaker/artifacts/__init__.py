"""Spinnaker artifacts: the JSON model, expected-artifact matching, artifact accounts and fetchers.

The engine binds trigger artifacts with `matching`, stages fetch artifact contents with `fetchers`, and the
API lists `accounts` without their secrets.
"""

from gennaker.artifacts.accounts import ArtifactAccount, ArtifactAccounts, ArtifactConfigError, artifact_accounts
from gennaker.artifacts.fetchers import ArtifactFetcher, ArtifactFetchError, Fetch
from gennaker.artifacts.matching import (
    ArtifactResolutionError,
    Resolution,
    matches,
    prior_artifact_lookup,
    resolve_expected_artifacts,
    resolve_trigger_artifacts,
)
from gennaker.artifacts.model import (
    Artifact,
    ExpectedArtifact,
    artifact_from_json,
    artifact_to_json,
    expected_from_json,
)

__all__ = [
    "Artifact",
    "ArtifactAccount",
    "ArtifactAccounts",
    "ArtifactConfigError",
    "ArtifactFetchError",
    "ArtifactFetcher",
    "ArtifactResolutionError",
    "ExpectedArtifact",
    "Fetch",
    "Resolution",
    "artifact_accounts",
    "artifact_from_json",
    "artifact_to_json",
    "expected_from_json",
    "matches",
    "prior_artifact_lookup",
    "resolve_expected_artifacts",
    "resolve_trigger_artifacts",
]
