"""`gennaker canary config save/get/list/delete` on the local database and against a server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from fastapi import Request
from typer.testing import CliRunner

from gennaker.api.app import create_app
from gennaker.api.deps import Caller, Security
from gennaker.cli.main import app as cli
from gennaker.runtime import Runtime
from tests.api_support import CALLERS, by_role

CONFIG: dict[str, Any] = {
    "name": "latency",
    "description": "p99 latency of checkout",
    "applications": ["checkout"],
    "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
    "metrics": [
        {
            "name": "p99",
            "scopeName": "default",
            "query": {"type": "prometheus", "customInlineTemplate": "PromQL:histogram_quantile(0.99, latency)"},
            "analysisConfigurations": {"canary": {"direction": "increase"}},
        }
    ],
    "classifier": {"groupWeights": {}, "scoreThresholds": {"pass": 90, "marginal": 70}},
}


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def check_commands(runner: CliRunner, tmp_path: Path) -> None:
    """Save from JSON, save the next version from YAML, read, list and delete."""
    first = tmp_path / "latency.json"
    first.write_text(json.dumps(CONFIG))
    config_id = run(runner, "canary", "config", "save", "-f", str(first)).strip()
    stored = json.loads(run(runner, "canary", "config", "get", config_id))
    assert (stored["id"], stored["version"], stored["metrics"]) == (config_id, 1, CONFIG["metrics"])

    second = tmp_path / "latency.yaml"
    second.write_text(yaml.safe_dump({**stored, "description": "p99 and p50"}))
    assert run(runner, "canary", "config", "save", "-f", str(second)).strip() == config_id
    newest = json.loads(run(runner, "canary", "config", "get", config_id))
    assert (newest["version"], newest["description"]) == (2, "p99 and p50")

    table = run(runner, "canary", "config", "list", "--application", "checkout")
    assert config_id in table and "latency" in table
    assert config_id not in run(runner, "canary", "config", "list", "-a", "shop")
    [summary] = json.loads(run(runner, "canary", "config", "list", "-o", "json"))
    assert (summary["id"], summary["version"], summary["applications"]) == (config_id, 2, ["checkout"])

    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({**CONFIG, "name": "other", "applications": []}))
    refused = runner.invoke(cli, ["canary", "config", "save", "-f", str(invalid)])
    assert refused.exit_code == 1
    assert "invalid canary config: applications: must list at least one application" in refused.stderr

    run(runner, "canary", "config", "delete", config_id)
    missing = runner.invoke(cli, ["canary", "config", "get", config_id])
    assert missing.exit_code == 1 and f"canary config {config_id} not found" in missing.stderr
    assert runner.invoke(cli, ["canary", "config", "delete", config_id]).exit_code == 1


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_USER", "alice")
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("GENNAKER_DATABASE_URL", "GENNAKER_URL", "GENNAKER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_commands_on_the_local_database(local: CliRunner, tmp_path: Path) -> None:
    check_commands(local, tmp_path)


def by_bearer(request: Request) -> Caller | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return CALLERS.get("admin") if (scheme, token) == ("Bearer", "admin-token") else None


@pytest.fixture
def remote(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(runtime, Security(authenticate=by_bearer, application_allows=by_role))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "not-used"))
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    run(runner, "login", f"http://127.0.0.1:{port}", "--token", "admin-token")
    yield runner
    server.should_exit = True
    thread.join()


@pytest.mark.slow
def test_commands_against_a_server(remote: CliRunner, runtime: Runtime, tmp_path: Path) -> None:
    check_commands(remote, tmp_path)
    assert not (tmp_path / "not-used").exists()  # nothing was done on a local database
