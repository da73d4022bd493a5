"""Gate-compatible routes: shapes and status codes that Deck and spin rely on (gate.md §1, §7)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import wait_status

ADMIN = as_user("admin")
PIPELINE = {
    "application": "shop",
    "name": "release",
    "parameterConfig": [{"name": "env", "default": "staging"}],
    "stages": [
        {"refId": "1", "type": "wait", "waitTime": 0},
        {"refId": "2", "type": "manualJudgment", "name": "Approve", "requisiteStageRefIds": ["1"]},
    ],
    "somethingDeckAdds": {"kept": True},
}


def create_app_task(api: TestClient, name: str, **attributes: object) -> dict:
    body = {"job": [{"type": "createApplication", "application": {"name": name, **attributes}}]}
    ref = api.post("/tasks", json=body, headers=ADMIN).json()["ref"]
    return api.get(ref, headers=ADMIN).json()


def test_applications_are_created_by_tasks_and_wrapped_in_attributes(api: TestClient) -> None:
    task = create_app_task(api, "Shop", email="team@example.com", permissions={"READ": ["dev"], "EXECUTE": ["dev"]})
    assert task["type"] == "ORCHESTRATION" and task["status"] == "SUCCEEDED"
    shown = api.get("/applications/shop", headers=ADMIN).json()
    assert shown["name"] == "shop" and shown["attributes"]["email"] == "team@example.com"
    assert [a["name"] for a in api.get("/applications", headers=as_user("dev")).json()] == ["shop"]
    assert api.get("/applications", headers=as_user("viewer")).json() == []
    duplicate = create_app_task(api, "shop")
    assert duplicate["status"] == "TERMINAL"
    assert "already exists" in duplicate["stages"][0]["context"]["exception"]["details"]["error"]


def test_save_trigger_judge_and_read_an_execution(api: TestClient, runtime: Runtime) -> None:
    create_app_task(api, "shop", permissions={"READ": ["dev"], "EXECUTE": ["dev"], "WRITE": ["dev"]})
    saved = api.post("/pipelines", json=PIPELINE, headers=as_user("dev"))
    assert saved.status_code == 200 and saved.json()["warnings"] == []
    config = api.get("/applications/shop/pipelineConfigs/release", headers=ADMIN).json()
    assert config["somethingDeckAdds"] == {"kept": True}
    started = api.post("/pipelines/shop/release", json={"parameters": {"env": "prod"}}, headers=as_user("dev"))
    assert started.status_code == 202
    execution_id = started.json()["ref"].removeprefix("/pipelines/")
    wait_status(runtime, execution_id, "RUNNING")
    execution = api.get(f"/pipelines/{execution_id}", headers=as_user("dev")).json()
    assert execution["trigger"]["parameters"] == {"env": "prod"} and execution["trigger"]["user"] == "dev"
    judgment = next(s for s in execution["stages"] if s["type"] == "manualJudgment")
    patched = api.patch(
        f"/pipelines/{execution_id}/stages/{judgment['id']}",
        json={"judgmentStatus": "continue", "judgmentInput": "go"},
        headers=as_user("dev"),
    )
    assert patched.status_code == 200
    assert wait_status(runtime, execution_id, "SUCCEEDED", "TERMINAL")["status"] == "SUCCEEDED"
    listed = api.get("/applications/shop/pipelines", params={"statuses": "SUCCEEDED"}, headers=ADMIN).json()
    assert [e["id"] for e in listed] == [execution_id]
    by_config = api.get("/executions", params={"pipelineConfigIds": config["id"]}, headers=ADMIN).json()
    assert [e["id"] for e in by_config] == [execution_id]
    assert api.get("/executions", headers=ADMIN).json() == []


def test_v2_trigger_and_history(api: TestClient) -> None:
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    api.post("/pipelines", json={**PIPELINE, "description": "second"}, headers=ADMIN)
    config = api.get("/applications/shop/pipelineConfigs/release", headers=ADMIN).json()
    history = api.get(f"/pipelineConfigs/{config['id']}/history", headers=ADMIN).json()
    assert [h["version"] for h in history] == [2, 1] and history[0]["description"] == "second"
    started = api.post("/pipelines/v2/shop/release", json={}, headers=ADMIN)
    assert started.status_code == 202 and set(started.json()) == {"eventId", "ref"}


def test_errors_are_json_and_name_the_field(api: TestClient) -> None:
    bad = api.post("/pipelines", json={**PIPELINE, "stages": [{"refId": "1", "type": "nope"}]}, headers=ADMIN)
    assert bad.status_code == 400
    body = bad.json()
    assert set(body) == {"error", "message", "status", "details"}
    unknown = "unknown stage type 'nope' (not a Spinnaker stage; save with allowUnknown to keep it)"
    assert {"field": "stages[0].type", "problem": unknown} in body["details"]
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    missing_param = api.post(
        "/pipelines/shop/release", json={"parameters": {}}, headers=ADMIN
    )  # env has a default: starts fine
    assert missing_param.status_code == 202
    not_found = api.get("/pipelines/NOPE", headers=ADMIN)
    assert not_found.status_code == 404 and not_found.json()["status"] == 404
    wrong_type = api.get("/applications/shop/pipelines", params={"limit": "many"}, headers=ADMIN)
    assert wrong_type.status_code == 400 and wrong_type.json()["details"][0]["field"] == "limit"
    not_json = api.post("/pipelines", content=b"{", headers={**ADMIN, "Content-Type": "application/json"})
    assert not_json.status_code == 400


def test_permissions_are_enforced(api: TestClient, runtime: Runtime) -> None:
    create_app_task(api, "shop", permissions={"READ": ["dev", "viewer"], "EXECUTE": ["dev"], "WRITE": ["dev"]})
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    assert api.post("/pipelines/shop/release", json={}, headers=as_user("viewer")).status_code == 403
    assert api.post("/pipelines/shop/release", json={}, headers={}).status_code == 401
    ref = api.post("/pipelines/shop/release", json={}, headers=as_user("dev")).json()["ref"]
    execution_id = ref.removeprefix("/pipelines/")
    wait_status(runtime, execution_id, "RUNNING")
    assert api.put(f"/pipelines/{execution_id}/cancel", headers=as_user("viewer")).status_code == 403
    assert api.get(f"/pipelines/{execution_id}", headers=as_user("viewer")).status_code == 200
    assert api.put(f"/pipelines/{execution_id}/cancel", headers=as_user("dev")).status_code == 200
    assert wait_status(runtime, execution_id, "CANCELED")["canceledBy"] == "dev"
    again = api.put(f"/pipelines/{execution_id}/pause", headers=as_user("dev"))
    assert again.status_code == 409


def test_execution_events_stream_until_complete(api: TestClient, runtime: Runtime) -> None:
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    execution_id = api.post("/pipelines/shop/release", json={}, headers=ADMIN).json()["ref"].split("/")[-1]
    execution = wait_status(runtime, execution_id, "RUNNING")
    judgment = next(s for s in execution["stages"] if s["type"] == "manualJudgment")
    statuses = []
    with api.stream("GET", f"/pipelines/{execution_id}/events", headers=ADMIN) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            statuses.append(json.loads(line.removeprefix("data: "))["status"])
            if len(statuses) == 1:
                runtime.operations.judge(execution_id, judgment["id"], "continue", None, "admin")
    assert statuses[0] == "RUNNING" and statuses[-1] == "SUCCEEDED"


def test_health_metrics_and_openapi(api: TestClient) -> None:
    assert api.get("/health").json() == {"status": "UP"}
    metrics = api.get("/metrics", headers=ADMIN).text
    assert "gennaker_queue_depth" in metrics and "gennaker_handler_batch_seconds" in metrics
    assert api.get("/metrics").status_code == 401
    assert "/pipelines/{application}/{name_or_id}" in api.get("/openapi.json").json()["paths"]


def test_webhooks_start_matching_pipelines_as_the_service_account(api: TestClient, runtime: Runtime) -> None:
    create_app_task(api, "shop", permissions={"READ": ["dev"], "EXECUTE": ["dev"]})
    hooked = {
        **PIPELINE,
        "name": "hooked",
        "triggers": [
            {
                "type": "webhook",
                "enabled": True,
                "source": "ci",
                "payloadConstraints": {"branch": "^main$"},
                "runAsUser": "deploy-bot",
            },
        ],
    }
    api.post("/pipelines", json=hooked, headers=ADMIN)
    missed = api.post("/webhooks/webhook/ci", json={"branch": "dev"}, headers=as_user("dev")).json()
    assert missed["executions"] == []
    assert api.post("/webhooks/webhook/ci", json={"branch": "main"}).status_code == 401
    refused = api.post("/webhooks/webhook/ci", json={"branch": "main"}, headers=as_user("viewer")).json()
    assert refused["executions"] == []
    hit = api.post("/webhooks/webhook/ci", json={"branch": "main", "parameters": {"env": "x"}}, headers=as_user("dev"))
    [ref] = hit.json()["executions"]
    execution = wait_status(runtime, ref.split("/")[-1], "RUNNING")
    assert execution["trigger"]["type"] == "webhook" and execution["trigger"]["user"] == "deploy-bot"
    assert execution["trigger"]["parameters"]["env"] == "x"


def test_evaluate_expression_against_an_execution(api: TestClient, runtime: Runtime) -> None:
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    execution_id = api.post("/pipelines/shop/release", json={"parameters": {"env": "qa"}}, headers=ADMIN).json()["id"]
    wait_status(runtime, execution_id, "RUNNING")
    answer = api.get(
        f"/pipelines/{execution_id}/evaluateExpression", params={"expression": "parameters.env"}, headers=ADMIN
    )
    assert answer.json() == {"result": "qa", "detail": None}
    failing = api.get(
        f"/pipelines/{execution_id}/evaluateExpression", params={"expression": "${T(java.lang.System)}"}, headers=ADMIN
    ).json()
    assert failing["result"] == "${T(java.lang.System)}" and failing["detail"]
    staged = api.get(
        f"/pipelines/{execution_id}/1/evaluateExpression", params={"expression": "waitTime"}, headers=ADMIN
    )
    assert staged.json()["result"] == 0


def test_a_webhook_skips_pipelines_whose_expected_artifacts_it_does_not_bring(api: TestClient) -> None:
    create_app_task(api, "shop", permissions={"READ": ["dev"], "EXECUTE": ["dev"]})
    trigger = {"type": "webhook", "enabled": True, "source": "registry"}
    image = {"id": "img", "displayName": "web image", "matchArtifact": {"type": "docker/image", "name": "web"}}
    needs_image = {
        **PIPELINE,
        "name": "needs-image",
        "expectedArtifacts": [image],
        "triggers": [{**trigger, "expectedArtifactIds": ["img"]}],
    }
    plain = {**PIPELINE, "name": "plain", "triggers": [trigger]}
    for config in (needs_image, plain):
        assert api.post("/pipelines", json=config, headers=ADMIN).status_code == 200
    answer = api.post("/webhooks/webhook/registry", json={"parameters": {"env": "x"}}, headers=as_user("dev")).json()
    assert len(answer["executions"]) == 1
    assert answer["skipped"][0]["pipeline"] == "shop/needs-image"
    assert "Unmatched expected artifact (id=img" in answer["skipped"][0]["reason"]
    artifact = {"type": "docker/image", "name": "web", "reference": "web:2"}
    both = api.post(
        "/webhooks/webhook/registry", json={"parameters": {"env": "x"}, "artifacts": [artifact]}, headers=as_user("dev")
    ).json()
    assert len(both["executions"]) == 2 and both["skipped"] == []


def test_an_event_stream_subscribes_before_it_reads_what_it_sends_first(
    api: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Otherwise a change between the first read and the subscription is lost and the stream never ends."""
    api.post("/pipelines", json=PIPELINE, headers=ADMIN)
    execution_id = api.post("/pipelines/shop/release", json={}, headers=ADMIN).json()["id"]
    wait_status(runtime, execution_id, "RUNNING")
    order: list[str] = []
    subscribe, get_json = runtime.wakeup.subscribe, runtime.executions.get_json
    monkeypatch.setattr(runtime.wakeup, "subscribe", lambda f: (order.append("subscribe"), subscribe(f))[1])
    monkeypatch.setattr(runtime.executions, "get_json", lambda c, i: (order.append("read"), get_json(c, i))[1])
    with api.stream("GET", f"/pipelines/{execution_id}/events", headers=ADMIN) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                break
    assert order[:3] == ["read", "subscribe", "read"]  # the permission check, then subscribe, then the snapshot


def test_listing_by_ids_has_a_budget(api: TestClient) -> None:
    many = ",".join(f"id{i}" for i in range(101))
    refused = api.get("/executions", params={"pipelineConfigIds": many}, headers=as_user("dev"))
    assert refused.status_code == 400
    assert refused.json()["details"] == [{"field": "pipelineConfigIds", "problem": "at most 100 ids, not 101"}]
    assert api.get("/executions", params={"executionIds": many[:-6]}, headers=as_user("dev")).status_code == 200
