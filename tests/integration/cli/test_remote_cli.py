"""`gennaker login URL --token T`, then every command works against the server (issue 4, item 7)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import Request
from typer.testing import CliRunner

from gennaker.api.app import create_app
from gennaker.api.deps import Caller, Security
from gennaker.cli.main import app as cli
from gennaker.runtime import Runtime
from tests.api_support import CALLERS, by_role

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "hello.json"
TOKENS = {"admin-token": "admin", "dev-token": "dev"}


def by_bearer(request: Request) -> Caller | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return CALLERS.get(TOKENS.get(token, "")) if scheme == "Bearer" else None


@pytest.fixture
def server(runtime: Runtime) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(runtime, Security(authenticate=by_bearer, application_allows=by_role))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join()


@pytest.fixture
def remote(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "not-used"))
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["login", server, "--token", "wrong"])
    assert refused.exit_code == 1 and "login to" in refused.stderr
    logged_in = runner.invoke(cli, ["login", server, "--token", "admin-token"])
    assert logged_in.exit_code == 0, logged_in.output
    assert "as admin" in logged_in.stdout
    return runner


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.slow
def test_every_command_works_against_the_server(remote: CliRunner, runtime: Runtime, tmp_path: Path) -> None:
    run(remote, "application", "save", "demo", "--email", "team@example.com")
    assert json.loads(run(remote, "application", "get", "demo"))["email"] == "team@example.com"
    run(remote, "pipeline", "save", "-f", str(EXAMPLE))
    assert "hello" in run(remote, "pipeline", "list", "demo")
    output = run(remote, "pipeline", "execute", "demo", "hello", "-p", "environment=production", "--wait", "-o", "json")
    execution = json.loads(output)
    assert {s["refId"]: s["status"] for s in execution["stages"]}["2"] == "RUNNING"
    run(remote, "execution", "judge", execution["id"], "2", "--judgment", "continue", "--input", "ship")
    deadline = time.monotonic() + 15
    while json.loads(run(remote, "execution", "get", execution["id"], "-o", "json"))["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.1)
    listed = json.loads(run(remote, "execution", "list", "demo", "-o", "json"))
    assert [e["id"] for e in listed] == [execution["id"]]
    with runtime.db.read() as conn:  # the server's own database holds what the CLI did
        assert runtime.pipelines.get_by_name(conn, "demo", "hello") is not None
    versions = json.loads(run(remote, "pipeline", "history", "demo", "hello", "-o", "json"))
    assert [v["version"] for v in versions] == [1]
    run(remote, "pipeline", "restore", "demo", "hello", "1")
    bad = remote.invoke(cli, ["execution", "pause", execution["id"]])
    assert bad.exit_code == 1 and "PAUSED" not in bad.stdout and bad.stderr.startswith("error:")
    run(remote, "pipeline", "delete", "demo", "hello")
    run(remote, "application", "delete", "demo")
    assert "logged out" in run(remote, "logout")
