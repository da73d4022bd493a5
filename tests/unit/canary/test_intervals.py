"""The kayentaCanary interval plan and score rules beyond the vectors (kayenta.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gennaker.canary.intervals import (
    IntervalPlanError,
    PlanMode,
    StageStatus,
    aggregate_final_score,
    interval_status,
    interval_warnings,
    order_run_scores,
    parse_duration,
    plan_intervals,
    request_thresholds,
)

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def scope(**extra: Any) -> dict[str, Any]:
    return {
        "scopeName": "default",
        "controlScope": "web-baseline",
        "controlLocation": "eu-1",
        "experimentScope": "web-canary",
        "experimentLocation": "eu-1",
        "extendedScopeParams": {"namespace": "prod"},
        **extra,
    }


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("PT1H", 60), ("PT90M", 90), ("P2D", 2880), ("PT1H30M", 90), ("pt30m", 30), ("PT45S", 0.75), ("P1DT1H", 1500)],
)
def test_iso_durations(text: str, minutes: float) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1X", "P1DT"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(IntervalPlanError):
        parse_duration(text)


def test_a_lifetime_or_an_end_time_is_required() -> None:
    with pytest.raises(IntervalPlanError, match="either `endTime` or `lifetimeDuration`"):
        plan_intervals({"scopes": [scope()]}, NOW)
    with pytest.raises(IntervalPlanError, match="at least one scope"):
        plan_intervals({"scopes": [], "lifetimeDuration": "PT1H"}, NOW)


def test_a_trailing_remainder_is_never_analysed() -> None:
    plan = plan_intervals({"scopes": [scope()], "lifetimeDuration": "PT130M", "canaryAnalysisIntervalMins": 60}, NOW)
    assert plan.mode is PlanMode.REALTIME
    assert [(r.experiment.start, r.experiment.end) for r in plan.runs] == [
        (NOW, NOW + timedelta(minutes=60)),
        (NOW, NOW + timedelta(minutes=120)),
    ]


def test_strings_from_deck_are_read_as_numbers_and_blank_as_absent() -> None:
    plan = plan_intervals(
        {
            "scopes": [scope(step="30")],
            "lifetimeHours": "2",
            "canaryAnalysisIntervalMins": "60",
            "beginCanaryAnalysisAfterMins": "",
            "lookbackMins": "0",
        },
        NOW,
    )
    assert len(plan.runs) == 2 and plan.warmup_wait_seconds is None
    assert all(r.step_seconds == 30 for r in plan.runs)


def test_sliding_windows_with_a_baseline_offset() -> None:
    plan = plan_intervals(
        {
            "scopes": [scope()],
            "lifetimeDuration": "PT3H",
            "canaryAnalysisIntervalMins": 60,
            "lookbackMins": 30,
            "baselineAnalysisOffsetInMins": 15,
            "beginCanaryAnalysisAfterMins": 10,
        },
        NOW,
    )
    run = plan.runs[1]
    assert (run.experiment.start, run.experiment.end) == (NOW + timedelta(minutes=100), NOW + timedelta(minutes=130))
    assert (run.control.start, run.control.end) == (NOW + timedelta(minutes=85), NOW + timedelta(minutes=115))
    assert (run.name, run.wait_name, run.wait_seconds) == ("Run Canary #2", "Interval Wait #2", 3600)


def test_each_run_carries_kayenta_scopes_for_every_configured_scope() -> None:
    second = scope(scopeName="secondary", controlScope="api-baseline", experimentScope="api-canary")
    plan = plan_intervals(
        {"scopes": [scope(startTimeIso="2024-05-01T08:00:00Z", endTimeIso="2024-05-01T09:00:00Z"), second]},
        NOW,
    )
    assert plan.mode is PlanMode.RETROSPECTIVE
    run = plan.runs[0]
    assert run.wait_seconds is None
    assert run.scopes["default"]["controlScope"] == {
        "scope": "web-baseline",
        "location": "eu-1",
        "start": "2024-05-01T08:00:00Z",
        "end": "2024-05-01T09:00:00Z",
        "step": 60,
        "extendedScopeParams": {"namespace": "prod"},
    }
    assert run.scopes["secondary"]["experimentScope"]["scope"] == "api-canary"
    assert run.scopes["secondary"]["experimentScope"]["start"] == "2024-05-01T08:00:00Z"


def test_the_stage_list_for_a_real_time_plan_with_warm_up() -> None:
    plan = plan_intervals(
        {
            "scopes": [scope()],
            "lifetimeDuration": "PT2H",
            "canaryAnalysisIntervalMins": 60,
            "beginCanaryAnalysisAfterMins": 5,
        },
        NOW,
    )
    assert [(s["type"], s["name"]) for s in plan.stages()] == [
        ("wait", "Warmup Wait"),
        ("wait", "Interval Wait #1"),
        ("runCanary", "Run Canary #1"),
        ("wait", "Interval Wait #2"),
        ("runCanary", "Run Canary #2"),
    ]
    assert plan.stages()[0]["context"] == {"waitTime": 300}


def test_a_retrospective_end_before_the_start_is_refused() -> None:
    with pytest.raises(IntervalPlanError, match="at least one minute"):
        plan_intervals({"scopes": [scope(startTimeIso="2024-05-01T08:00:00Z", endTimeIso="2024-05-01T08:00:30Z")]}, NOW)


def test_a_retrospective_plan_without_a_start_counts_from_now() -> None:
    plan = plan_intervals({"scopes": [scope(endTimeIso="2024-05-01T12:00:00Z")]}, NOW)
    assert plan.lifetime_minutes == 120 and plan.runs[0].experiment.start == NOW


def test_each_interval_must_beat_marginal() -> None:
    thresholds = {"pass": 90, "marginal": 60}
    assert interval_status(60.0, thresholds) == (
        StageStatus.TERMINAL,
        "Canary score is not above the marginal score threshold.",
    )
    assert interval_status(60.0, thresholds, continue_pipeline=True)[0] is StageStatus.FAILED_CONTINUE
    # Above marginal is enough for an intermediate interval, even below pass.
    assert interval_status(60.01, thresholds) == (StageStatus.SUCCEEDED, None)


def test_the_last_score_decides_the_stage() -> None:
    thresholds = {"pass": 90, "marginal": 60}
    assert aggregate_final_score([95.0, 61.0, 90.0], thresholds).status is StageStatus.SUCCEEDED
    assert aggregate_final_score([95.0, 95.0, 89.99], thresholds).status is StageStatus.TERMINAL
    result = aggregate_final_score([95.0, 60.0], thresholds)
    assert result.status is StageStatus.TERMINAL and "not above the marginal" in result.message
    assert aggregate_final_score([], thresholds).status is StageStatus.TERMINAL


def test_run_scores_are_ordered_by_run_number() -> None:
    runs = [("Run Canary #10", 10.0), ("Run Canary #2", 2.0), ("Run Canary #1", 1.0)]
    assert order_run_scores(runs) == [1.0, 2.0, 10.0]
    with pytest.raises(ValueError):
        order_run_scores([("Interval Wait", 1.0)])


def test_request_thresholds_default_to_75_and_50() -> None:
    assert request_thresholds({}) == {"pass": 75.0, "marginal": 50.0}
    assert request_thresholds({"scoreThresholds": {"pass": 90, "marginal": "70"}}) == {"pass": 90.0, "marginal": 70.0}


def test_fewer_than_50_control_points_warn() -> None:
    few = {"results": [{"controlMetadata": {"stats": {"count": 49}}}, {"controlMetadata": {"stats": {"count": 80}}}]}
    enough = {"results": [{"controlMetadata": {"stats": {"count": 50}}}]}
    assert len(interval_warnings(few)) == 1 and "fewer than 50 data points" in interval_warnings(few)[0]
    assert interval_warnings(enough) == []
    assert interval_warnings(few, datadog=True) == []
