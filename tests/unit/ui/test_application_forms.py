"""Applications are created and edited in the UI (name, email, permissions), with errors beside the field;
Markdown instructions are rendered without raw HTML; the accounts page lists accounts without secrets."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from gennaker.ui.routes import stage_links
from tests.api_support import as_user
from tests.support import wait_status

ADMIN, DEV, VIEWER = as_user("admin"), as_user("dev"), as_user("viewer")


def csrf(api: TestClient, headers: dict[str, str]) -> str:
    api.get("/ui/applications", headers=headers)
    return str(api.cookies.get("gennaker_csrf"))


def test_create_then_edit_an_application(api: TestClient, runtime: Runtime) -> None:
    assert "New application" in api.get("/ui/applications", headers=DEV).text
    form = {
        "csrf": csrf(api, DEV),
        "name": "Basket",
        "email": "team@example.com",
        "permissions.READ": "dev, viewer",
        "permissions.WRITE": "dev",
        "permissions.EXECUTE": "",
    }
    created = api.post("/ui/applications/new", data=form, headers=DEV, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == "/ui/applications/basket"
    with runtime.db.read() as conn:
        stored = runtime.applications.get(conn, "basket")
    assert stored is not None and stored["permissions"] == {"READ": ["dev", "viewer"], "WRITE": ["dev"]}
    assert stored["email"] == "team@example.com"

    settings = api.get("/ui/applications/basket/edit", headers=DEV)
    assert settings.status_code == 200 and 'value="dev, viewer"' in settings.text
    assert api.get("/ui/applications/basket/edit", headers=VIEWER).status_code == 403
    edited = api.post(
        "/ui/applications/basket/edit",
        headers=DEV,
        follow_redirects=False,
        data={
            "csrf": csrf(api, DEV),
            "email": "new@example.com",
            "permissions.READ": "dev",
            "permissions.WRITE": "dev",
        },
    )
    assert edited.status_code == 303
    with runtime.db.read() as conn:
        assert runtime.applications.get(conn, "basket")["permissions"] == {"READ": ["dev"], "WRITE": ["dev"]}


def test_form_errors_are_shown_beside_the_field(api: TestClient) -> None:
    token = csrf(api, DEV)
    bad = api.post("/ui/applications/new", data={"csrf": token, "name": "9lives", "email": "nope"}, headers=DEV)
    assert bad.status_code == 400
    assert 'id="name-error">name must be letters, digits' in bad.text and 'id="email-error">email must be' in bad.text
    api.post("/ui/applications/new", data={"csrf": token, "name": "dup"}, headers=DEV)
    again = api.post("/ui/applications/new", data={"csrf": token, "name": "dup"}, headers=DEV)
    assert again.status_code == 400 and "application &#39;dup&#39; already exists" in again.text


def test_judgment_instructions_are_markdown_without_raw_html(api: TestClient, runtime: Runtime) -> None:
    instructions = "**Check** the [dashboard](https://example.com/d) <script>alert(1)</script>"
    api.post("/tasks", headers=ADMIN, json={"job": [{"type": "createApplication", "application": {"name": "md"}}]})
    stages = [{"refId": "1", "type": "manualJudgment", "instructions": instructions}]
    api.post("/pipelines", headers=ADMIN, json={"application": "md", "name": "p", "stages": stages})
    execution_id = api.post("/pipelines/md/p", json={}, headers=ADMIN).json()["id"]
    wait_status(runtime, execution_id, "RUNNING")
    page = api.get(f"/ui/executions/{execution_id}", headers=ADMIN).text
    assert "<strong>Check</strong>" in page and '<a href="https://example.com/d">dashboard</a>' in page
    assert "<script>alert(1)</script>" not in page


def test_stage_links_lead_to_children_builds_and_manifests() -> None:
    child = {"type": "pipeline", "context": {"executionId": "01CHILD", "executionName": "deploy"}}
    assert stage_links(child) == [("child pipeline deploy", "/ui/executions/01CHILD")]
    jenkins = {"type": "jenkins", "context": {"buildInfo": {"number": 7, "url": "https://ci.example.com/job/x/7/"}}}
    assert stage_links(jenkins) == [("Jenkins build #7", "https://ci.example.com/job/x/7/")]
    hostile = {"type": "jenkins", "context": {"buildInfo": {"url": "javascript:alert(1)"}}}
    assert stage_links(hostile) == []
    deploy = {
        "type": "deployManifest",
        "context": {"account": "prod"},
        "outputs": {"manifestNamesByNamespace": {"shop": ["deployment web"]}},
    }
    assert stage_links(deploy) == [("deployment web (prod · shop)", "/ui/manifests/prod/shop/deployment%20web")]


def test_accounts_page(api: TestClient) -> None:
    page = api.get("/ui/accounts", headers=DEV)
    assert page.status_code == 200 and "No Kubernetes accounts are configured" in page.text
    assert "embedded-artifact" in page.text
