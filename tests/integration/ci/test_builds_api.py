"""Gate's build routes for the pipeline editor (echo-igor.md §3.4) and `gennaker account list`, against the
Jenkins emulator: masters filtered by READ permission, jobs with folders, a job's parameters, builds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.api.app import create_app
from gennaker.cli.local import LocalBackend
from gennaker.cli.main import app as cli
from gennaker.cli.remote import RemoteBackend
from gennaker.runtime import Runtime
from tests.api_support import as_user, header_security
from tests.emulators.jenkins import BuildPlan, JenkinsEmulator, choice_param, string_param
from tests.integration.ci.conftest import SECRET, USER, closed_port
from tests.support import make_runtime

ADMIN, DEV, VIEWER = as_user("admin"), as_user("dev"), as_user("viewer")


def masters_config(address: str) -> dict[str, Any]:
    credentials = {"address": address, "username": USER, "password": SECRET}
    return {
        "ci": {
            "jenkins": {
                "masters": [
                    {"name": "ci", **credentials, "permissions": {"READ": ["dev"], "WRITE": ["dev"]}},
                    {"name": "open", **credentials},
                    {"name": "ops-only", **credentials, "permissions": {"READ": ["ops"]}},
                    {"name": "down", "address": f"http://127.0.0.1:{closed_port()}"},
                ]
            }
        },
        "outbound": {"allowNetworks": ["127.0.0.0/8"]},
    }


@pytest.fixture
def jenkins() -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(username=USER, password=SECRET) as emulator:
        emulator.add_job(
            "app",
            parameters=[string_param("BRANCH", "main", "branch to build"), choice_param("ENV", ["dev", "prod"])],
            plan=BuildPlan(artifacts={"build.properties": b"A=1\n"}),
        )
        emulator.add_job("team/job/deploy")
        emulator.add_job("team/job/nested/job/tool")
        yield emulator


@pytest.fixture
def rt(tmp_path: Path, jenkins: JenkinsEmulator) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path, config=masters_config(jenkins.url))
    yield runtime
    runtime.close()


@pytest.fixture
def api(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, header_security())) as client:
        yield client


def test_masters_are_listed_by_read_permission(api: TestClient) -> None:
    assert api.get("/v3/builds", headers=ADMIN).json() == ["ci", "open", "ops-only", "down"]
    assert api.get("/v3/builds", headers=DEV).json() == ["ci", "open", "down"]
    assert api.get("/v2/builds", headers=VIEWER).json() == ["open", "down"]
    assert api.get("/v3/builds", params={"type": "jenkins"}, headers=DEV).json() == ["ci", "open", "down"]
    assert api.get("/v3/builds", params={"type": "travis"}, headers=ADMIN).json() == []
    assert api.get("/v3/builds").status_code == 401


def test_jobs_and_a_jobs_parameters(api: TestClient, jenkins: JenkinsEmulator) -> None:
    for path in ("/v3/builds/ci/jobs", "/v2/builds/ci/jobs"):
        assert api.get(path, headers=DEV).json() == ["app", "team/job/deploy", "team/job/nested/job/tool"]
    by_path = api.get("/v3/builds/ci/job/app", headers=DEV)
    by_query = api.get("/v3/builds/ci/job", params={"job": "app"}, headers=DEV)
    assert by_path.status_code == 200 and by_path.json() == by_query.json()
    config = by_path.json()
    assert config["name"] == "app" and config["buildable"] is True and config["url"] == f"{jenkins.url}/job/app/"
    assert [(p["name"], p["type"], p["defaultValue"]) for p in config["parameterDefinitionList"]] == [
        ("BRANCH", "StringParameterDefinition", "main"),
        ("ENV", "ChoiceParameterDefinition", "dev"),
    ]
    assert config["parameterDefinitionList"][1]["choices"] == ["dev", "prod"]
    assert api.get("/v3/builds/ci/job/team/job/deploy", headers=DEV).json()["parameterDefinitionList"] == []
    assert api.get("/v2/builds/ci/jobs/team/job/nested/job/tool", headers=DEV).json()["name"] == "tool"


def test_unreadable_unknown_and_unreachable_masters(api: TestClient) -> None:
    for who, path in ((VIEWER, "/v3/builds/ci/jobs"), (DEV, "/v3/builds/ops-only/jobs"), (ADMIN, "/v3/builds/x/jobs")):
        refused = api.get(path, headers=who)
        assert refused.status_code == 404
        assert refused.json()["message"] == f"Build master '{path.split('/')[3]}' not found"
    missing = api.get("/v3/builds/ci/job/nope", headers=DEV)
    assert missing.status_code == 404 and missing.json()["message"] == "Job 'nope' not found on Jenkins master 'ci'"
    down = api.get("/v3/builds/down/jobs", headers=ADMIN)
    assert down.status_code == 502 and "Jenkins master 'down' at http://127.0.0.1:" in down.json()["message"]
    assert api.get("/v3/builds/ci/job", headers=DEV).status_code == 400  # no ?job=
    assert api.get("/v3/builds/ci/job/a/../b", headers=DEV).status_code in (400, 404)


def test_builds_of_a_job_and_one_build(api: TestClient, jenkins: JenkinsEmulator) -> None:
    with httpx.Client(auth=(USER, SECRET)) as client:
        started = client.post(f"{jenkins.url}/job/app/buildWithParameters", params={"BRANCH": "dev"})
        assert started.status_code == 201
    listed = api.get("/v3/builds/ci/builds", params={"job": "app"}, headers=DEV).json()
    assert [(b["number"], b["result"]) for b in listed] == [(1, "SUCCESS")]
    one = api.get("/v3/builds/ci/build/1", params={"job": "app"}, headers=DEV).json()
    assert one["url"] == f"{jenkins.url}/job/app/1/" and one["artifacts"][0]["fileName"] == "build.properties"
    assert api.get("/v3/builds/ci/build/9", params={"job": "app"}, headers=DEV).status_code == 404


def test_no_secret_in_any_answer(api: TestClient) -> None:
    for path in ("/v3/builds", "/v3/builds/ci/jobs", "/v3/builds/ci/job/app", "/v3/builds/down/jobs", "/credentials"):
        assert SECRET not in api.get(path, headers=ADMIN).text


def test_account_list_shows_jenkins_masters_without_secrets(
    rt: Runtime, api: TestClient, jenkins: JenkinsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(rt.settings, "me")
    local = backend.accounts()
    backend.close()
    assert [(a["name"], a["type"]) for a in local] == [
        ("ci", "jenkins"),
        ("open", "jenkins"),
        ("ops-only", "jenkins"),
        ("down", "jenkins"),
    ]
    assert local[0]["address"] == jenkins.url and SECRET not in json.dumps(local) and USER not in json.dumps(local)

    def forward(request: httpx.Request) -> httpx.Response:
        answer = api.request(request.method, request.url.raw_path.decode(), headers=DEV)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    remote = RemoteBackend("http://gennaker.test", "unused", transport=httpx.MockTransport(forward))
    assert [(a["name"], a["type"]) for a in remote.accounts()] == [
        ("ci", "jenkins"),
        ("open", "jenkins"),
        ("down", "jenkins"),
    ]

    config = tmp_path / "gennaker.yaml"
    config.write_text(yaml.safe_dump(masters_config(jenkins.url)))
    monkeypatch.setenv("GENNAKER_CONFIG", str(config))
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "session"))
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    table = CliRunner().invoke(cli, ["account", "list"])
    assert table.exit_code == 0, table.output
    assert "ops-only" in table.stdout and "jenkins" in table.stdout and jenkins.url in table.stdout
    assert SECRET not in table.stdout
