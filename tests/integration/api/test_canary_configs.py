"""Canary configs through Gate's `/v2/canaryConfig` routes (create, read, list, update with every version kept,
delete), refusals that name the field, permissions where they are enforced, judgments read back through
`/v2/canary`, and `#canaryConfigNameToId`'s lookup."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime, StoreLookups
from gennaker.store.canary import MAX_METRICS
from tests.api_support import as_user, header_security
from tests.support import make_runtime

ADMIN, DEV, VIEWER = as_user("admin"), as_user("dev"), as_user("viewer")
CONFIG: dict[str, Any] = {
    "name": "checkout-golden-signals",
    "description": "Canary config for checkout",
    "configVersion": "1",
    "applications": ["Checkout"],
    "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
    "templates": {"by-pod": 'namespace="${namespace}",pod=~"${scope}-.*"'},
    "metrics": [
        {
            "name": "error rate",
            "groups": ["errors"],
            "scopeName": "default",
            "query": {"type": "prometheus", "customInlineTemplate": "PromQL:sum(rate(errors{pod=~'${scope}-.*'}[1m]))"},
            "analysisConfigurations": {"canary": {"direction": "increase", "critical": True}},
        },
        {
            "name": "cpu",
            "groups": ["system"],
            "scopeName": "default",
            "query": {"type": "prometheus", "metricName": "cpu_seconds", "customFilterTemplate": "by-pod"},
        },
    ],
    "classifier": {"groupWeights": {"errors": 60, "system": 40}, "scoreThresholds": {"pass": 95, "marginal": 75}},
}


def config(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CONFIG), **changes}


def create(api: TestClient, body: dict[str, Any], who: dict[str, str] = ADMIN) -> str:
    response = api.post("/v2/canaryConfig", json=body, headers=who)
    assert response.status_code == 200, response.text
    config_id: str = response.json()["canaryConfigId"]
    return config_id


def judgment(judgment_id: str, run: int, application: str = "checkout", **extra: Any) -> dict[str, Any]:
    return {
        "id": judgment_id,
        "application": application,
        "executionId": "exec-1",
        "pipelineId": "pipe-1",
        "stageId": judgment_id,
        "parentStageId": "canary-stage",
        "canaryConfigId": "cfg-1",
        "runNumber": run,
        "createdAt": 1_700_000_000_000 + run,
        "status": "SUCCEEDED",
        "score": 96.0,
        "result": {"judgeName": "NetflixACAJudge-v1.0", "score": {"score": 96.0, "classification": "Pass"}},
        "metricSetPairs": [{"name": "cpu", "values": {"control": [1.0, 2.0], "experiment": [1.5, 2.5]}}],
        "config": {"name": "checkout-golden-signals"},
        "scopes": {"default": {"controlScope": "web-baseline", "experimentScope": "web-canary"}},
        "thresholds": {"pass": 95, "marginal": 75},
        "warnings": [],
        **extra,
    }


def save_judgments(rt: Runtime, *judgments: dict[str, Any]) -> None:
    with rt.db.transaction() as conn:
        for found in judgments:
            rt.canary.save_judgment(conn, found)


# -- create, read, update, delete ------------------------------------------------------------------------------
def test_configs_are_created_read_updated_with_versions_kept_and_deleted(api: TestClient, runtime: Runtime) -> None:
    config_id = create(api, config())
    stored = api.get(f"/v2/canaryConfig/{config_id}", headers=ADMIN).json()
    assert stored["id"] == config_id
    assert stored["applications"] == ["checkout"]
    assert stored["metrics"] == CONFIG["metrics"]
    assert stored["version"] == 1
    assert stored["createdTimestamp"] == stored["updatedTimestamp"]
    assert stored["updatedTimestampIso"].endswith("Z")

    changed = {**stored, "description": "second", "version": 7, "createdTimestamp": 1}
    answer = api.put(f"/v2/canaryConfig/{config_id}", json=changed, headers=ADMIN)
    assert answer.status_code == 200 and answer.json() == {"canaryConfigId": config_id}
    newest = api.get(f"/v2/canaryConfig/{config_id}", headers=ADMIN).json()
    assert (newest["description"], newest["version"]) == ("second", 2)
    assert newest["createdTimestamp"] == stored["createdTimestamp"]  # set by the server, whatever is sent
    with runtime.db.read() as conn:
        assert runtime.canary.get_config_version(conn, config_id, 1) == stored

    [summary] = api.get("/v2/canaryConfig", params={"application": "checkout"}, headers=ADMIN).json()
    assert summary["id"] == config_id and summary["name"] == "checkout-golden-signals"
    assert summary["updatedTimestamp"] == newest["updatedTimestamp"]
    assert api.get("/v2/canaryConfig", params={"application": "shop"}, headers=ADMIN).json() == []
    assert [s["id"] for s in api.get("/v2/canaryConfig", headers=ADMIN).json()] == [config_id]

    assert api.delete(f"/v2/canaryConfig/{config_id}", headers=ADMIN).status_code == 204
    assert api.get(f"/v2/canaryConfig/{config_id}", headers=ADMIN).status_code == 404
    assert api.delete(f"/v2/canaryConfig/{config_id}", headers=ADMIN).status_code == 404


def test_a_given_id_is_kept_and_clashes_are_refused(api: TestClient) -> None:
    assert create(api, config(id="golden-1")) == "golden-1"
    again = api.post("/v2/canaryConfig", json=config(id="golden-1"), headers=ADMIN)
    assert again.status_code == 409 and "golden-1 already exists" in again.json()["message"]
    same_name = api.post("/v2/canaryConfig", json=config(applications=["shop", "checkout"]), headers=ADMIN)
    assert same_name.status_code == 409
    assert "already shared with application 'checkout' (id golden-1)" in same_name.json()["message"]
    assert create(api, config(applications=["shop"])) != "golden-1"  # another application may use the name

    missing = api.put("/v2/canaryConfig/nope", json=config(), headers=ADMIN)
    assert missing.status_code == 404
    other_id = api.put("/v2/canaryConfig/golden-1", json=config(id="golden-2"), headers=ADMIN)
    assert other_id.status_code == 400 and other_id.json()["details"][0]["field"] == "id"


# -- refusals --------------------------------------------------------------------------------------------------
def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in config().items() if k != key}


def metric_change(**changes: Any) -> dict[str, Any]:
    body = config()
    body["metrics"][1].update(changes)
    return body


INVALID = [
    (without("name"), "name", "needs a name"),
    (config(name=["x"]), "name", "must be a string"),
    (config(configVersion={"v": 1}), "configVersion", "must be a string or a number"),
    (without("applications"), "applications", "at least one application"),
    (config(applications=["no spaces please"]), "applications[0]", "letters, digits and '-'"),
    (metric_change(scopeName=None), "metrics[1]", "metric 'cpu' needs a scopeName"),
    (metric_change(query={"type": "prometheus", "metricName": 5}), "metrics[1].query.metricName", "must be a string"),
    (
        metric_change(query={"type": "prometheus", "metricName": "m", "customFilterTemplate": "nope"}),
        "metrics[1]",
        "'nope' is not defined",
    ),
    (metric_change(analysisConfigurations={"canary": {"critical": "true"}}), "metrics[1]", "must be a JSON boolean"),
    (config(classifier={"scoreThresholds": {"pass": 50, "marginal": 75}}), "classifier.scoreThresholds", "below"),
    (config(classifier={"scoreThresholds": 5}), "classifier.scoreThresholds", "must be an object"),
    (config(metrics=[]), "metrics", "at least one metric"),
    (config(metrics=[CONFIG["metrics"][0]] * (MAX_METRICS + 1)), "metrics", "more than the 500"),
    (config(id="has/slash"), "id", "letters, digits"),
]


@pytest.mark.parametrize(
    ("body", "field", "problem"), INVALID, ids=[f"{i}-{case[1]}" for i, case in enumerate(INVALID)]
)
def test_invalid_configs_are_refused_naming_the_field(
    api: TestClient, body: dict[str, Any], field: str, problem: str
) -> None:
    response = api.post("/v2/canaryConfig", json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["details"][0]["field"] == field
    assert problem in answer["details"][0]["problem"]
    assert answer["message"].startswith(f"invalid canary config: {field}: ")
    assert api.get("/v2/canaryConfig", headers=ADMIN).json() == []


# -- permissions -----------------------------------------------------------------------------------------------
@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    """Permissions enforced: dev may WRITE checkout, viewer may READ it; billing is ops' alone."""
    rt = make_runtime(tmp_path / "secured", enforce_permissions=True)
    with rt.db.transaction() as conn:
        rt.applications.save(conn, "checkout", {"permissions": {"READ": ["viewer"], "WRITE": ["dev"]}}, "admin")
        rt.applications.save(conn, "billing", {"permissions": {"WRITE": ["ops"]}}, "admin")
    with TestClient(create_app(rt, header_security())) as client:
        yield rt, client
    rt.close()


def test_permissions_decide_who_reads_and_changes_a_config(secured: tuple[Runtime, TestClient]) -> None:
    _, api = secured
    config_id = create(api, config(), DEV)
    both = api.post("/v2/canaryConfig", json=config(name="both", applications=["checkout", "billing"]), headers=DEV)
    assert both.status_code == 403 and "dev lacks WRITE permission on application 'billing'" in both.json()["message"]

    assert api.get(f"/v2/canaryConfig/{config_id}", headers=VIEWER).status_code == 200
    assert [s["id"] for s in api.get("/v2/canaryConfig", headers=VIEWER).json()] == [config_id]
    assert api.put(f"/v2/canaryConfig/{config_id}", json=config(), headers=VIEWER).status_code == 403
    assert api.delete(f"/v2/canaryConfig/{config_id}", headers=VIEWER).status_code == 403
    assert api.post("/v2/canaryConfig", json=config(name="mine"), headers=VIEWER).status_code == 403

    billing_id = create(api, config(name="billing", applications=["billing"]))
    for refused in (
        api.get(f"/v2/canaryConfig/{billing_id}", headers=DEV),
        api.put(f"/v2/canaryConfig/{billing_id}", json=config(applications=["checkout"]), headers=DEV),
        api.delete(f"/v2/canaryConfig/{billing_id}", headers=DEV),
    ):
        assert refused.status_code == 404  # not even its existence is shown
    assert [s["id"] for s in api.get("/v2/canaryConfig", headers=DEV).json()] == [config_id]

    # once shared with billing too, dev may still read the config but no longer change it
    shared = {**config(), "applications": ["checkout", "billing"]}
    assert api.put(f"/v2/canaryConfig/{config_id}", json=shared, headers=ADMIN).status_code == 200
    assert api.get(f"/v2/canaryConfig/{config_id}", headers=DEV).status_code == 200
    assert api.put(f"/v2/canaryConfig/{config_id}", json=config(), headers=DEV).status_code == 403
    assert api.delete(f"/v2/canaryConfig/{config_id}", headers=DEV).status_code == 403
    assert api.delete(f"/v2/canaryConfig/{config_id}", headers=ADMIN).status_code == 204


def test_judgments_are_read_with_read_permission_on_their_application(secured: tuple[Runtime, TestClient]) -> None:
    rt, api = secured
    save_judgments(rt, judgment("run-1", 1), judgment("run-b", 2, application="billing"))
    assert api.get("/v2/canary/run-1", headers=VIEWER).status_code == 200
    assert api.get("/v2/canary/run-b", headers=VIEWER).status_code == 404
    assert api.get("/v2/canary/run-b", headers=ADMIN).status_code == 200
    listed = api.get("/v2/canary", params={"executionId": "exec-1"}, headers=VIEWER).json()
    assert [j["id"] for j in listed] == ["run-1"]


def test_canary_config_name_to_id_looks_up_as_the_execution_user(secured: tuple[Runtime, TestClient]) -> None:
    rt, api = secured
    config_id = create(api, config(), DEV)
    auth = AuthService(rt.db)
    auth.add_user("carol", None, ["viewer"])
    auth.add_user("mallory", None, ["other"])
    lookups = StoreLookups(rt)
    assert lookups.canary_config_id("checkout-golden-signals", "checkout", "carol") == config_id
    assert lookups.canary_config_id("checkout-golden-signals", "checkout", "mallory") is None
    assert lookups.canary_config_id("another", "checkout", "carol") is None


# -- judgments -------------------------------------------------------------------------------------------------
def test_judgments_are_served_in_kayentas_status_shape(api: TestClient, runtime: Runtime) -> None:
    error = "the metrics source answered 400: bad PromQL"
    failed = judgment("run-2", 2, status="TERMINAL", score=None, result=None, metricSetPairs=None, error=error)
    save_judgments(runtime, failed, judgment("run-1", 1))
    save_judgments(runtime, judgment("run-1", 1, score=97.0))  # the task ran again: replaced, not added

    served = api.get("/v2/canary/run-1", headers=ADMIN).json()
    stored = judgment("run-1", 1, score=97.0)
    assert served["id"] == "run-1"
    assert served["application"] == "checkout"
    assert served["parentPipelineExecutionId"] == "exec-1"
    assert served["pipelineId"] == "pipe-1"
    assert served["stageId"] == "run-1"
    assert served["complete"] is True
    assert served["status"] == "succeeded"
    assert served["result"] == {"judgeResult": stored["result"]}
    assert served["config"] == stored["config"]
    assert served["canaryExecutionRequest"] == {"scopes": stored["scopes"], "thresholds": stored["thresholds"]}
    assert served["metricSetPairList"] == stored["metricSetPairs"]
    assert served["buildTimeMillis"] == stored["createdAt"]
    assert "exception" not in served

    terminal = api.get("/v2/canary/run-2", headers=ADMIN).json()
    assert (terminal["status"], terminal["result"], terminal["metricSetPairList"]) == ("terminal", None, [])
    assert terminal["exception"] == {"details": {"error": error, "errors": [error]}}

    listed = api.get("/v2/canary", params={"executionId": "exec-1"}, headers=ADMIN).json()
    assert [j["id"] for j in listed] == ["run-1", "run-2"]
    one = api.get("/v2/canary", params={"executionId": "exec-1", "stageId": "run-2"}, headers=ADMIN).json()
    assert [j["status"] for j in one] == ["terminal"]
    assert api.get("/v2/canary/nope", headers=ADMIN).status_code == 404
    missing = api.get("/v2/canary", headers=ADMIN)
    assert missing.status_code == 400 and missing.json()["details"][0]["field"] == "executionId"
