"""Kayenta's and Orca's own cases (tests/data/kayenta_vectors.json, kayenta.md §5) run through gennaker.canary.

Every case runs, by kind; every key of `expected` must be checked (an unknown key fails the case). Floats compare
exactly unless the case gives a tolerance (`abs_tol`, `ci_abs_tol`, `estimate_abs_tol`, `std_abs_tol`); NaN is
written "NaN". Accepted deviations would be listed in KNOWN_DEVIATIONS by case index and in docs/canary.md under
"Deviations"; there are none, so every case must pass. The last test prints "kayenta N/161".
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gennaker.canary.classifier import (
    Classification,
    Direction,
    EffectSizeMeasure,
    MannWhitneyClassifier,
    MeanInequalityClassifier,
    NanStrategy,
)
from gennaker.canary.intervals import aggregate_final_score, plan_intervals
from gennaker.canary.mannwhitney import mann_whitney, normal_quantile, shift_bounds, wilcoxon_diff
from gennaker.canary.metric_sets import MetricSet, mix_metric_sets, parse_value
from gennaker.canary.prometheus_query import PrometheusQueryConfig, PrometheusScope, build_query
from gennaker.canary.prometheus_response import convert_range_result
from gennaker.canary.scoring import ScoredMetric, score_metrics
from gennaker.canary.stats import cles, cohen_d, mean_ratio, percentile, summary
from gennaker.canary.transforms import IQRDetector, KSigmaDetector, remove_nans, remove_outliers, replace_nans
from tests.support import DATA_DIR

VECTORS: list[dict[str, Any]] = json.loads((DATA_DIR / "kayenta_vectors.json").read_text())
KNOWN_DEVIATIONS: dict[int, str] = {}  # case index -> reason, mirrored in docs/canary.md "Deviations"
KINDS = {
    "mannwhitney": 4,
    "mannwhitney_intermediate": 1,
    "wilcoxon_diff": 2,
    "normal_quantile": 1,
    "classify": 34,
    "classify_mean_inequality": 3,
    "effect_size": 9,
    "percentile": 8,
    "summary_stats": 3,
    "outlier_detect": 6,
    "transform": 5,
    "score": 13,
    "aggregate_final_score": 23,
    "interval_plan": 33,
    "prometheus_query": 11,
    "prometheus_range_response": 3,
    "metric_set_mix": 2,
}
CLOCK = datetime(2018, 4, 11, 12, 0, tzinfo=UTC)  # the tests' fixed clock; plans are compared relative to it


class Expected:
    """The expected values of a case; `done` fails if any key was left unchecked."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.values = dict(expected)
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self.values else default

    def tolerance(self, *keys: str) -> float:
        for key in keys:
            if key in self.values:
                return float(self[key])
        return 0.0

    def done(self) -> None:
        unchecked = set(self.values) - self.used
        assert not unchecked, f"expected keys not checked: {sorted(unchecked)}"


def number(value: Any) -> float:
    return parse_value(value)


def numbers(values: list[Any]) -> list[float]:
    return [parse_value(v) for v in values]


def close(actual: float, expected: Any, tolerance: float = 0.0) -> bool:
    wanted = number(expected)
    if math.isnan(wanted):
        return math.isnan(actual)
    if tolerance == 0.0:
        return actual == wanted
    return abs(actual - wanted) <= tolerance


def same_values(actual: list[float] | tuple[float, ...], expected: list[Any]) -> bool:
    return len(actual) == len(expected) and all(close(a, e) for a, e in zip(actual, expected, strict=True))


def check_mannwhitney(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    result = mann_whitney(given["experiment"], given["control"], given["confidence_level"])
    ci_tol = want.tolerance("ci_abs_tol")
    estimate_tol = want.tolerance("estimate_abs_tol")
    assert close(result.lower_confidence, want["ci_lower"], ci_tol), result
    assert close(result.upper_confidence, want["ci_upper"], ci_tol), result
    assert close(result.estimate, want["estimate"], estimate_tol), result


def check_mannwhitney_intermediate(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    x, y = given["x"], given["y"]
    tol = want.tolerance("abs_tol")
    mu_min, mu_max = shift_bounds(x, y)
    assert close(mu_min, want["mu_min"], tol) and close(mu_max, want["mu_max"], tol)
    z = normal_quantile((1.0 - given["confidence_level"]) / 2.0)
    assert close(-z, want["zq_lower"], tol) and close(z, want["zq_upper"], tol)
    assert close(wilcoxon_diff(x, y, mu_min, -z), want["f_lower_at_zq_lower"], tol)
    assert close(wilcoxon_diff(x, y, mu_max, -z), want["f_upper_at_zq_lower"], tol)
    assert close(wilcoxon_diff(x, y, mu_min, z), want["f_lower_at_zq_upper"], tol)
    assert close(wilcoxon_diff(x, y, mu_max, z), want["f_upper_at_zq_upper"], tol)
    result = mann_whitney(x, y, given["confidence_level"])
    assert close(result.lower_confidence, want["root_at_zq_lower"], tol)
    assert close(result.upper_confidence, want["root_at_zq_upper"], tol)
    assert close(result.estimate, want["estimate"], tol)


def check_wilcoxon_diff(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    value = wilcoxon_diff(given["x"], given["y"], given["mu"], given["quantile"])
    assert close(value, want["value"], want.tolerance("abs_tol")), value


def check_normal_quantile(case: dict[str, Any], want: Expected) -> None:
    value = normal_quantile(case["input"]["p"])
    assert close(value, want["value"], want.tolerance("abs_tol")), value


def check_classify(case: dict[str, Any], want: Expected, index: int) -> None:
    given = case["input"]
    classifier = MannWhitneyClassifier(
        tolerance=given["tolerance"], confidence_level=given["conf_level"], rng=random.Random(index)
    )
    allowed_decrease, allowed_increase = given["effect_size_thresholds"]
    critical_decrease, critical_increase = given["critical_thresholds"]
    outcome = classifier.classify(
        numbers(given["control"]),
        numbers(given["experiment"]),
        direction=Direction(given["direction"]),
        nan_strategy=NanStrategy(given["nan_strategy"]),
        critical=given["is_critical"],
        must_have_data=given["is_data_required"],
        effect_size_measure=EffectSizeMeasure(given["effect_size_measure"]),
        allowed_decrease=allowed_decrease,
        allowed_increase=allowed_increase,
        critical_decrease=critical_decrease,
        critical_increase=critical_increase,
        metric_name="test-metric",
    )
    check_outcome(outcome.classification.value, outcome.critical, outcome.deviation, outcome.reason, want)


def check_outcome(label: str, critical: bool, deviation: float, reason: str | None, want: Expected) -> None:
    if "classification" in want:
        assert label == want["classification"], (label, reason)
    if "critical" in want:
        assert critical is want["critical"], (label, critical)
    if "deviation" in want:
        assert close(deviation, want["deviation"]), deviation
    if "reason_nonempty" in want:
        assert bool(reason) is want["reason_nonempty"], reason


def check_classify_mean_inequality(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    outcome = MeanInequalityClassifier().classify(
        numbers(given["control"]),
        numbers(given["experiment"]),
        direction=Direction(given["direction"]),
        nan_strategy=NanStrategy(given["nan_strategy"]),
        critical=given["is_critical"],
        must_have_data=given["is_data_required"],
    )
    check_outcome(outcome.classification.value, outcome.critical, outcome.deviation, outcome.reason, want)


EFFECT_SIZES: dict[str, Callable[[list[float], list[float]], float]] = {
    "meanRatio": mean_ratio,
    "cles": cles,
    "cohenD": cohen_d,
}


def check_effect_size(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    value = EFFECT_SIZES[given["measure"]](given["control"], given["experiment"])
    assert close(value, want["value"], want.tolerance("abs_tol")), value


def check_percentile(case: dict[str, Any], want: Expected) -> None:
    value = percentile(case["input"]["data"], case["input"]["p"])
    assert close(value, want["value"], want.tolerance("abs_tol")), value


def check_summary_stats(case: dict[str, Any], want: Expected) -> None:
    stats = summary(case["input"]["data"])
    assert close(stats.min, want["min"]) and close(stats.max, want["max"]) and close(stats.mean, want["mean"])
    assert close(stats.std, want["std"], want.tolerance("std_abs_tol")), stats
    assert stats.count == want["count"]


def detector_for(given: dict[str, Any]) -> IQRDetector | KSigmaDetector:
    if given["detector"] == "ksigma":
        return KSigmaDetector(k=given["k"])
    assert given["detector"] == "iqr"
    return IQRDetector(factor=given["factor"], reduce_sensitivity=given["reduce_sensitivity"])


def check_outlier_detect(case: dict[str, Any], want: Expected) -> None:
    flags = detector_for(case["input"]).detect(case["input"]["data"])
    assert flags == want["is_outlier"], flags


def check_transform(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    data = numbers(given["data"])
    if given["op"] == "remove_nans":
        out = remove_nans(data)
    elif given["op"] == "replace_nans":
        out = replace_nans(data, given["value"])
    else:
        assert given["op"] == "remove_outliers"
        out = remove_outliers(data, detector_for(given))
    assert same_values(out, want["data"]), out


def check_score(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    metrics = [
        ScoredMetric(
            classification=Classification(m["classification"]),
            groups=tuple(m["groups"]),
            critical=m["critical"],
            reason=f"{m['name']} was {m['classification']}",
        )
        for m in given["metrics"]
    ]
    result = score_metrics(metrics, given["group_weights"])
    assert close(result.summary_score, want["summary_score"]), result
    if "group_scores" in want:
        assert {g.name: g.score for g in result.group_scores} == want["group_scores"], result


def check_aggregate_final_score(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    result = aggregate_final_score(given["interval_scores"], given["thresholds"])
    assert result.status.value == want["status"], result
    assert list(result.canary_scores) == want["canary_scores"]


def minutes(moment: datetime) -> int:
    offset = (moment - CLOCK) / timedelta(minutes=1)
    assert offset == int(offset)
    return int(offset)


def canary_config_for(case: dict[str, Any]) -> dict[str, Any]:
    given = case["input"]
    scope: dict[str, Any] = {
        "scopeName": "default",
        "controlScope": "app-baseline",
        "controlLocation": "us-west-2",
        "experimentScope": "app-canary",
        "experimentLocation": "us-west-2",
    }
    config: dict[str, Any] = {
        "canaryConfigId": "config-id",
        "scopes": [scope],
        "scoreThresholds": {"pass": 75, "marginal": 50},
        "beginCanaryAnalysisAfterMins": given["begin_canary_analysis_after_mins"],
        "canaryAnalysisIntervalMins": given["canary_analysis_interval_mins"],
        "lookbackMins": given["lookback_mins"],
        "baselineAnalysisOffsetInMins": given["baseline_analysis_offset_mins"],
    }
    if given["mode"] == "retrospective":
        scope["startTimeIso"] = (CLOCK + timedelta(minutes=given["start_min"])).isoformat().replace("+00:00", "Z")
        scope["endTimeIso"] = (CLOCK + timedelta(minutes=given["end_min"])).isoformat().replace("+00:00", "Z")
    elif "lifetimeHours" in case.get("note", ""):
        config["lifetimeHours"] = given["lifetime_min"] / 60
    else:
        config["lifetimeDuration"] = f"PT{given['lifetime_min']}M"
    return config


def check_interval_plan(case: dict[str, Any], want: Expected) -> None:
    plan = plan_intervals(canary_config_for(case), CLOCK)
    assert plan.mode.value == case["input"]["mode"]
    experiment = [[minutes(r.experiment.start), minutes(r.experiment.end)] for r in plan.runs]
    control = [[minutes(r.control.start), minutes(r.control.end)] for r in plan.runs]
    assert experiment == want["experiment_ranges_min"], experiment
    assert control == want["control_ranges_min"], control
    if "step_s" in want:
        assert all(r.step_seconds == want["step_s"] for r in plan.runs)
    waits = [r.wait_seconds for r in plan.runs if r.wait_seconds is not None]
    if "interval_wait_s" in want:
        assert waits == want["interval_wait_s"], waits
    if "interval_wait_stages" in want:
        assert len(waits) == want["interval_wait_stages"], waits
    assert plan.warmup_wait_seconds == want.get("warmup_wait_s")
    if "stage_types" in want:
        assert [s["type"] for s in plan.stages()] == want["stage_types"]


def check_prometheus_query(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    query = PrometheusQueryConfig.from_json(
        {
            "type": "prometheus",
            "metricName": given["metric_name"],
            "labelBindings": given["label_bindings"],
            "groupByFields": given["group_by_fields"],
            "resourceType": given["resource_type"],
            "customInlineTemplate": given["custom_inline_template"],
            "customFilterTemplate": given["custom_filter_template"],
        }
    )
    scope = PrometheusScope(
        scope=given["scope"] or "",
        location=given["location"] or "",
        extended_scope_params=given["extended_scope_params"] or {},
    )
    promql = build_query(query, scope, given["templates"], scope_label=given["scope_label"])
    assert promql == want["query"], promql


def check_prometheus_range_response(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    body = {"status": "success", "data": {"resultType": "matrix", "result": given["result"]}}
    converted = convert_range_result(body, "some-metric", "some-query")
    expected = want["series"]
    if expected is None:
        assert converted is None
        return
    assert converted is not None and len(converted) == len(expected)
    for got, series in zip(converted, expected, strict=True):
        assert got.start_time_millis == series["start_time_millis"]
        assert got.step_millis == series["step_secs"] * 1000
        assert got.end_time_millis == series["end_time_millis"]
        assert dict(got.tags) == series["tags"]
        assert same_values(got.values, series["values"])
        assert got.attributes == {"query": "some-query"}


def metric_set(name: str, data: dict[str, Any]) -> MetricSet:
    return MetricSet(
        name=name,
        tags={},
        start_time_millis=data["start_time_millis"],
        end_time_millis=data["end_time_millis"],
        step_millis=data["step_millis"],
        values=tuple(numbers(data["values"])),
    )


def check_metric_set_mix(case: dict[str, Any], want: Expected) -> None:
    given = case["input"]
    pairs = mix_metric_sets([metric_set("m", given["control"])], [metric_set("m", given["experiment"])])
    assert len(pairs) == 1
    assert same_values(pairs[0].control, want["control"]), pairs[0].control
    assert same_values(pairs[0].experiment, want["experiment"]), pairs[0].experiment


CHECKS: dict[str, Callable[[dict[str, Any], Expected], None]] = {
    "mannwhitney": check_mannwhitney,
    "mannwhitney_intermediate": check_mannwhitney_intermediate,
    "wilcoxon_diff": check_wilcoxon_diff,
    "normal_quantile": check_normal_quantile,
    "classify_mean_inequality": check_classify_mean_inequality,
    "effect_size": check_effect_size,
    "percentile": check_percentile,
    "summary_stats": check_summary_stats,
    "outlier_detect": check_outlier_detect,
    "transform": check_transform,
    "score": check_score,
    "aggregate_final_score": check_aggregate_final_score,
    "interval_plan": check_interval_plan,
    "prometheus_query": check_prometheus_query,
    "prometheus_range_response": check_prometheus_range_response,
    "metric_set_mix": check_metric_set_mix,
}


def run_case(index: int) -> None:
    case = VECTORS[index]
    want = Expected(case["expected"])
    if case["kind"] == "classify":
        check_classify(case, want, index)
    else:
        CHECKS[case["kind"]](case, want)
    want.done()


def passes(index: int) -> bool:
    try:
        run_case(index)
    except AssertionError:
        return False
    return True


def test_the_vectors_are_the_expected_set() -> None:
    counts: dict[str, int] = {}
    for case in VECTORS:
        counts[case["kind"]] = counts.get(case["kind"], 0) + 1
    assert counts == KINDS
    assert set(CHECKS) | {"classify"} == set(KINDS)


@pytest.mark.parametrize("index", range(len(VECTORS)), ids=lambda i: f"kayenta-{i}-{VECTORS[i]['kind']}")
def test_case(index: int) -> None:
    if index in KNOWN_DEVIATIONS:
        assert not passes(index), f"case {index} is listed as a deviation but passes: remove it from the list"
        return
    run_case(index)


def test_report_the_pass_count(capsys: pytest.CaptureFixture[str]) -> None:
    passed = sum(passes(index) for index in range(len(VECTORS)))
    with capsys.disabled():
        print(f"\nkayenta {passed}/{len(VECTORS)}")
        for index, reason in sorted(KNOWN_DEVIATIONS.items()):
            print(f"  accepted deviation #{index} ({VECTORS[index]['kind']}): {reason}")
    assert len(VECTORS) == 161
    assert passed == len(VECTORS) - len(KNOWN_DEVIATIONS)
    documented = (DATA_DIR.parents[1] / "docs" / "canary.md").read_text()
    assert "## Deviations" in documented
    assert all(f"#{index}" in documented for index in KNOWN_DEVIATIONS), "document every deviation in docs/canary.md"
