"""Expected artifacts resolved when a pipeline starts (orca.md §1): matches, defaults, prior artifacts,
and a clear refusal naming what is missing."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.engine.launcher import LaunchError
from gennaker.runtime import Runtime
from tests.support import pipeline, wait_status

IMAGE = {"type": "docker/image", "name": "gcr.io/p/app", "reference": "gcr.io/p/app:1.2", "version": "1.2"}


def expected(**extra: Any) -> dict[str, Any]:
    return {
        "id": "image",
        "displayName": "app image",
        "matchArtifact": {"type": "docker/image", "name": r"gcr\.io/p/.*"},
        **extra,
    }


def variables_stage() -> dict[str, Any]:
    value = '${#triggerResolvedArtifact("gcr.io/p/app")["reference"]}'
    return {"refId": "1", "type": "evaluateVariables", "variables": [{"key": "image", "value": value}]}


def start(rt: Runtime, config: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    rt.save_pipeline(config, "t")
    return wait_status(rt, rt.start_pipeline("demo", config["name"], trigger, "t"), "SUCCEEDED", "TERMINAL")


def test_a_trigger_artifact_binds_by_regular_expression(runtime: Runtime) -> None:
    config = pipeline("images", [variables_stage()], expectedArtifacts=[expected()])
    execution = start(runtime, config, {"type": "docker", "artifacts": [IMAGE], "expectedArtifactIds": ["image"]})
    assert execution["status"] == "SUCCEEDED"
    bound = execution["trigger"]["resolvedExpectedArtifacts"][0]["boundArtifact"]
    assert bound["reference"] == "gcr.io/p/app:1.2"
    assert execution["stages"][0]["outputs"]["image"] == "gcr.io/p/app:1.2"


def test_a_default_artifact_binds_when_nothing_matches(runtime: Runtime) -> None:
    default = {**IMAGE, "reference": "gcr.io/p/app:stable"}
    config = pipeline(
        "defaults", [variables_stage()], expectedArtifacts=[expected(useDefaultArtifact=True, defaultArtifact=default)]
    )
    execution = start(runtime, config, {})
    assert execution["stages"][0]["outputs"]["image"] == "gcr.io/p/app:stable"


def test_a_missing_artifact_refuses_the_start_naming_it(runtime: Runtime) -> None:
    runtime.save_pipeline(pipeline("strict", [variables_stage()], expectedArtifacts=[expected()]), "t")
    with pytest.raises(LaunchError, match=r"Unmatched expected artifact \(id=image, displayName=app image"):
        runtime.start_pipeline("demo", "strict", {"type": "docker", "expectedArtifactIds": ["image"]}, "t")


def test_a_prior_artifact_is_taken_from_the_last_successful_execution(runtime: Runtime) -> None:
    config = pipeline("prior", [variables_stage()], expectedArtifacts=[expected(usePriorArtifact=True)])
    first = start(runtime, config, {"artifacts": [IMAGE]})
    assert first["status"] == "SUCCEEDED"
    second = start(runtime, config, {})
    assert second["status"] == "SUCCEEDED"
    assert second["stages"][0]["outputs"]["image"] == "gcr.io/p/app:1.2"
