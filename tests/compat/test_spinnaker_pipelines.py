"""Pipelines in the shapes Deck and `spin` save: each is saved, read back unchanged, and run where no cloud is
needed. What Gennaker stores but cannot act on is named in `warnings`; a type Spinnaker does not define is
refused unless the caller asks to import anyway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gennaker.cli.main import app
from gennaker.runtime import Runtime
from tests.api_support import as_user
from tests.support import execution, wait_for, wait_status

PIPELINES = Path(__file__).parent / "pipelines"
# Keys the server owns: it assigns or replaces them on every save.
SERVER_KEYS = {"id", "updateTs", "lastModifiedBy", "createTs"}
VM_CLOUD = "needs a VM cloud provider"
PERMISSIONS = ("READ", "WRITE", "EXECUTE")


@pytest.fixture(autouse=True)
def application(runtime: Runtime) -> None:
    """The corpus's application, which the `dev` role may read, write and execute."""
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "compat", {"permissions": {r: ["dev"] for r in PERMISSIONS}}, "admin")


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PIPELINES / f"{name}.json").read_text())
    return loaded


def save(api: TestClient, config: dict[str, Any], **params: str) -> Any:
    return api.post("/pipelines", json=config, params=params, headers=as_user("dev"))


def start(api: TestClient, config: dict[str, Any]) -> str:
    answer = api.post(f"/pipelines/{config['application']}/{config['name']}", json={}, headers=as_user("dev"))
    assert answer.status_code in (200, 202), answer.text
    return str(answer.json()["ref"].rsplit("/", 1)[-1])


# name -> the warning paths its save answers with
EXPECTED_WARNINGS: dict[str, list[str]] = {
    "deck_wait_and_judgment": [],
    "spin_minimal": [],
    "preconditions_both_forms": [],
    "stage_enabled_forms": [],
    "evaluate_variables": [],
    "execution_window": [],
    "fail_options": [],
    "kubernetes_run_job": [],
    "kubernetes_deploy": [],
    "helm_bake": [],
    "classic_aws_deploy": ["stages[0].type", "stages[1].type"],
    "ci_and_notifications": [],
}


def test_the_corpus_is_covered() -> None:
    assert {p.stem for p in PIPELINES.glob("*.json")} == set(EXPECTED_WARNINGS) | {"plugin_stage"}


@pytest.mark.parametrize("name", sorted(EXPECTED_WARNINGS))
def test_saves_with_exactly_the_expected_warnings_and_reads_back_unchanged(api: TestClient, name: str) -> None:
    config = load(name)
    answer = save(api, config)
    assert answer.status_code == 200, answer.text
    assert [w["path"] for w in answer.json()["warnings"]] == EXPECTED_WARNINGS[name]
    assert all(w["reason"] for w in answer.json()["warnings"])
    stored = api.get(f"/applications/compat/pipelineConfigs/{config['name']}", headers=as_user("dev")).json()
    assert {k: v for k, v in stored.items() if k not in SERVER_KEYS} == {
        k: v for k, v in config.items() if k not in SERVER_KEYS
    }


# name -> (execution status, {refId: stage status}) for the pipelines that need no cloud
RUNS: dict[str, tuple[str, dict[str, str]]] = {
    "spin_minimal": ("SUCCEEDED", {"1": "SUCCEEDED", "2": "SUCCEEDED"}),
    "preconditions_both_forms": ("SUCCEEDED", {"1": "SUCCEEDED"}),
    "stage_enabled_forms": ("SUCCEEDED", {"1": "SUCCEEDED", "2": "SUCCEEDED", "3": "SKIPPED"}),
    "evaluate_variables": ("SUCCEEDED", {"1": "SUCCEEDED", "2": "SUCCEEDED"}),
    "execution_window": ("SUCCEEDED", {"1": "SUCCEEDED"}),
    "fail_options": ("SUCCEEDED", {"1": "FAILED_CONTINUE", "2": "SUCCEEDED"}),
    "classic_aws_deploy": ("TERMINAL", {"1": "TERMINAL", "2": "NOT_STARTED"}),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_runs_to_the_expected_status(api: TestClient, runtime: Runtime, name: str) -> None:
    config = load(name)
    assert save(api, config).status_code == 200
    status, stages = RUNS[name]
    done = wait_status(runtime, start(api, config), status)
    assert {s["refId"]: s["status"] for s in done["stages"] if s.get("parentStageId") is None} == stages


def test_a_stage_gennaker_cannot_run_fails_naming_what_is_missing(api: TestClient, runtime: Runtime) -> None:
    config = load("classic_aws_deploy")
    save(api, config)
    done = wait_status(runtime, start(api, config), "TERMINAL")
    bake = next(s for s in done["stages"] if s["refId"] == "1")
    assert "stage type 'bake' " + VM_CLOUD in json.dumps(bake["context"]["exception"])


def test_a_judgment_pipeline_waits_for_the_judgment(api: TestClient, runtime: Runtime) -> None:
    config = load("deck_wait_and_judgment")
    save(api, config)
    execution_id = start(api, config)
    wait_for(
        lambda: any(s["refId"] == "2" and s["status"] == "RUNNING" for s in execution(runtime, execution_id)["stages"]),
        what="the judgment stage to wait",
    )
    judgment = next(s for s in execution(runtime, execution_id)["stages"] if s["refId"] == "2")
    answer = api.patch(
        f"/pipelines/{execution_id}/stages/{judgment['id']}",
        json={"judgmentStatus": "continue", "judgmentInput": "Yes"},
        headers=as_user("dev"),
    )
    assert answer.status_code == 200, answer.text
    assert wait_status(runtime, execution_id, "SUCCEEDED")["stages"][1]["context"]["judgmentInput"] == "Yes"


def test_deck_aliases_resolve_to_the_stage_that_runs_them(runtime: Runtime) -> None:
    assert runtime.registry.runs("runJobManifest", "runJob")
    assert runtime.registry.runs("runJobManifest")
    assert runtime.registry.runs("findArtifactsFromResource")
    assert not runtime.registry.runs("acme.randomWait")


def test_a_type_spinnaker_does_not_define_is_refused_unless_imported_anyway(api: TestClient, runtime: Runtime) -> None:
    config = load("plugin_stage")
    refused = save(api, config)
    assert refused.status_code == 400
    assert refused.json()["details"][0]["field"] == "stages[0].type"
    assert "allowUnknown" in refused.json()["details"][0]["problem"]
    kept = save(api, config, allowUnknown="true")
    assert kept.status_code == 200
    [warning] = kept.json()["warnings"]
    assert warning["path"] == "stages[0].type" and "unknown stage type 'acme.randomWait'" in warning["reason"]
    done = wait_status(runtime, start(api, config), "TERMINAL")
    assert "unknown stage type 'acme.randomWait'" in json.dumps(done["stages"][0]["context"]["exception"])


def test_importing_a_folder_reports_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENNAKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GENNAKER_USER", "alice")
    for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    exported = tmp_path / "exported"
    exported.mkdir()
    for name in ("spin_minimal", "classic_aws_deploy", "plugin_stage"):
        (exported / f"{name}.json").write_text((PIPELINES / f"{name}.json").read_text())
    (exported / "broken.json").write_text("{not json")
    result = CliRunner().invoke(app, ["pipeline", "save", "-f", str(exported)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("spin_minimal.json: saved pipeline compat/spin minimal (") for line in lines)
    assert any(line.startswith("classic_aws_deploy.json: saved") and "with 2 warnings" in line for line in lines)
    assert any("warning stages[1].type: stage type 'deploy' " + VM_CLOUD in line for line in lines)
    assert any(line.startswith("refused plugin_stage.json: invalid pipeline: stages[0].type") for line in lines)
    assert any(line.startswith("refused broken.json: ") for line in lines)
    assert "2 of 4 files refused" in result.stderr
    kept = CliRunner().invoke(app, ["pipeline", "save", "-f", str(exported / "plugin_stage.json"), "--allow-unknown"])
    assert kept.exit_code == 0 and "with 1 warning\n" in kept.stdout
