"""The canary report pages: a kayentaCanary stage's runs against its thresholds, and one judgment with each
metric's classification, reason, statistics and an SVG chart of its baseline and canary series."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from gennaker.stages.canary import CanaryAccess, add_canary_stages
from gennaker.ui.charts import score_chart, series_chart
from tests.api_support import as_user
from tests.canary_support import CONFIG, ScriptedSource, degraded_from
from tests.support import wait_status

PERMISSIONS = {"READ": ["dev", "viewer"], "WRITE": ["dev"], "EXECUTE": ["dev"]}


def judged_canary(api: TestClient, runtime: Runtime) -> dict[str, Any]:
    add_canary_stages(
        runtime.registry, CanaryAccess(runtime.db, runtime.canary, ScriptedSource(degraded_from(2, ("errors",))))
    )
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "demo", {"permissions": PERMISSIONS}, "admin")
    created = api.post("/v2/canaryConfig", json=CONFIG, headers=as_user("dev"))
    assert created.status_code == 200, created.text
    stage = {
        "refId": "1",
        "type": "kayentaCanary",
        "name": "Canary",
        "canaryConfig": {
            "canaryConfigId": created.json()["canaryConfigId"],
            "canaryAnalysisIntervalMins": 1,
            "scopes": [
                {
                    "controlScope": "web-baseline",
                    "experimentScope": "web-canary",
                    "startTimeIso": "2026-12-01T10:00:00Z",
                    "endTimeIso": "2026-12-01T10:02:00Z",
                    "step": 1,
                }
            ],
            "scoreThresholds": {"pass": 75, "marginal": 40},
        },
    }
    pipeline = {"application": "demo", "name": "canary", "stages": [stage]}
    assert api.post("/pipelines", json=pipeline, headers=as_user("dev")).status_code == 200
    started = api.post("/pipelines/demo/canary", json={}, headers=as_user("dev")).json()
    return wait_status(runtime, str(started["ref"]).rsplit("/", 1)[-1], "SUCCEEDED", "TERMINAL", timeout=30)


def test_the_stage_report_lists_runs_and_the_judgment_shows_each_metric(api: TestClient, runtime: Runtime) -> None:
    found = judged_canary(api, runtime)
    assert found["status"] == "TERMINAL"  # the last score (50) is below pass (75)
    stage = next(s for s in found["stages"] if s["type"] == "kayentaCanary")
    page = api.get(f"/ui/executions/{found['id']}", headers=as_user("viewer")).text
    report_url = f"/ui/executions/{found['id']}/canary/{stage['id']}"
    assert report_url in page and "canary judgment run #2: 50.0" in page

    report = api.get(report_url, headers=as_user("viewer")).text
    assert "<svg" in report and "Scores per run" in report
    assert re.findall(r"<td>#(\d)</td>", report) == ["1", "2"]
    assert "below the pass score threshold" in report
    links = re.findall(r'href="(/ui/canary/[^"]+)"', report)
    assert len(links) == 2

    judgment = api.get(links[1], headers=as_user("viewer")).text
    assert "50.0 · Marginal" in judgment
    assert judgment.count('<svg class="chart"') == 2  # one chart per metric
    assert 'class="status terminal">High' in judgment and 'class="status succeeded">Pass' in judgment
    assert "web-baseline" in judgment and "web-canary" in judgment
    assert api.get(links[1].replace("/ui/canary/", "/v2/canary/"), headers=as_user("viewer")).status_code == 200


def test_reports_need_read_on_the_application(api: TestClient, runtime: Runtime) -> None:
    found = judged_canary(api, runtime)
    stage = next(s for s in found["stages"] if s["type"] == "kayentaCanary")
    with runtime.db.transaction() as conn:
        runtime.applications.save(conn, "demo", {"permissions": {**PERMISSIONS, "READ": ["dev"]}}, "admin")
    report = api.get(f"/ui/executions/{found['id']}/canary/{stage['id']}", headers=as_user("viewer"))
    assert report.status_code in (403, 404)
    judgment_id = stage["outputs"]["canaryJudgments"][0]["id"]
    assert api.get(f"/ui/canary/{judgment_id}", headers=as_user("viewer")).status_code in (403, 404)
    assert api.get(f"/ui/canary/{judgment_id}", headers=as_user("dev")).status_code == 200
    assert api.get("/ui/canary/no-such-judgment", headers=as_user("dev")).status_code == 404


def test_series_chart_leaves_gaps_for_missing_points_and_says_when_there_is_no_data() -> None:
    chart = str(series_chart("latency", [1, 2, "NaN", 4, 5], [2, 3, 4, 5, 6]))
    paths = re.findall(r'<path d="([^"]+)"', chart)
    assert len(paths) == 2
    assert paths[0].count("M") == 2  # the baseline's line breaks at the missing point
    assert paths[1].count("M") == 1 and paths[1].count("L") == 4
    assert "no data" in str(series_chart("errors", ["NaN"], []))
    assert "<script" not in chart and "&lt;x&gt;" in str(series_chart("<x>", [1], [1]))


def test_score_chart_draws_thresholds_and_one_point_per_run() -> None:
    chart = str(score_chart("scores", [100.0, 50.0], 40, 75))
    assert chart.count("<circle") == 2
    assert chart.count("stroke-dasharray") == 2
    assert "stroke-dasharray" not in str(score_chart("scores", [100.0], None, None))
