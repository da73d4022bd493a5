"""Managed pipeline templates v2 end to end: the API (Front50's and Gate's routes), templated pipelines saved
and run by the engine, a missing template failing the execution with the reason, and the CLI (locally and
against a server on loopback)."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.api.app import create_app
from gennaker.api.deps import Caller, Security
from gennaker.cli.main import app as cli
from gennaker.runtime import Runtime
from tests.api_support import CALLERS, as_user, by_role
from tests.support import wait_status

ADMIN = as_user("admin")
TEMPLATE: dict[str, Any] = {
    "schema": "v2",
    "id": "deploy-service",
    "protect": False,
    "metadata": {"name": "Deploy service", "description": "wait, then 'deploy'", "scopes": ["global"]},
    "variables": [
        {"name": "waitTime", "type": "int", "defaultValue": 30, "description": "seconds to wait"},
        {"name": "target", "type": "string"},
    ],
    "pipeline": {
        "keepWaitingPipelines": False,
        "parameterConfig": [{"name": "env", "default": "staging"}],
        "triggers": [],
        "notifications": [],
        "stages": [
            {
                "refId": "wait1",
                "requisiteStageRefIds": [],
                "type": "wait",
                "name": "Wait",
                "waitTime": "${templateVariables.waitTime}",
            },
            {
                "refId": "deploy",
                "requisiteStageRefIds": ["wait1"],
                "type": "wait",
                "name": "Deploy to ${templateVariables.target}",
                "waitTime": 0,
            },
        ],
    },
}


def templated(name: str = "Deploy", reference: str = "spinnaker://deploy-service", **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "schema": "v2",
        "type": "templatedPipeline",
        "application": "shop",
        "name": name,
        "template": {
            "artifactAccount": "front50ArtifactCredentials",
            "type": "front50/pipelineTemplate",
            "reference": reference,
        },
        "variables": {"waitTime": 1, "target": "prod"},
        "exclude": [],
        "triggers": [],
        "parameters": [],
        "notifications": [],
        "stages": [],
    }
    config.update(changes)
    return config


def create_template(api: TestClient, template: dict[str, Any] | None = None, **params: str) -> dict[str, Any]:
    response = api.post("/v2/pipelineTemplates", json=template or TEMPLATE, params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    saved: dict[str, Any] = response.json()
    return saved


def create_application(api: TestClient, name: str, permissions: dict[str, list[str]]) -> None:
    body = {"job": [{"type": "createApplication", "application": {"name": name, "permissions": permissions}}]}
    ref = api.post("/tasks", json=body, headers=ADMIN).json()["ref"]
    assert api.get(ref, headers=ADMIN).json()["status"] == "SUCCEEDED"


# -- the API ---------------------------------------------------------------------------------------------------
def test_templates_are_stored_by_id_tag_and_digest(api: TestClient) -> None:
    first = create_template(api)
    assert first["schema"] == "v2" and first["lastModifiedBy"] == "admin" and len(first["digest"]) == 64
    changed = copy.deepcopy(TEMPLATE)
    changed["metadata"]["name"] = "Deploy service, stable"
    second = api.post("/v2/pipelineTemplates/create", json=changed, params={"tag": "stable"}, headers=ADMIN).json()
    assert second["tag"] == "stable" and second["digest"] != first["digest"]

    duplicate = api.post("/v2/pipelineTemplates", json=TEMPLATE, headers=ADMIN)
    assert duplicate.status_code == 409
    assert duplicate.json()["message"] == "A pipeline template with the id deploy-service already exists"

    copies = api.get("/v2/pipelineTemplates", headers=ADMIN).json()
    assert sorted(str(c.get("tag")) for c in copies) == ["None", "None", "None", "latest", "stable"]
    assert api.get("/v2/pipelineTemplates", params={"scopes": "other,nothing"}, headers=ADMIN).json() == []
    assert len(api.get("/v2/pipelineTemplates/versions", headers=ADMIN).json()["deploy-service"]) == 5

    plain = api.get("/v2/pipelineTemplates/deploy-service", headers=ADMIN).json()
    assert plain["metadata"]["name"] == "Deploy service" and "digest" not in plain and "tag" not in plain
    by_tag = api.get("/v2/pipelineTemplates/deploy-service", params={"tag": "latest"}, headers=ADMIN).json()
    assert by_tag["metadata"]["name"] == "Deploy service, stable"  # latest follows the last save
    by_digest = api.get("/v2/pipelineTemplates/deploy-service", params={"digest": first["digest"]}, headers=ADMIN)
    assert by_digest.json()["metadata"]["name"] == "Deploy service"
    both = api.get("/v2/pipelineTemplates/deploy-service", params={"tag": "stable", "digest": "x"}, headers=ADMIN)
    assert both.status_code == 400 and "'tag' and 'digest' simultaneously" in both.json()["message"]
    missing = api.get("/v2/pipelineTemplates/deploy-service", params={"tag": "canary"}, headers=ADMIN)
    assert (
        missing.status_code == 404 and missing.json()["message"] == "pipeline template deploy-service:canary not found"
    )

    changed["metadata"]["name"] = "Deploy service, updated"
    updated = api.put("/v2/pipelineTemplates/deploy-service", json=changed, headers=ADMIN)
    assert updated.status_code == 200 and updated.json()["metadata"]["name"] == "Deploy service, updated"
    assert api.post("/v2/pipelineTemplates/update/nothing", json=changed, headers=ADMIN).status_code == 404
    other_id = api.put("/v2/pipelineTemplates/deploy-service", json={**changed, "id": "else"}, headers=ADMIN)
    assert other_id.status_code == 400 and other_id.json()["details"][0]["field"] == "id"


def test_templates_are_checked_when_saved(api: TestClient) -> None:
    bad = copy.deepcopy(TEMPLATE)
    bad["pipeline"]["stages"][1]["type"] = "deployEverything"
    response = api.post("/v2/pipelineTemplates", json=bad, params={"tag": "newest"}, headers=ADMIN)
    assert response.status_code == 400
    assert {d["field"] for d in response.json()["details"]} == {"tag", "pipeline.stages[1].type"}
    v1 = api.post("/v2/pipelineTemplates", json={**TEMPLATE, "schema": "v1"}, headers=ADMIN)
    assert v1.status_code == 400 and v1.json()["details"][0]["problem"] == "Pipeline template schema version is invalid"


def test_plan_renders_a_templated_config(api: TestClient) -> None:
    create_template(api)
    extra = {"refId": "smoke", "type": "wait", "name": "Smoke test", "waitTime": 2, "inject": {"after": ["deploy"]}}
    response = api.post(
        "/v2/pipelineTemplates/plan",
        json={**templated(stages=[extra]), "trigger": {"type": "manual", "user": "ann"}},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    planned = response.json()
    assert [(s["refId"], s["requisiteStageRefIds"]) for s in planned["stages"]] == [
        ("wait1", []),
        ("deploy", ["wait1"]),
        ("smoke", ["deploy"]),
    ]
    assert planned["stages"][0]["waitTime"] == 1 and planned["stages"][1]["name"] == "Deploy to prod"
    assert planned["parameterConfig"] == [{"name": "env", "default": "staging", "inherited": True}]
    assert planned["templateVariables"] == {"waitTime": 1, "target": "prod"}
    assert planned["trigger"] == {"type": "manual", "user": "ann"}

    no_target = api.post("/v2/pipelineTemplates/plan", json=templated(variables={}), headers=ADMIN)
    assert no_target.status_code == 400
    assert no_target.json()["details"] == [{"field": "variables", "problem": "Missing variable values for: target"}]
    nowhere = api.post("/v2/pipelineTemplates/plan", json=templated(reference="spinnaker://nope:stable"), headers=ADMIN)
    assert nowhere.status_code == 400
    assert nowhere.json()["details"] == [
        {"field": "template.reference", "problem": "Configured pipeline template not found: spinnaker://nope:stable"}
    ]


# -- templated pipelines run -----------------------------------------------------------------------------------
def test_a_templated_pipeline_is_saved_and_runs_to_success(api: TestClient, runtime: Runtime) -> None:
    create_template(api)
    after_wait = {"refId": "check", "type": "wait", "name": "Check", "waitTime": 0, "requisiteStageRefIds": ["wait1"]}
    at_the_end = {"refId": "done", "type": "wait", "name": "Done", "waitTime": 0, "inject": {"last": True}}
    saved = api.post("/pipelines", json=templated(stages=[after_wait, at_the_end]), headers=ADMIN)
    assert saved.status_code == 200, saved.text  # a config stage may depend on a template stage
    started = api.post("/pipelines/shop/Deploy", json={}, headers=ADMIN)
    assert started.status_code == 202
    execution = wait_status(runtime, started.json()["id"], "SUCCEEDED", "TERMINAL")
    assert execution["status"] == "SUCCEEDED"
    stages = {s["refId"]: s for s in execution["stages"]}
    assert {r: s["requisiteStageRefIds"] for r, s in stages.items()} == {
        "wait1": [],
        "deploy": ["wait1"],
        "check": ["wait1"],
        "done": ["deploy", "check"],
    }
    assert stages["done"]["startTime"] >= max(stages["deploy"]["endTime"], stages["check"]["endTime"])
    assert stages["wait1"]["context"]["waitTime"] == 1  # `${templateVariables.waitTime}`, typed
    assert stages["deploy"]["name"] == "Deploy to prod"
    assert execution["templateVariables"] == {"waitTime": 1, "target": "prod"}
    assert execution["source"] == {"type": "templatedPipeline", "version": "v2"}
    assert execution["trigger"]["parameters"] == {"env": "staging"}  # the template's parameters are inherited
    dependents = api.get("/v2/pipelineTemplates/deploy-service/dependentPipelines", headers=ADMIN).json()
    assert [d["name"] for d in dependents] == ["Deploy"]


def test_a_missing_template_refuses_the_save_and_fails_the_run_with_the_reason(
    api: TestClient, runtime: Runtime
) -> None:
    refused = api.post("/pipelines", json=templated(reference="spinnaker://nope"), headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["details"] == [
        {"field": "template.reference", "problem": "Configured pipeline template not found: spinnaker://nope"}
    ]
    # A config stored before its template existed (an import, a restored database) still runs and fails clearly.
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "shop", {}, "admin")
        runtime.pipelines.save(conn, templated(reference="spinnaker://nope"), "admin")
    started = api.post("/pipelines/shop/Deploy", json={}, headers=ADMIN)
    assert started.status_code == 202
    execution = wait_status(runtime, started.json()["id"], "TERMINAL", "SUCCEEDED", "CANCELED")
    assert execution["status"] == "TERMINAL" and execution["stages"] == []
    assert execution["canceledBy"] == "system"
    assert execution["cancellationReason"] == (
        "Failed on startup: template.reference: Configured pipeline template not found: spinnaker://nope"
    )


def test_a_template_change_that_breaks_a_pipeline_is_refused_unless_asked(api: TestClient, runtime: Runtime) -> None:
    create_template(api)
    assert api.post("/pipelines", json=templated(variables={"target": "prod"}), headers=ADMIN).status_code == 200
    needs_more = copy.deepcopy(TEMPLATE)
    needs_more["variables"].append({"name": "region", "type": "string"})
    refused = api.put("/v2/pipelineTemplates/deploy-service", json=needs_more, headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["details"] == [
        {"field": "dependents[shop/Deploy]", "problem": "variables: Missing variable values for: region"}
    ]
    forced = api.post(
        "/v2/pipelineTemplates/update/deploy-service",
        json=needs_more,
        params={"skipPlanDependents": "true"},
        headers=ADMIN,
    )
    assert forced.status_code == 200
    execution = wait_status(runtime, api.post("/pipelines/shop/Deploy", headers=ADMIN).json()["id"], "TERMINAL")
    assert execution["cancellationReason"] == "Failed on startup: variables: Missing variable values for: region"


def test_changing_a_template_needs_write_on_the_applications_using_it(api: TestClient) -> None:
    create_application(api, "shop", {"READ": ["dev", "viewer"], "WRITE": ["dev"]})
    create_template(api)
    assert api.post("/pipelines", json=templated(), headers=as_user("dev")).status_code == 200
    viewer, dev = as_user("viewer"), as_user("dev")
    assert {c["id"] for c in api.get("/v2/pipelineTemplates", headers=viewer).json()} == {"deploy-service"}
    assert api.put("/v2/pipelineTemplates/deploy-service", json=TEMPLATE, headers=viewer).status_code == 403
    assert api.delete("/v2/pipelineTemplates/deploy-service", headers=viewer).status_code == 403
    assert api.put("/v2/pipelineTemplates/deploy-service", json=TEMPLATE, headers=dev).status_code == 200
    in_use = api.delete("/v2/pipelineTemplates/deploy-service", headers=dev)
    assert in_use.status_code == 409
    assert in_use.json()["message"] == "The following pipeline configs depend on this template: shop/Deploy"
    assert api.delete("/pipelines/shop/Deploy", headers=dev).status_code == 200
    assert api.delete("/v2/pipelineTemplates/deploy-service", headers=dev).status_code == 200
    assert api.get("/v2/pipelineTemplates/deploy-service", headers=dev).status_code == 404
    assert api.get("/v2/pipelineTemplates/deploy-service", params={"tag": "latest"}, headers=dev).status_code == 200
    assert api.get("/v2/pipelineTemplates", headers={}).status_code == 401


# -- the CLI ---------------------------------------------------------------------------------------------------
def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def exercise_cli(runner: CliRunner, tmp_path: Path) -> None:
    """Every `pipeline-template` command, as a user would chain them."""
    template_file = tmp_path / "template.json"
    template_file.write_text(json.dumps(TEMPLATE))
    assert "saved pipeline template deploy-service" in run(
        runner, "pipeline-template", "save", "-f", str(template_file)
    )
    stable = copy.deepcopy(TEMPLATE)
    stable["variables"][0]["defaultValue"] = 5
    template_file.write_text(json.dumps(stable))
    assert "deploy-service:stable" in run(
        runner, "pipeline-template", "save", "-f", str(template_file), "--tag", "stable"
    )
    run(runner, "pipeline-template", "save", "-f", str(template_file))  # saving again replaces it

    assert "deploy-service" in run(runner, "pipeline-template", "list")
    listed = json.loads(run(runner, "pipeline-template", "list", "--scopes", "global", "-o", "json"))
    assert {c.get("tag") for c in listed} == {None, "latest", "stable"}
    shown = json.loads(run(runner, "pipeline-template", "get", "deploy-service", "--tag", "stable"))
    assert shown["variables"][0]["defaultValue"] == 5

    use = run(
        runner,
        "pipeline-template",
        "use",
        "deploy-service",
        "-a",
        "shop",
        "-n",
        "Deploy",
        "-t",
        "stable",
        "--set",
        "target=prod",
    )
    config = json.loads(use)
    assert config["template"]["reference"] == "spinnaker://deploy-service:stable"
    assert config["variables"] == {"target": "prod"} and "type" not in config
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    planned = json.loads(run(runner, "pipeline-template", "plan", "-f", str(config_file)))
    assert planned["stages"][0]["waitTime"] == 5 and planned["stages"][1]["name"] == "Deploy to prod"
    run(runner, "pipeline", "save", "-f", str(config_file))

    in_use = runner.invoke(cli, ["pipeline-template", "delete", "deploy-service", "--tag", "stable"])
    assert in_use.exit_code == 1 and "depend on this template: shop/Deploy" in in_use.stderr
    assert "deleted" in run(runner, "pipeline-template", "delete", "deploy-service", "--tag", "latest")
    gone = runner.invoke(cli, ["pipeline-template", "get", "deploy-service", "--tag", "latest"])
    assert gone.exit_code == 1 and "deploy-service:latest not found" in gone.stderr
    config_file.write_text(json.dumps({**config, "variables": {}}))
    unplanned = runner.invoke(cli, ["pipeline-template", "plan", "-f", str(config_file)])
    assert unplanned.exit_code == 1 and "Missing variable values for: target" in unplanned.stderr


def test_cli_on_the_local_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GENNAKER_USER", "alice")
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    exercise_cli(CliRunner(), tmp_path)


def by_bearer(request: Request) -> Caller | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return CALLERS["admin"] if (scheme, token) == ("Bearer", "admin-token") else None


@pytest.fixture
def server(runtime: Runtime) -> Iterator[str]:
    """The API on a loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(runtime, Security(authenticate=by_bearer, application_allows=by_role))
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    while not served.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join()


@pytest.mark.slow
def test_cli_against_the_server(server: str, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENNAKER_URL", server)
    monkeypatch.setenv("GENNAKER_TOKEN", "admin-token")
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "not-used"))
    exercise_cli(CliRunner(), tmp_path)
    with runtime.db.read() as conn:  # the server's database holds what the CLI did
        assert runtime.launcher.templates.store.get(conn, "deploy-service", tag="stable") is not None
    assert not (tmp_path / "not-used" / "gennaker.db").exists()
