"""The kayentaCanary stage on the engine, with a scripted metrics source (the real Prometheus runs in
tests/integration/canary): interval plan, per-interval gate, final verdict, stored judgments, failures, cancel."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from gennaker.canary.metrics_source import MetricsSourceError
from gennaker.runtime import Runtime
from gennaker.stages.canary import CanaryAccess, add_canary_stages
from gennaker.store.canary import CanaryStore
from tests.canary_support import CONFIG, Script, ScriptedSource, degraded_from, healthy
from tests.support import execution, make_runtime, pipeline, wait_for, wait_status


@pytest.fixture
def canary(tmp_path: Path) -> Callable[..., tuple[Runtime, ScriptedSource, str]]:
    runtimes: list[Runtime] = []

    def build(script: Script, *, permissions: Mapping[str, Any] | None = None, **access: Any) -> Any:
        rt = make_runtime(tmp_path, engine={"manifest_poll_ms": 50})
        runtimes.append(rt)
        source = ScriptedSource(script, permissions)
        store = CanaryStore()
        add_canary_stages(rt.registry, CanaryAccess(rt.db, store, source, **access))
        with rt.db.transaction() as conn:
            config_id = store.save_config(conn, dict(CONFIG), "alice", 0)["id"]
        rt.start_workers(1)
        return rt, source, config_id

    yield build
    for rt in runtimes:
        rt.stop_workers()
        rt.close()


def canary_stage(config_id: str, *, minutes: int = 3, **extra: Any) -> dict[str, Any]:
    canary_config = {
        "canaryConfigId": config_id,
        "canaryAnalysisIntervalMins": 1,
        "scopes": [
            {
                "scopeName": "default",
                "controlScope": "checkout-baseline",
                "experimentScope": "checkout-canary",
                "startTimeIso": "2026-12-01T10:00:00Z",
                "endTimeIso": f"2026-12-01T10:{minutes:02d}:00Z",
                "step": 1,
            }
        ],
        "scoreThresholds": {"pass": "75", "marginal": "50"},
        **extra.pop("canary_config", {}),
    }
    return {"refId": "1", "type": "kayentaCanary", "name": "Canary", "canaryConfig": canary_config, **extra}


def run(rt: Runtime, stages: list[dict[str, Any]], *statuses: str) -> dict[str, Any]:
    rt.save_pipeline(pipeline("canary", stages), "alice")
    execution_id = rt.start_pipeline("demo", "canary", {"type": "manual", "user": "alice"}, "alice")
    return wait_status(rt, execution_id, *statuses, timeout=30)


def stage_named(found: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in found["stages"] if s["name"] == name)


def judgments(rt: Runtime, execution_id: str) -> list[dict[str, Any]]:
    with rt.db.read() as conn:
        return CanaryStore().judgments(conn, execution_id)


def test_a_good_canary_passes_every_interval_and_stores_each_judgment(canary: Any) -> None:
    rt, source, config_id = canary(healthy)
    found = run(rt, [canary_stage(config_id)], "SUCCEEDED", "TERMINAL")
    assert found["status"] == "SUCCEEDED"
    stage = stage_named(found, "Canary")
    assert stage["outputs"]["canaryScores"] == [100.0, 100.0, 100.0]
    assert "met or exceeded the pass score threshold" in stage["outputs"]["canaryScoreMessage"]
    assert stage["outputs"]["reportUrl"] == f"/ui/executions/{found['id']}/canary/{stage['id']}"
    names = [s["name"] for s in found["stages"] if s.get("parentStageId")]
    assert names == ["runCanaryIntervals", "Run Canary #1", "Run Canary #2", "Run Canary #3"]  # retrospective
    # Growing windows from the scope's start, one minute more per run (kayenta.md §3.2).
    ends = [s["default"]["experimentScope"]["end"] for s in source.fetched]
    assert ends == ["2026-12-01T10:01:00Z", "2026-12-01T10:02:00Z", "2026-12-01T10:03:00Z"]
    stored = judgments(rt, found["id"])
    assert [j["runNumber"] for j in stored] == [1, 2, 3]
    first = stored[0]
    assert first["status"] == "SUCCEEDED" and first["score"] == 100.0
    assert [r["classification"] for r in first["result"]["results"]] == ["Pass", "Pass"]
    assert len(first["metricSetPairs"][0]["values"]["control"]) == 60
    assert first["config"]["name"] == "checkout" and first["thresholds"] == {"pass": 75.0, "marginal": 50.0}
    assert [j["id"] for j in stage["outputs"]["canaryJudgments"]] == [j["id"] for j in stored]


def test_a_bad_interval_fails_the_canary_at_once(canary: Any) -> None:
    rt, source, config_id = canary(degraded_from(2))
    found = run(rt, [canary_stage(config_id)], "SUCCEEDED", "TERMINAL")
    assert found["status"] == "TERMINAL"
    second = stage_named(found, "Run Canary #2")
    assert second["status"] == "TERMINAL"
    assert second["context"]["canaryScore"] == 0.0
    assert "not above the marginal score threshold" in second["context"]["exception"]["details"]["error"]
    assert stage_named(found, "Run Canary #3")["status"] == "NOT_STARTED"
    assert len(source.fetched) == 2
    stored = judgments(rt, found["id"])
    assert [r["classification"] for r in stored[1]["result"]["results"]] == ["High", "High"]


def test_no_data_for_a_must_have_data_metric_lowers_the_score(canary: Any) -> None:
    def no_errors(run: int, side: str, metric: str) -> list[float]:
        return [] if metric == "errors" else healthy(run, side, metric)

    rt, _, config_id = canary(no_errors)
    stage = canary_stage(config_id, minutes=1, canary_config={"scoreThresholds": {"pass": 75, "marginal": 40}})
    found = run(rt, [stage], "SUCCEEDED", "TERMINAL")
    assert stage_named(found, "Canary")["outputs"]["canaryScores"] == [50.0]
    results = judgments(rt, found["id"])[0]["result"]["results"]
    assert [r["classification"] for r in results] == ["Pass", "NodataFailMetric"]


def test_continue_pipeline_lets_the_pipeline_go_on(canary: Any) -> None:
    rt, _, config_id = canary(degraded_from(1))
    stages = [
        canary_stage(config_id, continuePipeline=True),
        {"refId": "2", "requisiteStageRefIds": ["1"], "type": "wait", "name": "After", "waitTime": 0},
    ]
    found = run(rt, stages, "SUCCEEDED", "TERMINAL")
    assert stage_named(found, "Canary")["status"] == "FAILED_CONTINUE"
    assert stage_named(found, "After")["status"] == "SUCCEEDED"


def test_the_last_score_must_reach_pass(canary: Any) -> None:
    rt, _, config_id = canary(degraded_from(2, metrics=("errors",)))
    stage = canary_stage(config_id, minutes=2, canary_config={"scoreThresholds": {"pass": 75, "marginal": 40}})
    found = run(rt, [stage], "SUCCEEDED", "TERMINAL")
    canary_result = stage_named(found, "Canary")
    assert canary_result["status"] == "TERMINAL"
    assert canary_result["outputs"]["canaryScores"] == [100.0, 50.0]  # above marginal, below pass
    assert "below the pass score threshold" in canary_result["context"]["exception"]["details"]["error"]


def test_a_config_name_is_resolved_within_the_application(canary: Any) -> None:
    rt, _, _ = canary(healthy)
    stage = canary_stage("", minutes=1, canary_config={"canaryConfigId": None, "canaryConfigName": "checkout"})
    found = run(rt, [stage], "SUCCEEDED", "TERMINAL")
    assert found["status"] == "SUCCEEDED"
    assert stage_named(found, "Run Canary #1")["context"]["canaryConfigId"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"canaryConfigId": "missing"}, "canary config 'missing' does not exist"),
        ({"metricsAccountName": "elsewhere"}, "metrics account 'elsewhere' is not configured"),
        ({"lifetimeDuration": "soon", "scopes": [{"controlScope": "a", "experimentScope": "b"}]}, "soon"),
    ],
)
def test_bad_configuration_fails_the_stage_with_its_reason(canary: Any, change: dict[str, Any], reason: str) -> None:
    rt, _, config_id = canary(healthy)
    found = run(rt, [canary_stage(config_id, canary_config=change)], "SUCCEEDED", "TERMINAL")
    assert found["status"] == "TERMINAL"
    errors = [s["context"]["exception"]["details"]["error"] for s in found["stages"] if s["context"].get("exception")]
    assert any(reason in error for error in errors), errors


def test_a_config_not_shared_with_the_application_is_refused(canary: Any) -> None:
    rt, _, _ = canary(healthy)
    store = CanaryStore()
    with rt.db.transaction() as conn:
        other = store.save_config(conn, {**CONFIG, "name": "other", "applications": ["billing"]}, "bob", 0)["id"]
    found = run(rt, [canary_stage(other, minutes=1)], "SUCCEEDED", "TERMINAL")
    error = stage_named(found, "Run Canary #1")["context"]["exception"]["details"]["error"]
    assert "is not shared with application 'demo'" in error


def test_metrics_the_source_rejects_fail_the_interval_and_the_report_says_why(canary: Any) -> None:
    def rejected(run: int, side: str, metric: str) -> list[float]:
        raise MetricsSourceError("Prometheus account 'prometheus' rejected the query `latency{`: parse error", False)

    rt, _, config_id = canary(rejected)
    found = run(rt, [canary_stage(config_id)], "SUCCEEDED", "TERMINAL")
    first = stage_named(found, "Run Canary #1")
    assert "rejected the query" in first["context"]["exception"]["details"]["error"]
    stored = judgments(rt, found["id"])
    assert stored[0]["status"] == "TERMINAL" and "parse error" in stored[0]["error"]


def test_a_source_that_is_down_is_retried_then_fails_the_interval(canary: Any) -> None:
    calls: list[int] = []

    def down(run: int, side: str, metric: str) -> list[float]:
        calls.append(run)
        raise MetricsSourceError("Prometheus account 'prometheus' at http://127.0.0.1:9 is unreachable", True)

    # The window counts from the task's start: wide enough that a loaded machine still fits a few attempts.
    rt, _, config_id = canary(down, retry_limit_ms=3000, retry_backoff_ms=100)
    found = run(rt, [canary_stage(config_id)], "SUCCEEDED", "TERMINAL")
    assert len(calls) >= 3  # retried before giving up
    error = stage_named(found, "Run Canary #1")["context"]["exception"]["details"]["error"]
    assert "unreachable" in error


def test_a_source_that_comes_back_is_judged(canary: Any) -> None:
    def flaky(run: int, side: str, metric: str) -> list[float]:
        if run < 3:
            raise MetricsSourceError("Prometheus account 'prometheus' answered 503", True)
        return healthy(run, side, metric)

    rt, _, config_id = canary(flaky, retry_backoff_ms=20)
    found = run(rt, [canary_stage(config_id, minutes=1)], "SUCCEEDED", "TERMINAL")
    assert found["status"] == "SUCCEEDED"


def test_the_metrics_account_needs_read_permission(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, enforce_permissions=True)
    try:
        store = CanaryStore()
        denied = ScriptedSource(healthy, {"READ": ["canary-team"]})
        add_canary_stages(
            rt.registry,
            CanaryAccess(rt.db, store, denied, account_check=lambda user, perms, what: user in perms.get(what, [])),
        )
        with rt.db.transaction() as conn:
            rt.applications.save(
                conn,
                "demo",
                {
                    "email": "a@example.com",
                    "permissions": {"READ": ["alice"], "WRITE": ["alice"], "EXECUTE": ["alice"]},
                },
                "alice",
            )
            config_id = store.save_config(conn, dict(CONFIG), "alice", 0)["id"]
        rt.start_workers(1)
        found = run(rt, [canary_stage(config_id, minutes=1)], "SUCCEEDED", "TERMINAL")
        error = stage_named(found, "Run Canary #1")["context"]["exception"]["details"]["error"]
        assert "alice lacks READ permission on metrics account 'prometheus'" in error
        assert denied.fetched == []
    finally:
        rt.stop_workers()
        rt.close()


def test_cancelling_a_real_time_canary_stops_it_before_the_next_judgment(canary: Any) -> None:
    rt, source, config_id = canary(healthy)
    stage = canary_stage(config_id)
    stage["canaryConfig"]["scopes"][0].pop("startTimeIso")
    stage["canaryConfig"]["scopes"][0].pop("endTimeIso")
    stage["canaryConfig"]["lifetimeDuration"] = "PT2M"
    rt.save_pipeline(pipeline("canary", [stage]), "alice")
    execution_id = rt.start_pipeline("demo", "canary", {"type": "manual", "user": "alice"}, "alice")
    wait_for(
        lambda: any(
            s["name"] == "Interval Wait #1" and s["status"] == "RUNNING" for s in execution(rt, execution_id)["stages"]
        ),
        what="the first interval wait",
    )
    rt.operations.cancel(execution_id, "alice", "enough")
    found = wait_status(rt, execution_id, "CANCELED")
    assert stage_named(found, "Canary")["status"] == "CANCELED"
    assert source.fetched == []
    assert [s["name"] for s in found["stages"] if s["parentStageId"]][1:] == [
        "Interval Wait #1",
        "Run Canary #1",
        "Interval Wait #2",
        "Run Canary #2",
    ]
