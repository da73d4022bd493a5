"""`gennaker expr eval` in the forms issue 3 names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gennaker.cli.main import app
from tests.support import DATA_DIR


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("GENNAKER_DATABASE_URL", raising=False)
    return CliRunner()


def test_template_with_a_context_file(cli: CliRunner, tmp_path: Path) -> None:
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"trigger": {"parameters": {"env": "prod"}}, "n": 2}))
    result = cli.invoke(app, ["expr", "eval", "${parameters.env == 'prod' ? n * 3 : 0}", "--context", str(context)])
    assert result.exit_code == 0 and json.loads(result.stdout) == 6
    failed = cli.invoke(app, ["expr", "eval", "${T(java.lang.System).exit(1)}"])
    assert failed.exit_code == 1 and "not allowed" in failed.stderr


def test_cases_file_in_the_conformance_shape(cli: CliRunner) -> None:
    cases = DATA_DIR / "spel_vectors.json"
    result = cli.invoke(app, ["expr", "eval", "--cases", str(cases)])
    assert result.exit_code == 0
    answers = json.loads(result.stdout)
    expected = json.loads(cases.read_text())
    assert len(answers) == len(expected)
    for answer, case in zip(answers, expected, strict=True):
        assert ("error" in answer) == (case["expected"] == "ERROR"), case["expression"]


def test_against_a_stored_execution_and_stage(cli: CliRunner, tmp_path: Path) -> None:
    pipeline = tmp_path / "p.json"
    pipeline.write_text(
        json.dumps(
            {
                "application": "demo",
                "name": "p",
                "stages": [{"refId": "1", "type": "wait", "name": "Pause", "waitTime": 7}],
            }
        )
    )
    cli.invoke(app, ["pipeline", "save", "-f", str(pipeline)])
    execution_id = cli.invoke(app, ["pipeline", "execute", "demo", "p"]).stdout.strip()
    by_execution = cli.invoke(app, ["expr", "eval", "${execution.name}", "--execution", execution_id])
    assert json.loads(by_execution.stdout) == "p"
    by_stage = cli.invoke(app, ["expr", "eval", "${waitTime + 1}", "--execution", execution_id, "--stage", "Pause"])
    assert json.loads(by_stage.stdout) == 8
