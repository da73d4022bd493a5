"""Pages render from live data and act with the caller's permissions. These callers are named by a header,
not a session cookie, so no form of theirs can be forged: CSRF is tested in tests/security/test_web_sessions.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import execution as stored_execution
from tests.support import wait_for, wait_status

ADMIN = as_user("admin")
PIPELINE = {
    "application": "shop",
    "name": "release",
    "parameterConfig": [
        {
            "name": "env",
            "required": True,
            "hasOptions": True,
            "options": [{"value": "staging"}, {"value": "prod"}],
            "default": "staging",
        }
    ],
    "stages": [
        {"refId": "1", "type": "wait", "waitTime": 0, "name": "Settle"},
        {
            "refId": "2",
            "type": "manualJudgment",
            "name": "Approve",
            "requisiteStageRefIds": ["1"],
            "instructions": "Ship it?",
            "judgmentInputs": [{"value": "ship"}, {"value": "hold"}],
        },
        {
            "refId": "3",
            "type": "testFail",
            "name": "Smoke",
            "reason": "smoke test failed",
            "requisiteStageRefIds": ["2"],
        },
    ],
}


def setup_app(api: TestClient) -> None:
    job = {
        "type": "createApplication",
        "application": {
            "name": "shop",
            "email": "t@example.com",
            "permissions": {"READ": ["dev", "viewer"], "EXECUTE": ["dev"]},
        },
    }
    api.post("/tasks", json={"job": [job]}, headers=ADMIN)
    assert api.post("/pipelines", json=PIPELINE, headers=ADMIN).status_code == 200


def test_applications_page_lists_and_searches(api: TestClient) -> None:
    setup_app(api)
    page = api.get("/ui/applications", headers=ADMIN)
    assert page.status_code == 200 and 'href="/ui/applications/shop"' in page.text
    assert "shop" not in api.get("/ui/applications", params={"q": "nomatch"}, headers=ADMIN).text.split("<tbody")[1]
    assert api.get("/", headers=ADMIN, follow_redirects=False).headers["location"] == "/ui/applications"


def test_start_judge_and_see_the_failure_reason_at_the_top(api: TestClient, runtime: Runtime) -> None:
    setup_app(api)
    app_page = api.get("/ui/applications/shop", headers=as_user("dev"))
    assert "Start manual execution" in app_page.text
    form = api.get("/ui/applications/shop/pipelines/release/start", headers=as_user("dev"))
    assert "<option selected>staging</option>" in form.text.replace("\n", "").replace("  ", "")
    csrf = api.cookies.get("gennaker_csrf")
    started = api.post(
        "/ui/applications/shop/pipelines/release/start",
        data={"csrf": csrf, "p.env": "prod"},
        headers=as_user("dev"),
        follow_redirects=False,
    )
    assert started.status_code == 303
    execution_id = started.headers["location"].rsplit("/", 1)[-1]
    execution = wait_status(runtime, execution_id, "RUNNING")
    assert execution["trigger"]["parameters"] == {"env": "prod"}
    detail = api.get(f"/ui/executions/{execution_id}", headers=as_user("dev"))
    assert "<svg" in detail.text and "Ship it?" in detail.text and "<option>ship</option>" in detail.text
    judgment = next(s for s in execution["stages"] if s["type"] == "manualJudgment")
    judged = api.post(
        f"/ui/executions/{execution_id}/stages/{judgment['id']}/judgment",
        data={"judgment": "continue", "input": "ship", "csrf": csrf},
        headers=as_user("dev"),
        follow_redirects=False,
    )
    assert judged.status_code == 303
    failed = wait_status(runtime, execution_id, "TERMINAL")
    assert failed["stages"][1]["context"]["judgmentInput"] == "ship"
    page = api.get(f"/ui/executions/{execution_id}", headers=as_user("dev")).text
    assert 'role="alert"><strong>Smoke</strong>: smoke test failed' in page


def test_without_execute_there_is_no_start_button_and_forcing_is_refused(api: TestClient) -> None:
    setup_app(api)
    page = api.get("/ui/applications/shop", headers=as_user("viewer"))
    assert page.status_code == 200 and "Start manual execution" not in page.text
    api.get("/ui/applications", headers=as_user("viewer"))
    csrf = api.cookies.get("gennaker_csrf")
    forced = api.post(
        "/ui/applications/shop/pipelines/release/start", data={"csrf": csrf, "p.env": "prod"}, headers=as_user("viewer")
    )
    assert forced.status_code == 403
    anonymous = api.get("/ui/applications", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/ui/login")


def test_bad_parameters_are_shown_next_to_the_field(api: TestClient) -> None:
    setup_app(api)
    api.get("/ui/applications/shop/pipelines/release/start", headers=ADMIN)
    csrf = api.cookies.get("gennaker_csrf")
    refused = api.post(
        "/ui/applications/shop/pipelines/release/start", data={"csrf": csrf, "p.env": "moon"}, headers=ADMIN
    )
    assert refused.status_code == 400
    assert 'class="error" role="alert">' in refused.text and "is not one of" in refused.text


def test_cancel_and_restart_from_the_execution_page(api: TestClient, runtime: Runtime) -> None:
    setup_app(api)
    execution_id = api.post("/pipelines/shop/release", json={"parameters": {"env": "prod"}}, headers=ADMIN).json()["id"]
    wait_status(runtime, execution_id, "RUNNING")
    page = api.get(f"/ui/executions/{execution_id}", headers=as_user("dev")).text
    assert "Cancel" in page and "Pause" in page
    csrf = api.cookies.get("gennaker_csrf")
    assert (
        api.post(f"/ui/executions/{execution_id}/cancel", data={"csrf": csrf}, headers=as_user("viewer")).status_code
        == 403
    )
    done = api.post(
        f"/ui/executions/{execution_id}/cancel", data={"csrf": csrf}, headers=as_user("dev"), follow_redirects=False
    )
    assert done.status_code == 303
    assert wait_status(runtime, execution_id, "CANCELED")["canceledBy"] == "dev"
    settle = next(s for s in stored_execution(runtime, execution_id)["stages"] if s["refId"] == "1")
    restarted = api.post(
        f"/ui/executions/{execution_id}/restart",
        data={"csrf": csrf, "stage": settle["id"]},
        headers=as_user("dev"),
        follow_redirects=False,
    )
    assert restarted.status_code == 303
    assert (
        wait_status(runtime, execution_id, "RUNNING")["stages"][0]["context"]["restartDetails"]["restartedBy"] == "dev"
    )


def test_expression_playground_against_a_past_execution(api: TestClient, runtime: Runtime) -> None:
    setup_app(api)
    execution_id = api.post("/pipelines/shop/release", json={"parameters": {"env": "prod"}}, headers=ADMIN).json()["id"]
    wait_status(runtime, execution_id, "RUNNING")
    page = api.get(
        "/ui/expressions",
        params={"execution": execution_id, "expression": "parameters.env.toUpperCase()"},
        headers=as_user("dev"),
    )
    assert '<pre id="result">"PROD"</pre>' in page.text
    staged = api.get(
        "/ui/expressions",
        params={"execution": execution_id, "stage": "Approve", "expression": "${instructions}"},
        headers=as_user("dev"),
    )
    assert "Ship it?" in staged.text
    refused = api.get(
        "/ui/expressions",
        params={"execution": execution_id, "expression": "1"},
        headers=as_user("nobody"),
        follow_redirects=False,
    )
    assert refused.status_code == 303


def test_the_application_stream_catches_up_then_sends_only_changed_rows(api: TestClient, runtime: Runtime) -> None:
    setup_app(api)
    execution_id = api.post("/pipelines/shop/release", json={"parameters": {"env": "prod"}}, headers=ADMIN).json()["id"]
    execution = wait_status(runtime, execution_id, "RUNNING")
    judgment = next(s for s in execution["stages"] if s["type"] == "manualJudgment")
    wait_for(lambda: stored_execution(runtime, execution_id)["stages"][1]["status"] == "RUNNING", what="the judgment")
    rows: list[str] = []
    event: list[str] = []
    with api.stream("GET", "/ui/applications/shop/stream", headers=ADMIN) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                event.append(line.removeprefix("data: "))
                continue
            if line or not event:
                continue
            rows.append("\n".join(event))  # a blank line ends an event
            event = []
            if len(rows) == 1:
                runtime.operations.judge(execution_id, judgment["id"], "continue", None, "admin")
            if "status terminal" in rows[-1]:
                break
    assert f'id="execution-{execution_id}"' in rows[0] and "RUNNING" in rows[0]  # the catch-up row
    assert all(f'id="execution-{execution_id}"' in row for row in rows)  # only the row that changed
