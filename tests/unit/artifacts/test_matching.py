from typing import Any

import pytest

from gennaker.artifacts import (
    ArtifactResolutionError,
    artifact_from_json,
    matches,
    prior_artifact_lookup,
    resolve_expected_artifacts,
    resolve_trigger_artifacts,
)

IMAGE = {"type": "docker/image", "name": "gcr.io/p/app", "reference": "gcr.io/p/app:1.2", "version": "1.2"}
CHART = {"type": "helm/chart", "name": "app", "version": "0.3.0", "artifactAccount": "charts"}


@pytest.mark.parametrize(
    ("match", "artifact", "expected"),
    [
        ({}, IMAGE, True),
        ({"type": "docker/image"}, IMAGE, True),
        ({"type": "docker/.*"}, IMAGE, True),
        ({"type": "docker"}, IMAGE, False),  # a full match, not a search
        ({"name": "gcr.io/p/app"}, IMAGE, True),
        ({"name": "gcr\\.io/p/.*", "version": "1\\.\\d+"}, IMAGE, True),
        ({"name": "gcr.io/p/app", "version": "2.*"}, IMAGE, False),
        ({"location": "ns"}, IMAGE, False),  # the artifact has no location
        ({"location": ""}, IMAGE, True),  # empty fields match anything
        ({"reference": "gcr.io/p/app:1.2"}, IMAGE, True),
        ({"artifactAccount": "other", "uuid": "x", "provenance": "y"}, IMAGE, True),  # never compared
        ({"name": "[unclosed"}, {"name": "[unclosed"}, True),  # invalid regex: literal comparison
        ({"name": "[unclosed"}, {"name": "unclosed"}, False),
        ({"name": "(?=look)ahead"}, {"name": "(?=look)ahead"}, True),  # unsupported syntax: literal too
    ],
)
def test_matches(match: dict[str, Any], artifact: dict[str, Any], expected: bool) -> None:
    assert matches(match, artifact) is expected


def test_artifact_from_json_normalises_like_spinnaker() -> None:
    artifact = artifact_from_json({"type": "a/b", "name": None, "version": 3, "id": "x", "metadata": {"k": 1}})
    assert artifact == {"type": "a/b", "version": "3", "metadata": {"k": 1, "id": "x"}}


def expected(ident: str, match: dict[str, Any], **flags: Any) -> dict[str, Any]:
    return {"id": ident, "displayName": f"display-{ident}", "matchArtifact": match, **flags}


def test_received_artifact_binds_and_may_bind_several_expected() -> None:
    result = resolve_expected_artifacts(
        [expected("e1", {"type": "docker/image"}), expected("e2", {"name": "gcr.io/p/.*"})], [IMAGE, CHART]
    )
    assert [e["boundArtifact"] for e in result.expected] == [IMAGE, IMAGE]
    assert result.artifacts == [IMAGE, CHART]


def test_prior_then_default_in_that_order() -> None:
    default = {"type": "docker/image", "name": "gcr.io/p/app", "reference": "gcr.io/p/app:default"}
    prior_image = {**IMAGE, "reference": "gcr.io/p/app:prior"}
    both = expected(
        "e", {"type": "docker/image"}, usePriorArtifact=True, useDefaultArtifact=True, defaultArtifact=default
    )
    assert resolve_expected_artifacts([both], [], prior_artifact_lookup([prior_image])).expected[0][
        "boundArtifact"
    ] == (prior_image)
    result = resolve_expected_artifacts([both], [], prior_artifact_lookup([CHART]))
    assert result.expected[0]["boundArtifact"] == default
    assert result.artifacts == [default]  # bound defaults join the artifact list
    # usePriorArtifact without a prior lookup falls through to the default
    assert resolve_expected_artifacts([both], []).expected[0]["boundArtifact"] == default


def test_received_beats_prior_and_default() -> None:
    item = expected(
        "e", {"type": "docker/image"}, usePriorArtifact=True, useDefaultArtifact=True, defaultArtifact=CHART
    )
    called: list[Any] = []

    def prior(expected: Any) -> dict[str, Any]:
        called.append(expected)
        return CHART

    result = resolve_expected_artifacts([item], [IMAGE], prior)
    assert result.expected[0]["boundArtifact"] == IMAGE
    assert called == []


def test_default_needs_the_flag() -> None:
    item = expected("e", {"type": "docker/image"}, useDefaultArtifact=False, defaultArtifact=IMAGE)
    with pytest.raises(ArtifactResolutionError):
        resolve_expected_artifacts([item], [])


def test_missing_artifact_error_names_it() -> None:
    with pytest.raises(ArtifactResolutionError) as caught:
        resolve_expected_artifacts([expected("my-id", {"type": "helm/chart", "name": "web"})], [IMAGE])
    message = str(caught.value)
    assert message.startswith("Unmatched expected artifact")
    assert "my-id" in message and "display-my-id" in message and '"name": "web"' in message


def test_several_matches_are_an_error_unless_first_wins() -> None:
    other = {**IMAGE, "reference": "gcr.io/p/app:2"}
    item = expected("e", {"type": "docker/image"})
    with pytest.raises(ArtifactResolutionError, match="matches multiple artifacts"):
        resolve_expected_artifacts([item], [IMAGE, other])
    assert (
        resolve_expected_artifacts([item], [IMAGE, other], require_unique=False).expected[0]["boundArtifact"] == IMAGE
    )


def test_duplicates_are_removed_and_existing_bindings_kept() -> None:
    already = expected("e", {"type": "nothing/matches"}, boundArtifact=CHART)
    result = resolve_expected_artifacts([already], [IMAGE, dict(IMAGE)])
    assert result.artifacts == [IMAGE, CHART]
    assert result.expected[0]["boundArtifact"] == CHART


def test_trigger_resolution_only_uses_listed_expected_artifacts() -> None:
    pipeline = {
        "expectedArtifacts": [expected("wanted", {"type": "docker/image"}), expected("other", {"type": "never"})],
        "receivedArtifacts": [CHART],
        "trigger": {"type": "webhook", "expectedArtifactIds": ["wanted"], "artifacts": [IMAGE]},
    }
    result = resolve_trigger_artifacts(pipeline)
    assert [e["id"] for e in result.expected] == ["wanted"]
    assert result.artifacts == [CHART, IMAGE]
    assert resolve_trigger_artifacts({**pipeline, "trigger": {"artifacts": [IMAGE]}}).expected == []
