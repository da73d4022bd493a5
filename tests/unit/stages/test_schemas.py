"""Stage context schemas: every registered stage type has one; a save names each problem by its JSON path;
an expression is accepted in place of any value; unknown keys are kept; the stored JSON is never rewritten."""

from __future__ import annotations

import copy
import itertools
import json
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from gennaker.engine.registry import Registry
from gennaker.model.pipeline import FieldError, PipelineValidationError, validate_pipeline
from gennaker.model.stage_context import StageContext
from gennaker.runtime import Runtime
from gennaker.stages import schemas
from gennaker.store import codec
from tests.support import FailStage, PollStage, make_runtime


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path_factory.mktemp("schemas"))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def registry(rt: Runtime) -> Registry:
    return rt.registry


TEST_TYPES = {FailStage.type, PollStage.type}
# The least each stage type needs to pass; types not named here need nothing.
MINIMAL: dict[str, dict[str, Any]] = {
    "pipeline": {"pipeline": "child-id"},
    "findArtifactFromExecution": {"pipeline": "other-id", "expectedArtifacts": [{"id": "a"}]},
    "bakeManifest": {
        "templateRenderer": "HELM3",
        "inputArtifacts": [{"id": "chart"}],
        "expectedArtifacts": [{"id": "baked", "matchArtifact": {"type": "embedded/base64", "name": "out"}}],
    },
    "deployManifest": {"account": "prod", "manifests": [{"kind": "ConfigMap", "apiVersion": "v1"}]},
    "runJob": {"account": "prod", "manifest": {"kind": "Job", "apiVersion": "batch/v1"}},
    "scaleManifest": {"account": "prod", "manifestName": "deployment web", "replicas": 2},
    "webhook": {"url": "https://hooks.example.com/run"},
    "jenkins": {"master": "ci", "job": "build"},
    "kayentaCanary": {"canaryConfig": {"canaryConfigId": "c", "lifetimeDuration": "PT1H", "scopes": [{}]}},
    "canaryDeployment": {
        "account": "prod",
        "manifests": [{"kind": "Deployment", "apiVersion": "apps/v1"}],
        "analysis": {"canaryConfigId": "c", "lifetimeDuration": "PT1H"},
    },
}
TARGET = {"account": "prod", "location": "default", "manifestName": "deployment web"}


def minimal(registry: Registry, stage_type: str) -> dict[str, Any]:
    definition = registry.find(stage_type)
    assert definition is not None
    needs_target = definition.context_schema is not None and issubclass(
        definition.context_schema, schemas.ManifestTargetContext
    )
    extra = MINIMAL.get(definition.type, TARGET if needs_target else {})
    return {"refId": "1", "type": stage_type, "name": stage_type, **copy.deepcopy(extra)}


def errors(registry: Registry, *stages: dict[str, Any]) -> dict[str, str]:
    config = {"application": "demo", "name": "p", "stages": list(stages)}
    found = validate_pipeline(config, registry.stage_types, registry.context_schemas(), allow_unknown=True)
    return {e.field: e.problem for e in found}


def test_every_registered_stage_type_declares_its_context(registry: Registry) -> None:
    undeclared = [name for name, d in registry.stages.items() if d.context_schema is None and name not in TEST_TYPES]
    assert undeclared == []
    for name, schema in registry.context_schemas().items():
        assert issubclass(schema, StageContext), name
    assert registry.context_schemas()["runJobManifest"] is schemas.RunJobContext  # aliases too


def test_a_minimal_stage_of_every_type_passes(registry: Registry) -> None:
    for stage_type in sorted(registry.stage_types):
        assert errors(registry, minimal(registry, stage_type)) == {}, stage_type


def test_problems_are_named_by_their_json_path(registry: Registry) -> None:
    stages: list[dict[str, Any]] = [
        {"refId": "1", "type": "wait", "waitTime": 5},
        {"refId": "2", "type": "manualJudgment", "requisiteStageRefIds": ["1"], "judgmentInputs": [{"value": "a"}, []]},
        {"refId": "3", "type": "wait", "requisiteStageRefIds": ["2"], "waitTime": "soon", "stageTimeoutMs": -1},
        {
            **minimal(registry, "deployManifest"),
            "refId": "4",
            "trafficManagement": {"enabled": "yes", "options": {"strategy": "purple", "services": "service web"}},
            "restrictedExecutionWindow": {"whitelist": [{"startHour": 25, "endHour": 3}], "days": [8]},
        },
    ]
    assert errors(registry, *stages) == {
        "stages[1].judgmentInputs[1]": "must be an object or an expression, not a list",
        "stages[2].waitTime": "must be a number from 0 to 31622400, or an expression, not 'soon'",
        "stages[2].stageTimeoutMs": "must be from 0 to 2592000000, not -1",
        "stages[3].restrictedExecutionWindow.whitelist[0].startHour": "must be from 0 to 23, not 25",
        "stages[3].restrictedExecutionWindow.days[0]": "must be from 1 to 7, not 8",
        "stages[3].trafficManagement.enabled": "must be true, false or an expression, not 'yes'",
        "stages[3].trafficManagement.options.services": "must be a list or an expression, not 'service web'",
        "stages[3].trafficManagement.options.strategy": (
            "must be one of 'redblack', 'bluegreen', 'highlander', 'none' or an expression, not 'purple'"
        ),
    }


def test_keys_a_stage_cannot_run_without_are_required(registry: Registry) -> None:
    assert errors(registry, {"refId": "1", "type": "pipeline"}) == {
        "stages[0].pipeline": "is required (the child pipeline's id)"
    }
    assert errors(registry, {"refId": "1", "type": "scaleManifest", "cluster": "web"}) == {
        "stages[0].account": "is required",
        "stages[0].criteria": "is required for a dynamic target",
        "stages[0].replicas": "is required",
    }
    precondition = {"type": "stageStatus", "context": {"stageName": "Deploy"}}
    assert errors(registry, {"refId": "1", "type": "checkPreconditions", "preconditions": [{}, precondition]}) == {
        "stages[0].preconditions[0].type": "is required",
        "stages[0].preconditions[1].context.stageStatus": "is required for a stageStatus precondition",
    }
    bake = {**minimal(registry, "bakeManifest"), "expectedArtifacts": [{"id": "a"}, {"id": "b"}], "rawOverrides": 1}
    assert errors(registry, bake) == {
        "stages[0].rawOverrides": "must be true, false or an expression, not '1'",
        "stages[0].expectedArtifacts": "must hold exactly one artifact: the baked manifest",
    }
    deploy = {"refId": "1", "type": "deployManifest", "account": "prod", "source": "artifact"}
    assert errors(registry, deploy) == {
        "stages[0].manifestArtifactId": "is required when source is artifact (or manifestArtifact)"
    }
    run_job = {"refId": "1", "type": "runJobManifest", "alias": "runJob", "account": "prod"}  # found by its alias
    assert errors(registry, run_job) == {"stages[0].manifest": "is required (one Job)"}


def test_deck_and_orca_spellings_pass(registry: Registry) -> None:
    stages = [
        {"refId": "1", "type": "wait", "waitTime": "30"},  # Jackson reads numeric text as a number
        {"refId": "2", "type": "pipeline", "pipeline": "id", "waitForCompletion": "false"},  # orca.md §3.10
        {**minimal(registry, "bakeManifest"), "refId": "3", "templateRenderer": "helm3"},  # case-insensitive
        {**minimal(registry, "deleteManifest"), "refId": "4", "options": {"cascading": "foreground"}},
        {**minimal(registry, "runJob"), "refId": "5", "consumeArtifactSource": "none", "propertyFile": ""},
        {"refId": "6", "type": "wait", "failPipeline": None, "comments": 42, "isNew": True},
    ]
    assert errors(registry, *stages) == {}


def _models(annotation: Any, in_list: bool = False) -> Iterator[tuple[type[BaseModel], bool]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, in_list
        return
    for argument in typing.get_args(annotation):
        yield from _models(argument, in_list or typing.get_origin(annotation) is list)


def _has_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_has_list(a) for a in typing.get_args(annotation))


def field_paths(model: type[BaseModel], prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every declared key, nested ones included (a list of objects is entered through its first item)."""
    for name, info in model.model_fields.items():
        yield (*prefix, name)
        if _has_list(info.annotation):
            yield (*prefix, name, 0)
        for nested, in_list in _models(info.annotation):
            yield from field_paths(nested, (*prefix, name, 0) if in_list else (*prefix, name))


def with_value(stage: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(stage)
    target: Any = result
    for part, following in itertools.pairwise(path):
        empty: Any = [{}] if isinstance(following, int) else {}
        if isinstance(target, list):
            target = target[0]
        elif not isinstance(target.get(part), dict | list):
            target[part] = empty
            target = target[part]
        else:
            target = target[part]
            if isinstance(following, int) and not target:
                target.append({})
    if isinstance(target, list):
        target[0] = value
    else:
        target[path[-1]] = value
    return result


def _json_path(path: tuple[str | int, ...]) -> str:
    return "stages[0]" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@pytest.mark.parametrize("expression", ["${parameters.x}", "prefix-${trigger.tag}-suffix"])
def test_an_expression_is_accepted_in_place_of_any_value(registry: Registry, expression: str) -> None:
    checked = 0
    for stage_type, schema in sorted(registry.context_schemas().items()):
        base = minimal(registry, stage_type)
        for path in field_paths(schema):
            stage = with_value(base, path, expression)
            found = errors(registry, stage)
            assert not [f for f in found if f.startswith(_json_path(path))], (stage_type, path, found)
            checked += 1
    assert checked > 500


def test_wrong_values_are_refused_where_expressions_are_accepted(registry: Registry) -> None:
    """The other side of the test above: the same places refuse a value of the wrong shape."""
    refused = 0
    for stage_type, schema in sorted(registry.context_schemas().items()):
        base = minimal(registry, stage_type)
        for path in field_paths(schema):
            found = errors(registry, with_value(base, path, {"not": ["what", "any", "key", "holds"]}))
            refused += any(f.startswith(_json_path(path)) for f in found)
    assert refused > 300


def test_validation_keeps_unknown_keys_and_never_rewrites_the_config(registry: Registry) -> None:
    stage = {
        **minimal(registry, "deployManifest"),
        "pluginKey": {"anything": [1, 2]},
        "trafficManagement": {"enabled": False, "options": {"strategy": "none", "futureOption": True}},
        "waitTime": "not a wait stage",
    }
    before = copy.deepcopy(stage)
    assert errors(registry, stage) == {}
    assert stage == before


def test_the_stored_json_is_what_was_sent(rt: Runtime) -> None:
    stages = [
        {"refId": "1", "type": "wait", "name": "Pause", "waitTime": "30", "custom": {"b": 1, "a": 2}},
        {
            "requisiteStageRefIds": ["1"],
            "refId": "2",
            "type": "pipeline",
            "pipeline": "${parameters.child}",
            "pipelineParameters": {"z": 1, "a": None},
            "waitForCompletion": "false",
        },
        {
            "type": "deployManifest",
            "refId": "3",
            "requisiteStageRefIds": ["1"],
            "account": "prod",
            "moniker": {"app": "demo", "extra": ""},
            "manifests": "${#readJson(trigger.payload)}",
            "namespaceOverride": None,
            "trafficManagement": {"options": {"strategy": "REDBLACK"}},
        },
    ]
    sent = {"name": "as sent", "application": "demo", "keepWaitingPipelines": False, "stages": stages}
    text = codec.dumps(sent)
    saved = rt.save_pipeline(json.loads(text), "tester")
    with rt.db.read() as conn:
        stored = rt.pipelines.get(conn, saved["id"])
    assert stored is not None
    kept = {k: v for k, v in stored.items() if k not in ("id", "updateTs", "lastModifiedBy")}
    assert codec.dumps(kept) == text  # the same keys in the same order: no defaults, no coercion
    assert "failPipeline" not in stored["stages"][0]


def test_a_save_refused_names_every_problem(rt: Runtime) -> None:
    stages = [{"refId": "1", "type": "wait", "waitTime": [5]}, {"refId": "2", "type": "scaleManifest"}]
    with pytest.raises(PipelineValidationError) as refused:
        rt.save_pipeline({"name": "bad", "application": "demo", "stages": stages}, "tester")
    assert refused.value.errors == [
        FieldError("stages[0].waitTime", "must be a number from 0 to 31622400, or an expression, not a list"),
        FieldError("stages[1].account", "is required"),
        FieldError("stages[1].manifestName", "is required (or cluster and criteria for a dynamic target)"),
        FieldError("stages[1].replicas", "is required"),
    ]
