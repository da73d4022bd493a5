"""Pages for daily operation: an execution waiting for judgment says so at the top with its buttons, lists
show what triggered each execution and how long it took, and the applications page counts the executions
waiting for a judgment the signed-in user may give."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gennaker.model.summaries import trigger_summary
from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import execution, wait_for

JUDGED = {
    "application": "shop",
    "name": "judged",
    "stages": [{"refId": "1", "type": "manualJudgment", "name": "Approve", "judgmentInputs": [{"value": "ship"}]}],
}
PERMISSIONS = {"READ": ["dev", "viewer"], "WRITE": ["dev"], "EXECUTE": ["dev"]}


def waiting_execution(api: TestClient, runtime: Runtime) -> str:
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "shop", {"permissions": PERMISSIONS}, "admin")
    assert api.post("/pipelines", json=JUDGED, headers=as_user("dev")).status_code == 200
    started = api.post("/pipelines/shop/judged", json={"parameters": {}}, headers=as_user("dev")).json()
    execution_id = str(started["ref"]).rsplit("/", 1)[-1]
    wait_for(lambda: execution(runtime, execution_id)["stages"][0]["status"] == "RUNNING", what="the judgment")
    return execution_id


def test_an_execution_waiting_for_judgment_says_so_at_the_top(api: TestClient, runtime: Runtime) -> None:
    execution_id = waiting_execution(api, runtime)
    html = api.get(f"/ui/executions/{execution_id}", headers=as_user("dev")).text
    banner = html.index("Waiting for judgment")
    assert html.index('class="summary"') < banner < html.index('id="stage-1"')
    assert html.index('value="continue"') < html.index('id="stage-1"')  # the buttons are at the top
    assert "manual by dev" in html
    viewer = api.get(f"/ui/executions/{execution_id}", headers=as_user("viewer")).text
    assert "Waiting for judgment" in viewer and 'value="continue"' not in viewer


def test_rows_show_trigger_and_duration_and_applications_count_waiting(api: TestClient, runtime: Runtime) -> None:
    waiting_execution(api, runtime)
    application = api.get("/ui/applications/shop", headers=as_user("dev")).text
    assert "<th>Trigger</th><th>Duration</th>" in application
    assert "manual by dev · <strong>waiting for judgment</strong>" in application
    assert "1 waiting for judgment" in api.get("/ui/applications", headers=as_user("dev")).text
    assert "waiting for judgment" not in api.get("/ui/applications", headers=as_user("viewer")).text


def test_trigger_summaries() -> None:
    assert trigger_summary(None) == "manual"
    git = {"type": "git", "source": "github", "branch": "main", "hash": "0123456789abcdef", "user": "ci"}
    assert trigger_summary(git) == "git github main @0123456 by ci"
    assert trigger_summary({"type": "jenkins", "buildNumber": 42}) == "jenkins #42"
    assert trigger_summary({"type": "docker", "tag": "1.2"}) == "docker :1.2"
    child = {"type": "pipeline", "parentPipelineApplication": "shop", "parentPipelineName": "build", "user": "ann"}
    assert trigger_summary(child) == "pipeline from shop/build by ann"


def test_a_manual_start_can_act_as_a_trigger_with_artifacts_and_a_notification(
    api: TestClient, runtime: Runtime
) -> None:
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "shop", {"permissions": PERMISSIONS}, "admin")
    docker = {"type": "docker", "account": "hub", "repository": "shop/web", "tag": "", "runAsUser": "bot"}
    config = {
        "application": "shop",
        "name": "deploy",
        "triggers": [docker],
        "stages": [{"refId": "1", "type": "wait", "waitTime": 0}],
    }
    assert api.post("/pipelines", json=config, headers=as_user("dev")).status_code == 200
    form_page = api.get("/ui/applications/shop/pipelines/deploy/start", headers=as_user("dev")).text
    assert 'name="t.tag"' in form_page and 'name="notify"' in form_page
    artifacts = "- type: docker/image\n  name: shop/web\n  reference: shop/web:1.4\n"
    form = {"trigger": "0", "t.tag": "1.4", "artifacts": artifacts, "notify": "dev@example.com"}
    started = api.post(
        "/ui/applications/shop/pipelines/deploy/start", data=form, headers=as_user("dev"), follow_redirects=False
    )
    assert started.status_code == 303, started.text
    run = execution(runtime, started.headers["location"].rsplit("/", 1)[-1])
    assert (run["trigger"]["type"], run["trigger"]["tag"], run["trigger"]["user"]) == ("docker", "1.4", "dev")
    assert "runAsUser" not in run["trigger"] and run["authentication"]["user"] == "dev"
    assert run["trigger"]["artifacts"][0]["reference"] == "shop/web:1.4"
    assert run["notifications"][-1]["address"] == "dev@example.com"
    bad = api.post("/ui/applications/shop/pipelines/deploy/start", data={"notify": "nobody"}, headers=as_user("dev"))
    assert bad.status_code == 400 and "notify: must be an email address" in bad.text


def test_start_form_artifacts_are_read_within_budgets(api: TestClient, runtime: Runtime) -> None:
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "shop", {"permissions": PERMISSIONS}, "admin")
    config = {"application": "shop", "name": "p", "stages": [{"refId": "1", "type": "wait", "waitTime": 0}]}
    assert api.post("/pipelines", json=config, headers=as_user("dev")).status_code == 200
    # One artifact that passes the shape check and holds 9^9 strings once its aliases are expanded.
    levels = [f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    bomb = "\n".join(["- type: embedded/base64", "  a: &a [x, x, x, x, x, x, x, x, x]", *levels])
    refused = api.post("/ui/applications/shop/pipelines/p/start", data={"artifacts": bomb}, headers=as_user("dev"))
    assert refused.status_code == 400 and "artifacts" in refused.text
    with runtime.db.read() as conn:
        assert runtime.executions.list_json(conn, "shop") == []
