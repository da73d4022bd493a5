"""Saving a pipeline validates it and names each bad field (issue 2, item 2; orca.md §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gennaker.model.pipeline import FieldError, PipelineValidationError, validate_pipeline
from gennaker.runtime import Runtime
from gennaker.triggers.cron import validate as quartz_problem
from tests.support import make_runtime

TYPES = {"wait", "manualJudgment"}

NOT_SPINNAKER = " (not a Spinnaker stage; save with allowUnknown to keep it)"


def problems(config: dict) -> dict[str, str]:
    return {e.field: e.problem for e in validate_pipeline(config, TYPES)}


def pipeline(stages: list[dict], **extra: object) -> dict:
    return {"application": "app", "name": "p", "stages": stages, **extra}


def test_a_valid_pipeline_has_no_problems() -> None:
    assert (
        problems(
            pipeline([{"refId": "1", "type": "wait"}, {"refId": "2", "type": "wait", "requisiteStageRefIds": ["1"]}])
        )
        == {}
    )


def test_duplicate_missing_and_dangling_refs_and_unknown_types() -> None:
    found = problems(
        pipeline(
            [
                {"refId": "1", "type": "wait"},
                {"refId": "1", "type": "wait"},
                {"type": "wait"},
                {"refId": "4", "type": "deployEverything", "requisiteStageRefIds": ["9"]},
            ]
        )
    )
    assert found["stages[1].refId"] == "duplicate refId '1' (also stages[0])"
    assert found["stages[2].refId"] == "is missing"
    assert found["stages[3].type"] == "unknown stage type 'deployEverything'" + NOT_SPINNAKER
    assert found["stages[3].requisiteStageRefIds[0]"] == "no stage has refId '9'"


def test_cycles_are_named() -> None:
    found = problems(
        pipeline(
            [
                {"refId": "a", "type": "wait", "requisiteStageRefIds": ["c"]},
                {"refId": "b", "type": "wait", "requisiteStageRefIds": ["a"]},
                {"refId": "c", "type": "wait", "requisiteStageRefIds": ["b"]},
            ]
        )
    )
    [(field, problem)] = found.items()
    assert field == "stages[0].requisiteStageRefIds" and problem.startswith("cycle: a -> c -> b -> a")


def test_shape_errors_come_first_and_name_the_field() -> None:
    found = problems(
        pipeline(
            [{"refId": "1", "type": "wait"}],
            parameterConfig=[{"label": "no name"}],
            triggers=[{"type": "jenkins", "master": "m", "job": "j", "enabled": "yes"}],
            maxConcurrentExecutions=True,
        )
    )
    assert found["parameterConfig[0].name"] == "Field required"
    assert found["triggers[0].enabled"].startswith("Input should be a valid boolean")
    assert found["maxConcurrentExecutions"].startswith("Input should be a valid integer")


def test_parameter_rules() -> None:
    found = problems(
        pipeline(
            [{"refId": "1", "type": "wait"}],
            parameterConfig=[
                {"name": "env", "hasOptions": True, "options": [], "default": "x"},
                {"name": "env"},
                {"name": "region", "hasOptions": True, "options": [{"value": "eu"}], "default": "us"},
            ],
        )
    )
    assert found == {
        "parameterConfig[0].options": "hasOptions is set but no options are given",
        "parameterConfig[0].default": "'x' is not one of the options",
        "parameterConfig[1].name": "duplicate parameter 'env'",
        "parameterConfig[2].default": "'us' is not one of the options",
    }


def test_trigger_rules_once_the_shapes_are_right() -> None:
    found = problems(
        pipeline(
            [{"refId": "1", "type": "wait"}],
            triggers=[
                {"type": "cron", "cronExpression": "* * * * *"},
                {"type": "webhook"},
                {"type": "carrier-pigeon"},
                {"type": "git", "source": "svn", "project": "p", "slug": "s"},
                {"type": "cron", "cronExpression": "0 0/30 * * * ?"},
            ],
        )
    )
    assert found["triggers[0].cronExpression"].startswith("expected 6 or 7 fields (seconds minutes hours")
    assert found["triggers[1].source"] == "is required for a webhook trigger"
    assert found["triggers[2].type"] == "unknown trigger type 'carrier-pigeon'"
    assert found["triggers[3].source"].startswith("must be one of")
    assert "triggers[4].cronExpression" not in found


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("0 0 10 ? * MON-FRI", True),
        ("0 0/30 * * * ?", True),
        ("0 H 3 * * ?", True),
        ("0 0 1 1 * MON", False),
        ("0 0 12 * * *", False),
        ("* * *", False),
        ("0 0 10 ? * MON-FRI 2030", True),
        ("0 0 10 ? * M$N", False),
    ],
)
def test_quartz_expressions(expression: str, ok: bool) -> None:
    assert (quartz_problem(expression) is None) is ok


def test_save_keeps_unknown_keys_assigns_ref_ids_and_versions(tmp_path: Path) -> None:
    rt: Runtime = make_runtime(tmp_path)
    config = {
        "application": "Shop",
        "name": "p",
        "stages": [{"type": "wait"}, {"type": "wait"}],
        "deckLayout": {"x": 1},
        "triggers": [],
        "somethingNew": [1, 2],
    }
    saved = rt.save_pipeline(config, "alice")
    assert saved["deckLayout"] == {"x": 1} and saved["somethingNew"] == [1, 2] and saved["application"] == "shop"
    assert [(s["refId"], s["requisiteStageRefIds"]) for s in saved["stages"]] == [("0", []), ("1", ["0"])]
    rt.save_pipeline({**config, "description": "v2"}, "bob")
    with rt.db.transaction() as conn:
        history = rt.pipelines.history(conn, saved["id"])
        assert [(h["version"], h["createdBy"]) for h in history] == [(2, "bob"), (1, "alice")]
        rt.pipelines.restore(conn, saved["id"], 1, "carol")
        current = rt.pipelines.get(conn, saved["id"])
    assert current is not None and "description" not in current and current["lastModifiedBy"] == "carol"
    with pytest.raises(PipelineValidationError) as refused:
        rt.save_pipeline({"application": "shop", "name": "bad", "stages": [{"refId": "1", "type": "nope"}]}, "x")
    assert refused.value.errors == [FieldError("stages[0].type", "unknown stage type 'nope'" + NOT_SPINNAKER)]
    rt.close()


def test_trigger_regexes_must_compile() -> None:
    config = {
        "application": "shop",
        "name": "p",
        "triggers": [
            {"type": "git", "source": "github", "project": "acme", "slug": "api", "branch": "release-(["},
            {"type": "docker", "account": "hub", "repository": "shop/web", "tag": "^1\\.[0-9]+$"},
        ],
    }
    found = {e.field: e.problem for e in validate_pipeline(config, {"wait"})}
    assert found["triggers[0].branch"].startswith("is not a regular expression:")
    assert "triggers[1].tag" not in found
