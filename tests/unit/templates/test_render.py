"""Rendering a templated pipeline config with its template (echo-igor.md §6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.model.pipeline_templates import Evaluate, TemplateError, TemplateReference, plan, render, stage_graph
from tests.unit.templates.builders import TEMPLATE, config, graph, template


def problems(error: pytest.ExceptionInfo[TemplateError]) -> list[str]:
    return [f"{e.field}: {e.problem}" for e in error.value.errors]


def with_variables(*declared: dict[str, Any]) -> dict[str, Any]:
    """The test template with more variables declared."""
    return template(variables=[*TEMPLATE["variables"], *declared])


# -- variables ---------------------------------------------------------------------------------------------
def test_defaults_fill_missing_variables_and_values_keep_their_types(evaluate: Evaluate) -> None:
    rendered = render(config(), template(), evaluate)
    assert rendered["templateVariables"] == {"waitSeconds": 30, "region": "eu"}
    stages = {s["refId"]: s for s in rendered["stages"]}
    assert stages["wait1"]["waitTime"] == 30  # a whole-string expression gives the typed value
    assert stages["deploy"]["comments"] == "to eu"


def test_supplied_values_win_and_undeclared_ones_are_dropped(evaluate: Evaluate) -> None:
    rendered = render(config(variables={"waitSeconds": 5, "typo": 1}), template(), evaluate)
    assert rendered["templateVariables"] == {"waitSeconds": 5, "region": "eu"}
    assert rendered["stages"][0]["waitTime"] == 5


def test_missing_values_are_named_together(evaluate: Evaluate) -> None:
    declared = with_variables({"name": "a", "type": "string"}, {"name": "b"}, {"name": "c", "defaultValue": 1})
    with pytest.raises(TemplateError) as error:
        render(config(), declared, evaluate)
    assert problems(error) == ["variables: Missing variable values for: a, b"]


def test_nullable_variables_may_be_missing_or_null_others_not(evaluate: Evaluate) -> None:
    declared = with_variables({"name": "opt", "nullable": True}, {"name": "req", "type": "string"})
    rendered = render(config(variables={"req": "x"}), declared, evaluate)
    assert rendered["templateVariables"] == {"waitSeconds": 30, "region": "eu", "opt": None, "req": "x"}
    with pytest.raises(TemplateError) as error:
        render(config(variables={"req": None}), declared, evaluate)
    assert problems(error) == ["variables.req: variable 'req' supplied value is null but variable is not nullable"]


@pytest.mark.parametrize(
    ("declared", "value", "accepted"),
    [
        ("int", 3, True),
        ("int", 3.0, True),
        ("int", 3.5, False),
        ("int", "3", False),
        ("float", 2.5, True),
        ("bool", True, True),
        ("bool", "true", False),
        ("list", [1], True),
        ("string", "x", True),
        ("string", 1, False),
        ("object", {"a": 1}, True),
        ("LinkedHashMap", {"a": 1}, True),  # a Java class name, as Orca compares it
        ("Boolean", False, True),
    ],
)
def test_variable_types(evaluate: Evaluate, declared: str, value: Any, accepted: bool) -> None:
    tpl = with_variables({"name": "v", "type": declared})
    if accepted:
        assert render(config(variables={"v": value}), tpl, evaluate)["templateVariables"]["v"] == value
        return
    with pytest.raises(TemplateError) as error:
        render(config(variables={"v": value}), tpl, evaluate)
    assert problems(error)[0].startswith(f"variables: Incorrectly defined variable(s): v (expected type '{declared}'")


def test_type_errors_name_the_java_class_found(evaluate: Evaluate) -> None:
    with pytest.raises(TemplateError) as error:
        render(config(variables={"waitSeconds": "soon"}), template(), evaluate)
    assert problems(error) == [
        "variables: Incorrectly defined variable(s): waitSeconds (expected type 'int' found type 'String')"
    ]


def test_default_values_are_expressions_over_application_and_other_variables(evaluate: Evaluate) -> None:
    declared = with_variables(
        {"name": "base", "defaultValue": "web"},
        {"name": "full", "type": "string", "defaultValue": "${application}-${base}"},
    )
    rendered = render(config(variables={"base": "api"}), declared, evaluate)
    assert rendered["templateVariables"]["full"] == "shop-api"


def test_an_expression_reading_an_undeclared_variable_fails_naming_it(evaluate: Evaluate) -> None:
    tpl = template()
    tpl["pipeline"]["stages"][0]["waitTime"] = "${templateVariables.pause}"
    tpl["pipeline"]["stages"][1]["comments"] = "${templateVariables['nowhere'].length()}"
    with pytest.raises(TemplateError) as error:
        render(config(), tpl, evaluate)
    assert problems(error) == [
        "templateVariables: Missing template variable values for the following variables: pause, nowhere"
    ]


def test_other_unresolved_expressions_stay_for_later(evaluate: Evaluate) -> None:
    tpl = template()
    tpl["pipeline"]["stages"][1]["comments"] = "${#stage('Wait').status} on ${trigger.user}"
    rendered = render(config(), tpl, evaluate, {"type": "manual", "user": "ann"})
    assert rendered["stages"][1]["comments"] == "${#stage('Wait').status} on ${trigger.user}"
    assert rendered["trigger"] == {"type": "manual", "user": "ann"}


def test_the_trigger_is_data_not_expressions(evaluate: Evaluate) -> None:
    trigger = {"type": "webhook", "payload": {"text": "${templateVariables.secret}"}}
    rendered = render(config(), template(), evaluate, trigger)
    assert rendered["trigger"]["payload"]["text"] == "${templateVariables.secret}"


# -- inherited triggers, parameters, notifications -------------------------------------------------------------
def test_template_items_are_inherited_then_the_configs_without_duplicates(evaluate: Evaluate) -> None:
    own_trigger = {"type": "webhook", "source": "ci"}
    same_as_template = {"name": "env", "default": "staging"}
    rendered = render(
        config(triggers=[own_trigger], parameters=[same_as_template, {"name": "dry", "default": "no"}]),
        template(),
        evaluate,
    )
    assert rendered["triggers"] == [{**TEMPLATE["pipeline"]["triggers"][0], "inherited": True}, own_trigger]
    assert rendered["parameterConfig"] == [
        {"name": "env", "default": "staging", "inherited": True},
        {"name": "dry", "default": "no"},
    ]
    assert rendered["notifications"][0]["inherited"] is True


def test_excluded_kinds_keep_only_the_configs_items(evaluate: Evaluate) -> None:
    own = {"type": "slack", "address": "#ops", "when": ["pipeline.complete"]}
    rendered = render(config(exclude=["triggers", "notifications"], notifications=[own]), template(), evaluate)
    assert rendered["triggers"] == []
    assert rendered["notifications"] == [own]
    assert [p["name"] for p in rendered["parameterConfig"]] == ["env"]


def test_generated_fields(evaluate: Evaluate) -> None:
    rendered = render(
        config(limitConcurrent=False, keepWaitingPipelines=True, description="mine"), template(), evaluate
    )
    assert rendered["id"] == "config-1" and rendered["application"] == "shop" and rendered["name"] == "Deploy"
    assert rendered["limitConcurrent"] is True  # the template sets it
    assert rendered["keepWaitingPipelines"] is True and rendered["description"] == "mine"
    assert rendered["source"] == {"type": "templatedPipeline", "version": "v2"}
    assert "template" not in rendered and "variables" not in rendered
    unnamed = render({**config(), "name": None, "id": None}, template(), evaluate)
    assert unnamed["name"] == "Unnamed Execution" and unnamed["id"] == "unknown"


# -- stages ---------------------------------------------------------------------------------------------------
def stage(ref_id: str, **extra: Any) -> dict[str, Any]:
    return {"refId": ref_id, "type": "wait", "name": ref_id, "waitTime": 1, **extra}


def chain() -> list[dict[str, Any]]:
    return [stage("a"), stage("b", requisiteStageRefIds=["a"]), stage("c", requisiteStageRefIds=["b"])]


def test_a_config_stage_with_a_template_refid_replaces_it() -> None:
    replaced = stage_graph(chain(), [stage("b", waitTime=9)])
    assert [s["waitTime"] for s in replaced] == [1, 9, 1]
    assert replaced[1]["requisiteStageRefIds"] == ["a"]  # no requisites given: it keeps the template's


def test_a_config_stage_with_parents_is_added_in_dependency_order() -> None:
    added = stage_graph(chain(), [stage("x", requisiteStageRefIds=["a"])])
    assert {r: reqs for r, reqs in ((s["refId"], s["requisiteStageRefIds"]) for s in added)} == {
        "a": [],
        "b": ["a"],
        "x": ["a"],
        "c": ["b"],
    }
    assert [s["refId"] for s in added].index("x") < [s["refId"] for s in added].index("c")


def test_inject_first() -> None:
    injected = stage_graph(
        [stage("a"), stage("b"), stage("c", requisiteStageRefIds=["a", "b"])], [stage("x", inject={"first": True})]
    )
    assert injected[0]["refId"] == "x"
    assert {s["refId"]: s["requisiteStageRefIds"] for s in injected} == {
        "x": [],
        "a": ["x"],
        "b": ["x"],
        "c": ["a", "b"],
    }


def test_inject_last() -> None:
    injected = stage_graph(
        [stage("a"), stage("b", requisiteStageRefIds=["a"]), stage("c")], [stage("x", inject={"last": True})]
    )
    assert [s["refId"] for s in injected][-1] == "x"
    assert sorted(injected[-1]["requisiteStageRefIds"]) == ["b", "c"]


def test_inject_before() -> None:
    injected = stage_graph(chain(), [stage("x", inject={"before": ["b"]})])
    assert [s["refId"] for s in injected] == ["a", "x", "b", "c"]
    assert {s["refId"]: s["requisiteStageRefIds"] for s in injected} == {
        "a": [],
        "x": ["a"],
        "b": ["x"],
        "c": ["b"],
    }


def test_inject_after() -> None:
    fork = [*chain(), stage("d", requisiteStageRefIds=["b"])]
    injected = stage_graph(fork, [stage("x", inject={"after": ["b"]})])
    assert [s["refId"] for s in injected][:3] == ["a", "b", "x"]
    assert {s["refId"]: s["requisiteStageRefIds"] for s in injected} == {
        "a": [],
        "b": ["a"],
        "x": ["b"],
        "c": ["x"],
        "d": ["x"],
    }


def test_the_first_rule_set_wins() -> None:
    injected = stage_graph(chain(), [stage("x", inject={"last": True, "before": ["a"]})])
    assert injected[-1]["refId"] == "x" and injected[-1]["requisiteStageRefIds"] == ["c"]


def test_an_injected_stage_with_a_template_refid_replaces_and_moves_it() -> None:
    injected = stage_graph(chain(), [stage("c", waitTime=7, inject={"first": True})])
    assert [s["refId"] for s in injected] == ["c", "a", "b"]
    assert {s["refId"]: s["requisiteStageRefIds"] for s in injected} == {"c": [], "a": ["c"], "b": ["a"]}
    assert injected[0]["waitTime"] == 7 and "inject" not in injected[0]


def test_template_stages_inject_too_before_config_stages() -> None:
    template_stages = [*chain(), stage("setup", inject={"first": True})]
    injected = stage_graph(template_stages, [stage("x", inject={"before": ["a"]})])
    assert [s["refId"] for s in injected] == ["setup", "x", "a", "b", "c"]
    assert injected[1]["requisiteStageRefIds"] == ["setup"]


@pytest.mark.parametrize(
    ("config_stages", "message"),
    [
        (
            [stage("x", inject={"after": ["nope"]})],
            "stages: could not inject 'x' stage: unknown target stage id 'nope'",
        ),
        ([stage("x", inject={"sideways": True})], "stages: stage did not have any valid injections defined (id: x)"),
        (
            [stage("x")],
            "stages[0]: A configuration-defined stage should have either dependsOn or an inject rule defined (id: x)",
        ),
        ([stage("x", requisiteStageRefIds=["ghost"])], "stages: stage 'x' depends on unknown stage 'ghost'"),
        (
            [stage("a", requisiteStageRefIds=["c"])],
            "stages: Cycle detected in graph (discovered on stage: a)",
        ),
    ],
)
def test_stage_errors(config_stages: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(TemplateError) as error:
        stage_graph(chain(), config_stages)
    assert problems(error) == [message]


def test_rendering_injects_config_stages_and_keeps_refs_text(evaluate: Evaluate) -> None:
    extra = {"refId": 7, "type": "wait", "waitTime": 5, "inject": {"after": ["wait1"]}}
    rendered = render(config(stages=[extra]), template(), evaluate)
    assert graph(rendered) == {"wait1": [], "7": ["wait1"], "deploy": ["7"]}


# -- checks ---------------------------------------------------------------------------------------------------
def test_protected_templates_refuse_stage_changes(evaluate: Evaluate) -> None:
    with pytest.raises(TemplateError) as error:
        render(config(stages=[stage("x", inject={"first": True})]), template(protect=True), evaluate)
    assert problems(error) == ["stages: Modification of the stage graph (adding, removing, editing) is disallowed"]
    assert render(config(), template(protect=True), evaluate)["stages"]


def test_schemas_and_application_are_checked(evaluate: Evaluate) -> None:
    with pytest.raises(TemplateError) as error:
        render({**config(schema="v1"), "application": None}, template(schema="v3"), evaluate)
    assert problems(error) == [
        "schema: config schema version is unsupported: expected 'v2', got 'v1'",
        "application: Missing 'application' configuration",
        "pipelineTemplate.schema: template schema version is unsupported: expected 'v2', got 'v3'",
    ]


def test_config_shapes_are_checked(evaluate: Evaluate) -> None:
    bad = config(variables=[1], exclude=["stages"], stages=[{"type": "wait", "inject": "first"}])
    with pytest.raises(TemplateError) as error:
        render(bad, template(), evaluate)
    assert problems(error) == [
        "variables: must be an object of variable name: value",
        "exclude[0]: must be one of triggers, parameters, notifications",
        "stages[0].inject: must be an object: {first: true}, {last: true}, {before: [refIds]} or {after: [refIds]}",
        "stages[0].refId: is missing",
    ]


# -- planning with a fetch -------------------------------------------------------------------------------------
def test_plan_fetches_the_referenced_copy(evaluate: Evaluate) -> None:
    asked: list[str] = []

    def fetch(reference: Any) -> dict[str, Any] | None:
        asked.append(reference.key)
        return template()

    request = {**config(), "template": {"reference": "spinnaker://deploy-service:stable"}, "trigger": {"user": "u"}}
    planned = plan(request, fetch, evaluate)
    assert asked == ["deploy-service:stable"]
    assert planned["trigger"] == {"user": "u"} and planned["stages"][0]["waitTime"] == 30


def test_plan_of_a_missing_template_names_the_reference(evaluate: Evaluate) -> None:
    with pytest.raises(TemplateError) as error:
        plan(config(), lambda _: None, evaluate)
    assert problems(error) == ["template.reference: Configured pipeline template not found: spinnaker://deploy-service"]


def test_the_reference_may_be_an_expression_over_the_trigger(evaluate: Evaluate) -> None:
    asked: list[str] = []

    def fetch(reference: TemplateReference) -> dict[str, Any]:
        asked.append(reference.key)
        return template()

    request = config(template={"reference": "spinnaker://deploy-service:${trigger.parameters.channel}"})
    plan(request, fetch, evaluate, {"parameters": {"channel": "canary"}})
    assert asked == ["deploy-service:canary"]


def test_a_v2_config_without_template_is_its_own_pipeline(evaluate: Evaluate) -> None:
    own = {
        "schema": "v2",
        "application": "shop",
        "name": "plain",
        "variables": {"n": 3},
        "stages": [stage("a", waitTime="${templateVariables.n}")],
    }
    planned = plan(own, lambda _: None, evaluate)
    assert planned["stages"][0]["waitTime"] == 3 and planned["templateVariables"] == {"n": 3}
    assert "schema" not in planned and "variables" not in planned


def test_planning_leaves_expressions_that_need_the_trigger_to_the_run(evaluate: Evaluate) -> None:
    tpl = template()
    tpl["pipeline"]["stages"][1]["comments"] = "${templateVariables.region + trigger.parameters.suffix}"
    planned = render(config(), tpl, evaluate, planning=True)
    assert planned["stages"][1]["comments"] == "${templateVariables.region + trigger.parameters.suffix}"
    ran = render(config(), tpl, evaluate, {"parameters": {"suffix": "-1"}})
    assert ran["stages"][1]["comments"] == "eu-1"
    with pytest.raises(TemplateError, match="Missing template variable values for the following variables: region"):
        render(config(), tpl, evaluate)  # triggered without the parameter: the expression fails


def test_a_config_with_more_stages_than_a_pipeline_may_have_is_refused_before_rendering(evaluate: Evaluate) -> None:
    chain = [
        {"refId": str(i), "type": "wait", "requisiteStageRefIds": [str(i - 1) if i else "deploy"]} for i in range(501)
    ]
    with pytest.raises(TemplateError) as error:
        render(config(stages=chain), template(), evaluate)
    assert problems(error) == ["stages: a pipeline may have at most 500 stages, not 501"]
