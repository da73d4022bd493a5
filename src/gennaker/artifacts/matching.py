"""Binding expected artifacts to the artifacts an execution received, the way Orca does at pipeline start.

Rules (Orca's `ArtifactUtils.resolveArtifacts` and its resolver, kork's `ExpectedArtifact.matches`):

* A match artifact's non-empty `type`, `name`, `version`, `location` and `reference` are regular expressions
  that must match the whole corresponding field; empty fields match anything. An invalid pattern is compared
  as literal text. `artifactAccount`,
  `provenance` and `uuid` are never compared.
* Each expected artifact binds, in order of preference: a binding it already carries; the one received
  artifact it matches (matching several is an error, as Orca asks for unique matches); with
  `usePriorArtifact`, the matching artifact of the previous execution; with `useDefaultArtifact`, its
  `defaultArtifact`. Otherwise resolution fails.
* Received artifacts are not used up: one artifact may bind several expected artifacts.
* At pipeline start only the expected artifacts whose ids the trigger lists in `expectedArtifactIds` are
  resolved; the rest are ignored.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from gennaker.artifacts.model import (
    MATCH_KEYS,
    Artifact,
    ExpectedArtifact,
    artifact_from_json,
    artifact_identity,
    describe_artifact,
    expected_from_json,
)

PriorLookup = Callable[[ExpectedArtifact], Mapping[str, Any] | None]


class ArtifactResolutionError(ValueError):
    """An expected artifact could not be bound (or was ambiguous); the message names it."""


@dataclass(frozen=True)
class Resolution:
    """The expected artifacts, each with `boundArtifact` set, and all artifacts (received + bound) without repeats."""

    expected: list[ExpectedArtifact] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)


def matches(match_artifact: Mapping[str, Any], artifact: Mapping[str, Any]) -> bool:
    """Whether `artifact` satisfies every non-empty matchable field of `match_artifact` (full-string regexes)."""
    for key in MATCH_KEYS:
        pattern = match_artifact.get(key)
        if not pattern:
            continue
        value = artifact.get(key)
        if value is None or not _full_match(str(pattern), str(value)):
            return False
    return True


def resolve_expected_artifacts(
    expected: Sequence[Mapping[str, Any]],
    received: Sequence[Mapping[str, Any]],
    prior: PriorLookup | None = None,
    *,
    require_unique: bool = True,
) -> Resolution:
    """Bind every expected artifact or raise `ArtifactResolutionError` naming the first one that cannot be bound.

    `prior(expected)` returns the artifact the previous execution bound for it (see `prior_artifact_lookup`);
    it is only asked for expected artifacts with `usePriorArtifact`. With `require_unique` (Orca's setting), an
    expected artifact that matches several received artifacts is an error; without it the first one wins.
    """
    candidates = _distinct(artifact_from_json(a) for a in received)
    resolved: list[ExpectedArtifact] = []
    bound: list[Artifact] = []
    for raw in expected:
        item = expected_from_json(raw)
        artifact = _bind(item, candidates, prior, require_unique)
        if artifact is None:
            raise ArtifactResolutionError(
                f"Unmatched expected artifact {describe_expected(item)} could not be resolved."
            )
        item["boundArtifact"] = artifact
        resolved.append(item)
        bound.append(artifact)
    return Resolution(expected=resolved, artifacts=_distinct([*candidates, *bound]))


def resolve_trigger_artifacts(pipeline: Mapping[str, Any], prior: PriorLookup | None = None) -> Resolution:
    """Orca's start-of-pipeline resolution for a pipeline JSON holding `trigger`, `expectedArtifacts` and
    optionally `receivedArtifacts`.

    Only expected artifacts named by `trigger.expectedArtifactIds` are resolved. The caller stores
    `artifacts` as `trigger.artifacts` and `expected` as both `trigger.expectedArtifacts` and
    `trigger.resolvedExpectedArtifacts`.
    """
    trigger = pipeline.get("trigger") or {}
    wanted: Collection[Any] = trigger.get("expectedArtifactIds") or ()
    expected = [e for e in pipeline.get("expectedArtifacts") or () if isinstance(e, Mapping) and e.get("id") in wanted]
    received = [*(pipeline.get("receivedArtifacts") or ()), *(trigger.get("artifacts") or ())]
    return resolve_expected_artifacts(expected, received, prior)


def prior_artifact_lookup(artifacts: Sequence[Mapping[str, Any]], *, require_unique: bool = True) -> PriorLookup:
    """A `prior` callable that matches against the previous execution's artifacts.

    Pass them newest first (stage outputs from the last stage backwards, then the trigger's artifacts), as
    Orca collects them.
    """
    pool = _distinct(artifact_from_json(a) for a in artifacts)

    def lookup(expected: ExpectedArtifact) -> Artifact | None:
        return _unique_match(expected, pool, require_unique)

    return lookup


def describe_expected(expected: Mapping[str, Any]) -> str:
    """`id=…, displayName=…, matchArtifact={…}` for messages."""
    match = json.dumps(expected.get("matchArtifact") or {}, sort_keys=True, default=str)
    return f"(id={expected.get('id') or ''}, displayName={expected.get('displayName') or ''}, matchArtifact={match})"


def _bind(
    expected: ExpectedArtifact, candidates: list[Artifact], prior: PriorLookup | None, require_unique: bool
) -> Artifact | None:
    if expected.get("boundArtifact"):
        return expected["boundArtifact"]
    found = _unique_match(expected, candidates, require_unique)
    if found is None and expected.get("usePriorArtifact") and prior is not None:
        earlier = prior(expected)
        found = artifact_from_json(earlier) if earlier else None
    if found is None and expected.get("useDefaultArtifact") and expected.get("defaultArtifact"):
        found = expected["defaultArtifact"]
    return found


def _unique_match(expected: ExpectedArtifact, pool: Iterable[Artifact], require_unique: bool) -> Artifact | None:
    match_artifact = expected.get("matchArtifact") or {}
    found = [a for a in pool if matches(match_artifact, a)]
    if len(found) > 1 and require_unique:
        names = "; ".join(describe_artifact(a) for a in found)
        raise ArtifactResolutionError(
            f"Expected artifact {describe_expected(expected)} matches multiple artifacts: {names}"
        )
    return found[0] if found else None


def _distinct(artifacts: Iterable[Artifact]) -> list[Artifact]:
    seen: set[str] = set()
    result: list[Artifact] = []
    for artifact in artifacts:
        key = artifact_identity(artifact)
        if key not in seen:
            seen.add(key)
            result.append(artifact)
    return result


def _full_match(pattern: str, value: str) -> bool:
    compiled = _compile(pattern)
    return value == pattern if compiled is None else compiled.fullmatch(value) is not None


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> Any:
    """The compiled pattern (RE2: linear time, as for trigger constraints), or None when it is not a valid
    regex or uses syntax RE2 lacks (backreferences, lookaround); then it is compared literally."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None
