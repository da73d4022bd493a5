"""Gate's execution search (gate.md §1.5): trigger types, names, partial triggers, time bounds, paging."""

from __future__ import annotations

import base64
import json

from fastapi.testclient import TestClient

from gennaker.model.search import trigger_matches
from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import wait_status

ADMIN = as_user("admin")


def encoded(trigger: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(trigger).encode()).decode()


def test_trigger_matching_rules() -> None:
    actual = {"type": "docker", "tag": "v1.2.3", "labels": {"team": "shop", "tier": "web"}, "tags": ["a", "b", "c"]}
    assert trigger_matches({"type": "DOCKER"}, actual)
    assert trigger_matches({"tag": r"v1\.2\..*"}, actual)
    assert trigger_matches({"labels": {"team": "shop"}}, actual)
    assert not trigger_matches({"labels": {"team": "ops"}}, actual)
    assert trigger_matches({"tags": ["b", "a"]}, actual)
    assert not trigger_matches({"tags": ["a", "a"]}, actual)  # each element needs its own match
    assert not trigger_matches({"missing": "x"}, actual)


def test_search_filters_and_pages(api: TestClient, runtime: Runtime) -> None:
    api.post("/tasks", headers=ADMIN, json={"job": [{"type": "createApplication", "application": {"name": "shop"}}]})
    for name in ("build", "deploy"):
        config = {"application": "shop", "name": name, "stages": [{"refId": "1", "type": "wait", "waitTime": 0}]}
        assert api.post("/pipelines", headers=ADMIN, json=config).status_code == 200
    ids = []
    for index in range(4):
        trigger = {"type": "webhook", "source": "ci", "payload": {"branch": f"feature-{index}"}}
        ids.append(runtime.start_pipeline("shop", "deploy" if index % 2 else "build", trigger, "t"))
    ids.append(runtime.start_pipeline("shop", "deploy", {"type": "manual"}, "t"))
    for execution_id in ids:
        wait_status(runtime, execution_id, "SUCCEEDED")

    def search(**params: object) -> list[str]:
        response = api.get("/applications/shop/executions/search", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    assert search(size=100) == list(reversed(ids))
    assert search(triggerTypes="webhook", size=100) == list(reversed(ids[:4]))
    assert search(pipelineName="deploy", triggerTypes="webhook") == [ids[3], ids[1]]
    assert search(trigger=encoded({"payload": {"branch": "feature-[12]"}})) == [ids[2], ids[1]]
    assert search(size=2, startIndex=1) == [ids[3], ids[2]]
    assert search(size=2, reverse=True) == ids[:2]
    first = api.get("/applications/shop/executions/search", params={"size": 1}, headers=ADMIN).json()[0]
    assert "context" not in first["stages"][0]
    expanded = api.get("/applications/shop/executions/search", params={"size": 1, "expand": True}, headers=ADMIN)
    assert "context" in expanded.json()[0]["stages"][0]
    everywhere = api.get("/applications/*/executions/search", params={"size": 100}, headers=as_user("viewer"))
    assert everywhere.json() == []  # the viewer reads no application
    bad = api.get("/applications/shop/executions/search", params={"trigger": "%%%"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "trigger"
