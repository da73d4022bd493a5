"""Git triggers from real commits: a local bare repository receives a push, and the payload its GitHub or
GitLab hook would send starts the pipelines whose trigger matches, signed with the trigger's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.cli.main import app
from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import execution

SECRET = "hook-secret-do-not-log"
PERMISSIONS = {"READ": ["dev"], "WRITE": ["dev"], "EXECUTE": ["dev"]}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def pushed(tmp_path: Path) -> dict[str, Any]:
    """A commit adding deploy/app.yaml pushed to main of a bare repository acme/api; what GitHub would send."""
    bare = tmp_path / "acme" / "api.git"
    bare.mkdir(parents=True)
    git(bare, "init", "--bare", "--quiet", "--initial-branch=main")
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / "deploy").mkdir()
    (work / "deploy" / "app.yaml").write_text("kind: ConfigMap\n")
    git(work, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "add", ".")
    git(work, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "--quiet", "-m", "deploy")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    sha = git(bare, "rev-parse", "main")
    added = git(work, "show", "--name-only", "--format=", sha).splitlines()
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": sha,
        "repository": {
            "name": "api",
            "full_name": "acme/api",
            "owner": {"name": "acme", "login": "acme"},
            "contents_url": "https://api.github.com/repos/acme/api/contents/{+path}",
        },
        "commits": [{"id": sha, "added": added, "modified": [], "removed": []}],
    }


def signed(body: bytes, secret: str = SECRET, delivery: str = "d-1") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": f"sha256={digest}"}


def save(api: TestClient, runtime: Runtime, name: str, **trigger: Any) -> None:
    with runtime.db.transaction() as conn:
        if runtime.applications.get(conn, "shop") is None:
            runtime.applications.save(conn, "shop", {"permissions": PERMISSIONS}, "admin")
    git_trigger = {"type": "git", "source": "github", "project": "acme", "slug": "api", **trigger}
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    config = {"application": "shop", "name": name, "triggers": [git_trigger], "stages": stages}
    assert api.post("/pipelines", json=config, headers=as_user("dev")).status_code == 200


def post(api: TestClient, payload: dict[str, Any], headers: dict[str, str], source: str = "github") -> Any:
    body = json.dumps(payload).encode()
    answer = api.post(f"/webhooks/git/{source}", content=body, headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_signed_push_starts_the_matching_pipeline_with_the_commit(
    api: TestClient, runtime: Runtime, pushed: dict[str, Any]
) -> None:
    save(api, runtime, "deploy", branch="main|release-.*", secret=SECRET)
    save(api, runtime, "other-branch", branch="develop", secret=SECRET)
    body = json.dumps(pushed).encode()
    answer = post(api, pushed, signed(body))
    [ref] = answer["executions"]
    trigger = execution(runtime, ref.removeprefix("/pipelines/"))["trigger"]
    assert (trigger["hash"], trigger["branch"], trigger["project"], trigger["slug"]) == (
        pushed["after"],
        "main",
        "acme",
        "api",
    )
    assert trigger["action"] == "push:push" and "secret" not in trigger
    assert trigger["artifacts"] == [
        {
            "type": "github/file",
            "name": "deploy/app.yaml",
            "version": pushed["after"],
            "reference": "https://api.github.com/repos/acme/api/contents/deploy/app.yaml",
        }
    ]
    assert post(api, pushed, signed(body))["executions"] == []  # the same delivery again starts nothing


def test_bad_or_missing_signatures_start_nothing_and_the_secret_is_not_logged(
    api: TestClient, runtime: Runtime, pushed: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    save(api, runtime, "deploy", secret=SECRET)
    body = json.dumps(pushed).encode()
    with caplog.at_level(logging.WARNING, logger="gennaker.triggers"):
        forged = post(api, pushed, signed(body, secret="guessed", delivery="d-2"))
        unsigned = post(api, pushed, {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-3"})
    assert forged["executions"] == [] and forged["skipped"][0]["reason"] == "the signature does not match"
    assert unsigned["skipped"][0]["reason"] == "the trigger has a secret and the event is not signed"
    assert "not accepted" in caplog.text and SECRET not in caplog.text


def test_a_trigger_without_a_secret_fires_only_for_a_signed_in_caller_with_execute(
    api: TestClient, runtime: Runtime, pushed: dict[str, Any]
) -> None:
    save(api, runtime, "deploy")
    anonymous = post(api, pushed, {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-4"})
    assert anonymous["executions"] == [] and "not signed" in anonymous["skipped"][0]["reason"]
    by_dev = post(api, pushed, {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-5", **as_user("dev")})
    [ref] = by_dev["executions"]
    assert execution(runtime, ref.removeprefix("/pipelines/"))["authentication"]["user"] == "dev"


def test_gitlab_pushes_carry_the_token_and_pings_are_not_events(
    api: TestClient, runtime: Runtime, pushed: dict[str, Any]
) -> None:
    save(api, runtime, "from-gitlab", source="gitlab", secret=SECRET)
    gitlab = {
        "object_kind": "push",
        "after": pushed["after"],
        "ref": "refs/heads/main",
        "project": {
            "name": "api",
            "namespace": "acme",
            "path_with_namespace": "acme/api",
            "homepage": "https://gitlab.example/acme/api",
        },
        "commits": [{"added": ["deploy/app.yaml"], "modified": []}],
    }
    wrong = post(api, gitlab, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, "gitlab")
    assert wrong["executions"] == [] and wrong["skipped"][0]["reason"] == "X-Gitlab-Token does not match"
    right = post(api, gitlab, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}, "gitlab")
    [ref] = right["executions"]
    [artifact] = execution(runtime, ref.removeprefix("/pipelines/"))["trigger"]["artifacts"]
    assert artifact["reference"] == (
        "https://gitlab.example/api/v4/projects/acme%2Fapi/repository/files/deploy%2Fapp.yaml/raw"
    )
    assert post(api, {"zen": "hi", "hook_id": 1, "repository": {}}, {"X-GitHub-Event": "ping"}) == {
        "eventProcessed": False,
        "executions": [],
        "skipped": [],
    }


def test_malformed_payloads_and_unknown_sources_are_refused(api: TestClient) -> None:
    assert api.post("/webhooks/git/github", content=b"{not json").status_code == 400
    answer = api.post("/webhooks/git/svn", json={})
    assert answer.status_code == 400 and "unknown git source 'svn'" in answer.json()["message"]


def test_trigger_test_dry_runs_an_event(
    api: TestClient, runtime: Runtime, pushed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(api, runtime, "deploy", branch="main", secret=SECRET)
    event = tmp_path / "push.json"
    event.write_bytes(json.dumps(pushed).encode())
    signature = signed(event.read_bytes())["X-Hub-Signature-256"]
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GENNAKER_DATABASE_URL", runtime.settings.database_url)
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)

    def dry_run(*extra: str) -> str:
        result = CliRunner().invoke(
            app, ["trigger", "test", "shop", "deploy", "--type", "git", "-f", str(event), *extra]
        )
        assert result.exit_code == 0, result.output
        return result.stdout

    assert dry_run("-H", f"X-Hub-Signature-256: {signature}").strip() == "triggers[0] (git): would start the pipeline"
    assert "would not start it: the trigger has a secret and the event is not signed" in dry_run()
    with runtime.db.read() as conn:
        assert runtime.executions.list_json(conn, "shop") == []  # a dry run starts nothing
