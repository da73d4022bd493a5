"""Every route refuses anonymous callers, and callers without the permission it needs (issue 4, item 8).

The matrix is generated from the OpenAPI document, so a new route is covered the day it is added.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from gennaker.ui import editor as ui_editor
from gennaker.ui import infrastructure as ui_infrastructure
from gennaker.ui import routes as ui_pages
from tests.api_support import as_user
from tests.support import wait_status

# Git providers cannot sign in: their deliveries are authenticated by the trigger's secret instead, and an
# unsigned one starts nothing for an anonymous caller (tests/integration/triggers/test_git_webhooks.py).
PUBLIC = {("GET", "/health"), ("POST", "/webhooks/git/{source}")}


def routes(api: TestClient) -> list[tuple[str, str]]:
    """Every operation the API publishes in its OpenAPI document."""
    paths = api.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


def concrete(path: str, execution_id: str, stage_id: str, config_id: str) -> str:
    values = {
        "application": "shop",
        "name_or_id": "release",
        "pipeline_name": "release",
        "source": "ci",
        "execution_id": execution_id,
        "stage_id": stage_id,
        "pipeline_id": config_id,
        "config_id": "canary-config",
        "canary_id": "canary-run",
        "task_id": execution_id,
        "version": "1",
        "account": "prod",
        "location": "default",
        "name": "deployment web",
        "region": "default",
        "instance_id": "pod web-1",
        "pod": "web-1",
        "action": "cancel",
        "execution": "x",
        "stage": "x",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.fixture
def fixture_ids(api: TestClient, runtime: Runtime) -> tuple[str, str, str]:
    admin = as_user("admin")
    body = {"job": [{"type": "createApplication", "application": {"name": "shop", "permissions": {"READ": ["dev"]}}}]}
    api.post("/tasks", json=body, headers=admin)
    pipeline = {"application": "shop", "name": "release", "stages": [{"refId": "1", "type": "manualJudgment"}]}
    api.post("/pipelines", json=pipeline, headers=admin)
    execution_id = api.post("/pipelines/shop/release", json={}, headers=admin).json()["ref"].split("/")[-1]
    execution = wait_status(runtime, execution_id, "RUNNING")
    config_id = api.get("/applications/shop/pipelineConfigs/release", headers=admin).json()["id"]
    return execution_id, execution["stages"][0]["id"], config_id


def test_every_route_refuses_anonymous_callers(api: TestClient, fixture_ids: tuple[str, str, str]) -> None:
    checked = 0
    for method, path in routes(api):
        if (method, path) in PUBLIC:
            continue
        response = api.request(method, concrete(path, *fixture_ids), json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} to an anonymous caller"
        checked += 1
    assert checked >= 20


def test_every_application_route_refuses_callers_without_permission(
    api: TestClient, fixture_ids: tuple[str, str, str]
) -> None:
    """`viewer` holds no role on `shop`: every route about it answers 403, or 404 where reading would leak it."""
    outsider = as_user("viewer")
    for method, path in routes(api):
        if (method, path) in PUBLIC or "{" not in path or path.startswith("/webhooks"):
            continue
        body = {"application": "shop", "name": "release", "judgmentStatus": "continue"}  # valid, so authz decides
        response = api.request(
            method, concrete(path, *fixture_ids), json=body, params={"expression": "1"}, headers=outsider
        )
        assert response.status_code in (403, 404), f"{method} {path} answered {response.status_code} to viewer"


def ui_routes(api: TestClient) -> list[tuple[str, str]]:
    """Every page and form action of the UI (they are not in the OpenAPI document)."""
    found = []
    for module in (ui_pages, ui_editor, ui_infrastructure):
        for route in module.router.routes:
            path = getattr(route, "path", "")
            if path.startswith("/ui/"):
                found += [(method, path) for method in sorted(getattr(route, "methods", ()) or ()) if method != "HEAD"]
    return sorted(found)


def test_every_ui_route_refuses_anonymous_callers(api: TestClient, fixture_ids: tuple[str, str, str]) -> None:
    checked = 0
    for method, path in ui_routes(api):
        response = api.request(method, concrete(path, *fixture_ids), follow_redirects=False)
        to_login = response.status_code == 303 and response.headers["location"].startswith("/ui/login")
        assert to_login or response.status_code == 401, f"{method} {path} answered {response.status_code} to anonymous"
        checked += 1
    assert checked >= 20


def test_every_ui_route_about_an_application_refuses_callers_without_permission(
    api: TestClient, fixture_ids: tuple[str, str, str]
) -> None:
    """`viewer` holds no role on `shop`; forms carry a valid CSRF token, so authorization is what refuses."""
    outsider = as_user("viewer")
    api.get("/ui/applications", headers=outsider)
    token = api.cookies.get("gennaker_csrf")
    for method, path in ui_routes(api):
        if "{" not in path or path.startswith(("/ui/manifests", "/ui/instances")):
            continue  # account routes: covered by the Kubernetes tests, no account exists here
        form = {"csrf": token, "action": "scale", "account": "prod", "judgment": "continue", "name": "x"}
        response = api.request(
            method, concrete(path, *fixture_ids), data=form, headers=outsider, follow_redirects=False
        )
        assert response.status_code in (403, 404), f"{method} {path} answered {response.status_code} to viewer"
