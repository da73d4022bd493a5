"""The whole NetflixACAJudge-v1.0 judgement: preprocessing, per-metric results, scoring (kayenta.md §2)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from gennaker.canary.classifier import CanaryConfigError, MetricAnalysis
from gennaker.canary.judge import JUDGE_NAME, judge, judge_name_for, prepare_side
from gennaker.canary.metric_sets import MetricSetPair

NAN = math.nan
BASE = [10.0, 11.0, 9.5, 10.5, 10.2, 9.8, 10.1, 10.4, 9.9, 10.3] * 6
THRESHOLDS = {"pass": 95, "marginal": 75}


def metric(name: str, group: str = "g", **canary: Any) -> dict[str, Any]:
    return {
        "name": name,
        "groups": [group],
        "scopeName": "default",
        "query": {"type": "prometheus", "metricName": name, "resourceType": "aws_ec2_instance"},
        "analysisConfigurations": {"canary": canary},
    }


def config(*metrics: dict[str, Any], weights: dict[str, float] | None = None) -> dict[str, Any]:
    return {
        "name": "test",
        "judge": {"name": JUDGE_NAME, "judgeConfigurations": {}},
        "metrics": list(metrics),
        "classifier": {"groupWeights": weights or {}},
    }


def pair(name: str, control: list[float], experiment: list[float]) -> MetricSetPair:
    return MetricSetPair(
        name=name, id=f"id-{name}", tags={"pod": "x"}, control=tuple(control), experiment=tuple(experiment)
    )


def by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in result["results"]}


def test_a_healthy_canary_passes_with_the_result_shape() -> None:
    result = judge(config(metric("cpu")), [pair("cpu", BASE, BASE[::-1])], THRESHOLDS, rng=random.Random(1))
    assert result["judgeName"] == "NetflixACAJudge-v1.0"
    assert result["score"] == {"score": 100.0, "classification": "Pass", "classificationReason": ""}
    assert result["groupScores"] == [{"name": "g", "score": 100.0, "classification": "", "classificationReason": ""}]
    cpu = result["results"][0]
    assert cpu["classification"] == "Pass" and cpu["id"] == "id-cpu" and cpu["tags"] == {"pod": "x"}
    assert cpu["groups"] == ["g"] and cpu["critical"] is False and cpu["muted"] is False
    assert cpu["controlMetadata"]["stats"]["count"] == 60
    assert cpu["experimentMetadata"]["stats"]["mean"] == pytest.approx(sum(BASE) / 60)
    assert cpu["resultMetadata"]["ratio"] == pytest.approx(1.0)


def test_an_all_nan_series_is_nodata_with_remove_and_zeros_with_replace() -> None:
    pairs = [pair("errors", [NAN] * 5, [NAN] * 5)]
    removed = judge(config(metric("errors")), pairs, THRESHOLDS)
    assert by_name(removed)["errors"]["classification"] == "Nodata"
    assert removed["score"]["score"] == 0.0  # one metric, all of it Nodata
    replaced = judge(config(metric("errors", nanStrategy="replace")), pairs, THRESHOLDS)
    assert by_name(replaced)["errors"]["classification"] == "Pass"
    assert by_name(replaced)["errors"]["experimentMetadata"]["stats"]["count"] == 5


def test_replace_turns_missing_error_counts_into_zeros_that_can_fail() -> None:
    control = [NAN] * 60
    experiment = [NAN if i % 3 == 0 else 5.0 + i % 2 for i in range(60)]
    result = judge(
        config(metric("errors", nanStrategy="replace", direction="increase")),
        [pair("errors", control, experiment)],
        THRESHOLDS,
    )
    assert by_name(result)["errors"]["classification"] == "High"
    assert result["score"]["score"] == 0.0 and result["score"]["classification"] == "Fail"
    # Sparse errors (a third of the points) pass: the location shift is zero (upstream weak spot, kayenta#426).
    sparse = [NAN if i % 3 else 5.0 for i in range(60)]
    result = judge(config(metric("errors", nanStrategy="replace")), [pair("errors", control, sparse)], THRESHOLDS)
    assert by_name(result)["errors"]["classification"] == "Pass"


def test_a_critical_metric_fails_the_whole_judgement() -> None:
    cfg = config(metric("latency", critical=True), metric("cpu"), metric("mem"), metric("disk"))
    pairs = [
        pair("latency", BASE, [v * 3 for v in BASE]),
        pair("cpu", BASE, BASE[::-1]),
        pair("mem", BASE, BASE[::-1]),
        pair("disk", BASE, BASE[::-1]),
    ]
    result = judge(cfg, pairs, THRESHOLDS)
    latency = by_name(result)["latency"]
    assert (latency["classification"], latency["critical"]) == ("High", True)
    assert result["score"]["score"] == 0.0
    assert result["score"]["classificationReason"].startswith("Canary Failed: latency was classified as High")
    assert result["groupScores"][0]["score"] == 75.0  # the group itself still reports 3 of 4


def test_must_have_data_makes_missing_data_a_failure() -> None:
    cfg = config(metric("cpu"), metric("mem", mustHaveData=True), metric("disk"))
    pairs = [pair("cpu", BASE, BASE[::-1]), pair("mem", BASE, []), pair("disk", BASE, BASE[::-1])]
    result = judge(cfg, pairs, THRESHOLDS)
    assert by_name(result)["mem"]["classification"] == "NodataFailMetric"
    assert result["score"]["score"] == pytest.approx(66.67)
    assert result["score"]["classification"] == "Fail"
    without = judge(config(metric("cpu"), metric("mem"), metric("disk")), pairs, THRESHOLDS)
    assert by_name(without)["mem"]["classification"] == "Nodata"
    assert without["score"]["score"] == 100.0


def test_group_weights_decide_the_summary() -> None:
    cfg = config(metric("errors", "errors"), metric("cpu", "system"), weights={"errors": 80, "system": 20})
    pairs = [pair("errors", BASE, BASE[::-1]), pair("cpu", BASE, [v * 2 for v in BASE])]
    result = judge(cfg, pairs, THRESHOLDS)
    assert result["score"]["score"] == 80.0
    assert result["score"]["classification"] == "Marginal"


def test_an_exception_is_an_error_label_outside_scoring_even_for_a_critical_metric() -> None:
    cfg = config(metric("cpu"), metric("weird", critical=True))
    pairs = [pair("cpu", BASE, BASE[::-1]), pair("weird", [1.0, 2.0, 3.0], [math.inf, 2.0, 5.0])]
    result = judge(cfg, pairs, THRESHOLDS)
    weird = by_name(result)["weird"]
    assert weird["classification"] == "Error"
    assert weird["classificationReason"] == "Metric Classification Failed"
    assert weird["critical"] is False
    assert "finite" in weird["resultMetadata"]["error"]
    assert weird["experimentMetadata"]["stats"]["max"] == "Infinity"
    assert result["score"]["score"] == 100.0


def test_muted_metrics_are_reported_but_not_scored() -> None:
    cfg = config(metric("cpu"), metric("noisy", muted=True, critical=True))
    pairs = [pair("cpu", BASE, BASE[::-1]), pair("noisy", BASE, [v * 3 for v in BASE])]
    result = judge(cfg, pairs, THRESHOLDS)
    assert by_name(result)["noisy"]["classification"] == "High" and by_name(result)["noisy"]["muted"] is True
    assert result["score"]["score"] == 100.0


def test_outlier_removal_runs_per_side_before_the_statistics() -> None:
    spiky = [*BASE, 10_000.0]
    kept = judge(config(metric("cpu")), [pair("cpu", BASE, spiky)], THRESHOLDS)
    removed = judge(config(metric("cpu", outliers={"strategy": "remove"})), [pair("cpu", BASE, spiky)], THRESHOLDS)
    assert by_name(kept)["cpu"]["experimentMetadata"]["stats"]["count"] == 61
    assert by_name(removed)["cpu"]["experimentMetadata"]["stats"]["count"] == 60
    assert by_name(removed)["cpu"]["experimentMetadata"]["stats"]["max"] == 11.0


def test_prepare_side_handles_nan_first_then_outliers() -> None:
    analysis = MetricAnalysis.from_settings({"nanStrategy": "replace", "outliers": {"strategy": "remove"}})
    values = [float(v) for v in range(1, 201)] + [NAN, 1e9]
    # The NaN becomes 0 and stays (inside the fences); the spike goes.
    assert prepare_side(values, analysis) == [float(v) for v in range(1, 201)] + [0.0]
    remove = MetricAnalysis.from_settings({"outliers": {"strategy": "remove"}})
    assert prepare_side(values, remove) == [float(v) for v in range(1, 201)]


def test_thresholds_are_required_and_metrics_must_be_configured() -> None:
    with pytest.raises(CanaryConfigError, match="must contain thresholds"):
        judge(config(metric("cpu")), [pair("cpu", BASE, BASE)], None)
    with pytest.raises(CanaryConfigError, match="no metric named"):
        judge(config(metric("cpu")), [pair("mem", BASE, BASE)], THRESHOLDS)


def test_the_judge_name_override_wins() -> None:
    assert judge_name_for({"judge": {"name": "dredd"}}, "other") == "other"
    assert judge_name_for({"judge": {"name": "dredd"}}) == "dredd"
    assert judge_name_for({}) == JUDGE_NAME
