"""The editor edits expected artifacts as list items, every stage's run condition (`stageEnabled`) and a
deploy's traffic management, writing Spinnaker's JSON and keeping what the user did not change."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import FormData

from gennaker.runtime import Runtime
from gennaker.store import codec
from gennaker.ui.editor import ARTIFACT_TYPES, EditorError, apply_action
from tests.unit.ui.test_editor_round_trip import (
    APP,
    AWKWARD,
    DEPLOY,
    Page,
    _replace,
    apply_every_stage_form,
    open_editor,
    post,
    save,
    store_directly,
    stored,
)

MAIN = ("draft", "csrf", "pipelineName")
IMAGE = {
    "id": "a1",
    "displayName": "web image",
    "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"},
    "defaultArtifact": {"type": "docker/image", "reference": "gcr.io/shop/web:1.0"},
    "useDefaultArtifact": True,
    "usePriorArtifact": False,
}
CHART = {"id": "c1", "matchArtifact": {"type": "helm/chart", "name": "web"}}


def act(config: dict[str, Any], action: str, **fields: str) -> dict[str, Any]:
    return apply_action(config, FormData([("action", action), *fields.items()]))


def edit_artifact(config: dict[str, Any], index: int, text: str) -> dict[str, Any]:
    return act(config, f"item:expectedArtifacts:{index}", **{f"expectedArtifacts.{index}": text})


def refused(config: dict[str, Any], action: str, **fields: str) -> EditorError:
    with pytest.raises(EditorError) as caught:
        act(config, action, **fields)
    return caught.value


# -- expected artifacts ---------------------------------------------------------------------------------------


def test_the_artifact_types_offered_are_those_gennaker_handles() -> None:
    """Those its artifact accounts fetch (the Kubernetes object kinds are listed by hand beside them)."""
    wanted = {"docker/image", "github/file", "gitlab/file", "http/file", "embedded/base64"}
    assert wanted | {"helm/chart", "git/repo", "s3/object", "gcs/object"} <= set(ARTIFACT_TYPES)


def test_an_added_expected_artifact_has_a_fresh_id_and_the_chosen_type() -> None:
    config = {"application": APP, "expectedArtifacts": [IMAGE]}
    config = act(config, "add-item:expectedArtifacts", expectedArtifacts_type="kubernetes/configMap")
    config = act(config, "add-item:expectedArtifacts", expectedArtifacts_type="kubernetes/configMap")
    first, second = config["expectedArtifacts"][1:]
    assert uuid.UUID(first["id"]).version == 4 and first["id"] != second["id"]
    assert first == {
        "id": first["id"],
        "displayName": "",
        "matchArtifact": {"type": "kubernetes/configMap", "name": ""},
        "defaultArtifact": {"type": "kubernetes/configMap"},
        "useDefaultArtifact": False,
        "usePriorArtifact": False,
    }
    assert config["expectedArtifacts"][0] == IMAGE
    error = refused(config, "add-item:expectedArtifacts", expectedArtifacts_type="docker/imag")
    assert (error.field, error.problem) == ("expectedArtifacts", "unknown expected artifact type 'docker/imag'")


def test_an_edited_expected_artifact_keeps_its_id_when_the_yaml_drops_it() -> None:
    config = {"application": APP, "expectedArtifacts": [IMAGE, CHART]}
    text = "displayName: web\nmatchArtifact: {type: docker/image, name: gcr.io/shop/.*}\nusePriorArtifact: true\n"
    edited = edit_artifact(config, 0, text)["expectedArtifacts"]
    assert edited == [
        {
            "id": "a1",
            "displayName": "web",
            "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/.*"},
            "usePriorArtifact": True,
        },
        CHART,
    ]
    renamed = edit_artifact(config, 1, "id: chart\nmatchArtifact: {type: helm/chart}\n")["expectedArtifacts"][1]
    assert renamed == {"id": "chart", "matchArtifact": {"type": "helm/chart"}}
    assert act(config, "drop-item:expectedArtifacts:0")["expectedArtifacts"] == [CHART]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("matchArtifact: [unclosed", "the YAML is not valid YAML"),
        ("- id: a1", "an expected artifact is a mapping"),
        ("id: c1\nmatchArtifact: {type: docker/image}", "id 'c1' is already the id of expectedArtifacts[1]"),
        ("id: 7\nmatchArtifact: {type: docker/image}", "id must be text, not 7"),
        ("displayName: no match", "matchArtifact must be a mapping"),
        ("matchArtifact: docker/image", "matchArtifact must be a mapping"),
        ("matchArtifact: {}\ndefaultArtifact: web:1.0", "defaultArtifact must be a mapping"),
    ],
)
def test_bad_expected_artifact_yaml_is_refused_naming_the_item(text: str, problem: str) -> None:
    error = refused(
        {"application": APP, "expectedArtifacts": [IMAGE, CHART]},
        "item:expectedArtifacts:0",
        **{"expectedArtifacts.0": text},
    )
    assert error.field == "expectedArtifacts[0]"
    assert error.problem.startswith(problem)
    missing = refused({"application": APP, "expectedArtifacts": [IMAGE]}, "item:expectedArtifacts:3")
    assert (missing.field, missing.problem) == ("expectedArtifacts", "no expected artifact 3")


def edit_item(page: Page, text: str) -> list[tuple[str, str]]:
    """The first expected artifact's form, its YAML replaced."""
    return _replace(page.values("item-form-expectedArtifacts-0", *MAIN), "expectedArtifacts.0", text)


def test_expected_artifacts_are_added_edited_and_saved_in_the_browser(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "artifacts", "stages": [DEPLOY]})
    page = open_editor(api, "artifacts")
    assert "<legend>Expected artifacts</legend>" in page.html
    offered = re.findall(
        r"<option>([^<]*)</option>", page.html.split('name="expectedArtifacts_type"')[1].split("</select>")[0]
    )
    assert offered == list(ARTIFACT_TYPES)
    chosen = _replace(page.values("editor", *MAIN), "expectedArtifacts_type", "github/file")
    page = post(api, chosen, "add-item:expectedArtifacts")
    new_id = page.draft()["expectedArtifacts"][0]["id"]
    assert f"expectedArtifacts[0] · {new_id} · github/file</legend>" in page.html
    text = "displayName: web image\nmatchArtifact:\n  type: docker/image\n  name: gcr.io/shop/web\n"
    page = post(api, edit_item(page, text), "item:expectedArtifacts:0")
    assert "expectedArtifacts[0] · web image · docker/image</legend>" in page.html
    broken = post(api, edit_item(page, "- a list"), "item:expectedArtifacts:0")
    box = broken.html.split('id="edit-expectedArtifacts-0"')[1].split("</fieldset>")[0]
    assert '<p class="error" role="alert">an expected artifact is a mapping' in box
    assert "Saved." in save(api, page).html
    assert stored(runtime, "artifacts")["expectedArtifacts"] == [
        {"id": new_id, "displayName": "web image", "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"}}
    ]


# -- stageEnabled ---------------------------------------------------------------------------------------------

WAIT = {"refId": "1", "type": "wait", "name": "Pause", "waitTime": 5}
CONDITION = {"type": "expression", "expression": "parameters.deploy == 'true'"}


def apply_stage(config: dict[str, Any], **fields: str) -> dict[str, Any]:
    return act(config, "stage:1", index="0", **fields)


def test_the_run_condition_writes_deck_shape_and_an_empty_one_removes_it() -> None:
    config = {"application": APP, "stages": [WAIT]}
    written = apply_stage(config, **{"f.stageEnabled": "trigger.branch == 'main'"})["stages"][0]
    assert written == {**WAIT, "stageEnabled": {"type": "expression", "expression": "trigger.branch == 'main'"}}
    unchanged = apply_stage(
        {"application": APP, "stages": [{**WAIT, "stageEnabled": CONDITION}]},
        **{"f.stageEnabled": CONDITION["expression"]},
    )
    assert unchanged["stages"][0] == {**WAIT, "stageEnabled": CONDITION}
    assert apply_stage(unchanged, **{"f.stageEnabled": "  "})["stages"][0] == WAIT


# Run conditions of every shape: those an input line cannot show exactly are shown as YAML; all are kept.
ODD_CONDITIONS: list[Any] = [
    *AWKWARD,
    {"type": "expression", "expression": "a\nb"},
    {"type": "expression", "expression": True},
    {"type": "expression", "expression": "x", "note": "kept"},
    {"type": "other", "expression": "x"},
    {"expression": "x"},
    CONDITION,
    {"expression": "x", "type": "expression"},
]


def test_every_run_condition_survives_opening_and_applying(api: TestClient, runtime: Runtime) -> None:
    stages = [
        {"refId": str(n), "type": "wait", "name": f"wait {n}", "stageEnabled": json.loads(json.dumps(value))}
        for n, value in enumerate(ODD_CONDITIONS)
    ]
    before = store_directly(runtime, {"application": APP, "name": "conditions", "stages": stages})
    page = open_editor(api, "conditions")
    shown = dict(page.values("stage-form-" + str(ODD_CONDITIONS.index(CONDITION))))
    assert shown["f.stageEnabled"] == CONDITION["expression"]
    assert codec.dumps(apply_every_stage_form(api, page).draft()) == codec.dumps(before)


def test_a_run_condition_set_in_the_browser_is_saved_and_cleared(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "conditional", "stages": [WAIT]})
    page = open_editor(api, "conditional")
    assert "<label>Run only when (expression)" in page.html
    form = page.values("stage-form-0", *MAIN)
    assert ("f.stageEnabled", "") in form
    page = post(api, _replace(form, "f.stageEnabled", "${parameters.go}"), "stage:1")
    assert "Saved." in save(api, page).html
    assert stored(runtime, "conditional")["stages"][0]["stageEnabled"] == {
        "type": "expression",
        "expression": "${parameters.go}",
    }
    page = open_editor(api, "conditional")
    page = post(api, _replace(page.values("stage-form-0", *MAIN), "f.stageEnabled", ""), "stage:1")
    assert "Saved." in save(api, page).html
    assert stored(runtime, "conditional")["stages"][0] == WAIT


# -- deploy strategies --------------------------------------------------------------------------------------


def _options(html: str, name: str) -> list[str]:
    select = html.split(f'<select name="{name}" form="stage-form-0">', 1)[1].split("</select>", 1)[0]
    return re.findall(r'<option value="([^"]*)"', select)


def test_a_deploy_form_sets_traffic_management_as_spinnaker_writes_it(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "rollout", "stages": [DEPLOY]})
    page = open_editor(api, "rollout")
    assert _options(page.html, "f.trafficManagement.options.strategy") == [
        "",
        "redblack",
        "bluegreen",
        "highlander",
        "none",
    ]
    form = page.values("stage-form-0", *MAIN)
    assert ("f.trafficManagement.enabled", "true") not in form  # unset: Orca's default, off
    form = [
        *form,
        ("f.trafficManagement.enabled", "true"),
        ("f.trafficManagement.options.enableTraffic", "true"),
    ]
    form = _replace(form, "f.trafficManagement.options.strategy", "redblack")
    form = _replace(form, "f.trafficManagement.options.services", "- service web\n")
    page = post(api, form, "stage:1")
    assert "Saved." in save(api, page).html
    assert stored(runtime, "rollout")["stages"][0] == {
        **DEPLOY,
        "trafficManagement": {
            "enabled": True,
            "options": {"enableTraffic": True, "services": ["service web"], "strategy": "redblack"},
        },
    }


def test_traffic_management_deck_wrote_is_kept_and_bad_strategies_named(api: TestClient, runtime: Runtime) -> None:
    deck = {
        "enabled": True,
        "options": {"enableTraffic": True, "namespace": "web", "services": ["service web"], "strategy": "REDBLACK"},
    }
    before = store_directly(
        runtime, {"application": APP, "name": "deck", "stages": [{**DEPLOY, "trafficManagement": deck}]}
    )
    page = open_editor(api, "deck")
    assert _options(page.html, "f.trafficManagement.options.strategy")[-1] == "REDBLACK"
    page = apply_every_stage_form(api, page)
    assert codec.dumps(page.draft()) == codec.dumps(before)
    form = _replace(page.values("stage-form-0", *MAIN), "f.trafficManagement.options.strategy", "purple")
    box = post(api, form, "stage:1").html.split('id="edit-stage-1"')[1].split("</fieldset>")[0]
    assert "trafficManagement.options.strategy: must be one of &#39;redblack&#39;" in box
