"""The `gennaker` command in the exact forms scripts rely on (issue 2, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gennaker.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "hello.json"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GENNAKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("GENNAKER_USER", "alice")
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_application_commands(cli: CliRunner) -> None:
    run(cli, "application", "save", "Shop", "--email", "team@example.com")
    assert json.loads(run(cli, "application", "get", "shop"))["email"] == "team@example.com"
    assert "shop" in run(cli, "application", "list")
    run(cli, "application", "delete", "shop")
    missing = cli.invoke(app, ["application", "get", "shop"])
    assert missing.exit_code == 1
    assert "application 'shop' not found" in missing.stderr


def test_a_first_read_on_a_new_machine_makes_the_database(cli: CliRunner, tmp_path: Path) -> None:
    assert not (tmp_path / "data").exists()
    assert "NAME" in run(cli, "application", "list")
    assert (tmp_path / "data").is_dir()


def test_pipeline_save_from_yaml_creates_the_application_and_keeps_history(cli: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("application: yamlapp\nname: deploy\nstages:\n  - {refId: '1', type: wait, waitTime: 1}\n")
    run(cli, "pipeline", "save", "-f", str(file))
    file.write_text("application: yamlapp\nname: deploy\nstages:\n  - {refId: '1', type: wait, waitTime: 5}\n")
    run(cli, "pipeline", "save", "-f", str(file))
    assert json.loads(run(cli, "application", "get", "yamlapp"))["name"] == "yamlapp"
    versions = json.loads(run(cli, "pipeline", "history", "yamlapp", "deploy", "-o", "json"))
    assert [v["version"] for v in versions] == [2, 1]
    run(cli, "pipeline", "restore", "yamlapp", "deploy", "1")
    assert json.loads(run(cli, "pipeline", "get", "yamlapp", "deploy"))["stages"][0]["waitTime"] == 1
    run(cli, "pipeline", "delete", "yamlapp", "deploy")
    assert cli.invoke(app, ["pipeline", "get", "yamlapp", "deploy"]).exit_code == 1


def test_invalid_pipeline_is_refused_with_the_field(cli: CliRunner, tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"application": "a", "name": "b", "stages": [{"refId": "1", "type": "nope"}]}))
    result = cli.invoke(app, ["pipeline", "save", "-f", str(file)])
    assert result.exit_code == 1
    assert "stages[0].type: unknown stage type 'nope' (not a Spinnaker stage;" in result.stderr


def test_execute_wait_judge_and_inspect(cli: CliRunner) -> None:
    run(cli, "pipeline", "save", "-f", str(EXAMPLE))
    output = run(cli, "pipeline", "execute", "demo", "hello", "-p", "environment=production", "--wait", "-o", "json")
    execution = json.loads(output)
    assert execution["trigger"]["parameters"] == {"environment": "production"}
    assert {s["refId"]: s["status"] for s in execution["stages"]}["2"] == "RUNNING"
    execution_id = execution["id"]
    run(cli, "execution", "judge", execution_id, "Approve", "--judgment", "continue", "--input", "ship")
    listed = json.loads(run(cli, "execution", "list", "demo", "--status", "RUNNING", "-o", "json"))
    assert [e["id"] for e in listed] == [execution_id]


def test_execute_prints_the_id_and_reports_bad_parameters(cli: CliRunner) -> None:
    run(cli, "pipeline", "save", "-f", str(EXAMPLE))
    execution_id = run(cli, "pipeline", "execute", "demo", "hello").strip()
    assert len(execution_id) == 26
    detail = json.loads(run(cli, "execution", "get", execution_id, "-o", "json"))
    assert detail["status"] == "NOT_STARTED" and detail["stages"][0]["name"] == "Settle"
    run(cli, "execution", "cancel", execution_id)
    bad = cli.invoke(app, ["pipeline", "execute", "demo", "hello", "-p", "environment=moon"])
    assert bad.exit_code == 1
    assert "parameters.environment" in bad.stderr
    malformed = cli.invoke(app, ["pipeline", "execute", "demo", "hello", "-p", "novalue"])
    assert malformed.exit_code == 1 and "KEY=VALUE" in malformed.stderr


def test_operations_on_unknown_execution_fail_with_one_line(cli: CliRunner) -> None:
    for command in (["execution", "pause", "X"], ["execution", "restart", "X", "1"], ["execution", "get", "X"]):
        result = cli.invoke(app, command)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
