"""An execution's identity is decided by the server; ids and names are bound to their application."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gennaker.auth.service import AuthService
from gennaker.cli.common import runtime
from gennaker.providers.kubernetes.provider import AccountDenied
from tests.security.conftest import Server
from tests.support import execution, wait_status


def save(server: Server, user: str, config: dict[str, Any]) -> Any:
    return server.client.post("/pipelines", json=config, headers=server.headers(user))


def stored(server: Server, application: str, name: str) -> dict[str, Any]:
    with server.rt.db.read() as conn:
        config = server.rt.pipelines.get_by_name(conn, application, name)
    assert config is not None
    return config


def webhook_pipeline(run_as: str) -> dict[str, Any]:
    return {
        "application": "mine",
        "name": "hooked",
        "triggers": [{"type": "webhook", "source": "build", "runAsUser": run_as}],
        "stages": [{"refId": "1", "type": "wait", "waitTime": 0}],
    }


def test_run_as_user_in_a_request_body_is_refused(server: Server) -> None:
    assert save(server, "alice", {"application": "mine", "name": "p", "stages": []}).status_code == 200
    for body in ({"runAsUser": "admin"}, {"trigger": {"type": "manual", "runAsUser": "admin"}}):
        answer = server.client.post("/pipelines/mine/p", json=body, headers=server.headers("alice"))
        assert answer.status_code == 400 and "runAsUser" in answer.json()["message"]
    with server.rt.db.read() as conn:
        assert server.rt.executions.list_json(conn, "mine") == []


def test_a_saved_trigger_may_only_run_as_a_user_the_saver_may_act_as(server: Server) -> None:
    for run_as in ("admin", "ops-bot", "bob"):
        refused = save(server, "alice", webhook_pipeline(run_as))
        assert refused.status_code == 400
        assert refused.json()["details"][0]["field"] == "triggers[0].runAsUser"
    assert save(server, "alice", webhook_pipeline("ci-bot")).status_code == 200  # its roles are alice's own
    fired = server.client.post("/webhooks/webhook/build", json={}, headers=server.headers("alice")).json()
    execution_id = fired["executions"][0].removeprefix("/pipelines/")
    assert execution(server.rt, execution_id)["authentication"]["user"] == "ci-bot"


def test_a_stored_trigger_naming_an_admin_does_not_run_as_the_admin(server: Server) -> None:
    """A config stored before the check (or edited in the database) is checked again when it fires."""
    config = {**webhook_pipeline("admin"), "id": "old-hook"}
    with server.rt.db.transaction() as conn:
        server.rt.pipelines.save(conn, config, "alice")
    fired = server.client.post("/webhooks/webhook/build", json={}, headers=server.headers("alice")).json()
    assert fired["executions"] == []
    assert "runAsUser admin is refused" in fired["skipped"][0]["reason"]


def test_a_pipeline_stage_needs_execute_on_the_child_application(server: Server) -> None:
    assert save(server, "bob", {"application": "theirs", "name": "child", "stages": []}).status_code == 200
    child_id = stored(server, "theirs", "child")["id"]
    parent = {
        "application": "mine",
        "name": "parent",
        "stages": [{"refId": "1", "type": "pipeline", "application": "theirs", "pipeline": child_id}],
    }
    assert save(server, "alice", parent).status_code == 200
    started = server.client.post("/pipelines/mine/parent", json={}, headers=server.headers("alice")).json()
    done = wait_status(server.rt, started["id"], "TERMINAL")
    assert "alice lacks EXECUTE permission on application 'theirs'" in str(done["stages"][0]["context"]["exception"])
    with server.rt.db.read() as conn:
        assert server.rt.executions.list_json(conn, "theirs") == []


def test_finding_artifacts_needs_read_on_the_other_application(server: Server) -> None:
    assert save(server, "bob", {"application": "theirs", "name": "build", "stages": []}).status_code == 200
    finder = {
        "application": "mine",
        "name": "finder",
        "stages": [
            {
                "refId": "1",
                "type": "findArtifactFromExecution",
                "application": "theirs",
                "pipeline": stored(server, "theirs", "build")["id"],
                "executionOptions": {"successful": True},
                "expectedArtifacts": [{"id": "a", "matchArtifact": {"type": "docker/image"}}],
            }
        ],
    }
    assert save(server, "alice", finder).status_code == 200
    started = server.client.post("/pipelines/mine/finder", json={}, headers=server.headers("alice")).json()
    done = wait_status(server.rt, started["id"], "TERMINAL")
    assert "alice lacks READ permission on application 'theirs'" in str(done["stages"][0]["context"]["exception"])


def test_expression_lookups_see_only_applications_the_user_may_read(server: Server) -> None:
    assert save(server, "bob", {"application": "theirs", "name": "secret", "stages": []}).status_code == 200
    probe = {
        "application": "mine",
        "name": "probe",
        "stages": [
            {
                "refId": "1",
                "type": "evaluateVariables",
                "variables": [
                    {"key": "own", "value": "${#applicationMetadata('mine') != null}"},
                    {"key": "other", "value": "${#applicationMetadata('theirs') == null}"},
                    {"key": "otherPipeline", "value": "${#pipelineIdInApplication('secret', 'theirs') == null}"},
                ],
            }
        ],
    }
    assert save(server, "alice", probe).status_code == 200
    started = server.client.post("/pipelines/mine/probe", json={}, headers=server.headers("alice")).json()
    outputs = wait_status(server.rt, started["id"], "SUCCEEDED")["stages"][0]["outputs"]

    assert (outputs["own"], outputs["other"], outputs["otherPipeline"]) == (True, True, True)


def test_a_pipeline_id_of_another_application_cannot_be_taken_over(server: Server) -> None:
    assert save(server, "bob", {"application": "theirs", "name": "secret", "stages": []}).status_code == 200
    victim = stored(server, "theirs", "secret")
    taken = save(server, "alice", {"application": "mine", "name": "mine-now", "id": victim["id"], "stages": []})
    assert taken.status_code == 400 and taken.json()["details"][0]["field"] == "id"
    assert stored(server, "theirs", "secret") == victim
    history = server.client.get(f"/pipelineConfigs/{victim['id']}/history", headers=server.headers("alice"))
    assert history.status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("application", "bad\u0000name"),
        ("application", "trailing "),
        ("application", "-dash"),
        ("application", "x" * 64),
        ("name", "nul\u0000"),
        ("name", "trailing "),
        ("name", "-leading"),
        ("name", "a/b"),
    ],
)
def test_names_outside_the_rules_are_refused(server: Server, field: str, value: str) -> None:
    config = {"application": "mine", "name": "ok", "stages": [], field: value}
    answer = save(server, "admin", config)
    assert answer.status_code == 400 and answer.json()["details"][0]["field"] == field
    with server.rt.db.read() as conn:
        assert {a["name"] for a in server.rt.applications.all(conn)} == {"mine", "theirs"}


def test_the_worker_process_checks_account_write_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The account check belongs to the runtime every server role builds, so `gennaker worker` enforces it as
    `gennaker up` does."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    account = {"name": "prod", "kubeconfigFile": str(kubeconfig), "permissions": {"WRITE": ["ops"]}}
    config = tmp_path / "gennaker.yaml"
    config.write_text(json.dumps({"providers": {"kubernetes": {"accounts": [account]}}}))
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_CONFIG", str(config))
    rt = runtime(serving=True)
    try:
        AuthService(rt.db).add_user("alice", None, ["dev"])
        AuthService(rt.db).add_user("bob", None, ["ops"])
        with pytest.raises(AccountDenied, match="alice lacks WRITE permission on account 'prod'"):
            rt.kubernetes.require_write("alice", "prod")
        rt.kubernetes.require_write("bob", "prod")
    finally:
        rt.close()
