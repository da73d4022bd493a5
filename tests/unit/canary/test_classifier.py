"""Metric settings and the Mann-Whitney classifier beyond the vectors (kayenta.md §1.3, §2.3)."""

from __future__ import annotations

import math
import random

import pytest

from gennaker.canary.classifier import (
    CanaryConfigError,
    Classification,
    Direction,
    EffectSizeMeasure,
    MannWhitneyClassifier,
    MetricAnalysis,
    NanStrategy,
    OutlierStrategy,
)

LOW = [10.0, 11.0, 9.5, 10.5, 10.2, 9.8, 10.1, 10.4, 9.9, 10.3] * 3
HIGH = [v * 2 for v in LOW]


def test_settings_defaults() -> None:
    analysis = MetricAnalysis.from_metric({"name": "m"})
    assert analysis == MetricAnalysis()
    assert analysis.direction is Direction.EITHER
    assert analysis.nan_strategy is NanStrategy.REMOVE
    assert analysis.outlier_strategy is OutlierStrategy.KEEP
    assert analysis.outlier_factor == 3.0
    assert (analysis.allowed_increase, analysis.allowed_decrease) == (1.0, 1.0)
    assert (analysis.critical_increase, analysis.critical_decrease) == (1.0, 1.0)


def test_unknown_values_fall_back_as_kayenta_parses_them() -> None:
    analysis = MetricAnalysis.from_settings(
        {
            "direction": "sideways",
            "nanStrategy": "none",
            "outliers": {"strategy": "drop"},
            "effectSize": {"measure": "x"},
        }
    )
    assert analysis.direction is Direction.EITHER
    assert analysis.nan_strategy is NanStrategy.REMOVE
    assert analysis.outlier_strategy is OutlierStrategy.KEEP
    assert analysis.effect_size_measure is EffectSizeMeasure.MEAN_RATIO
    assert analysis.allowed_increase == 1.0


def test_cles_has_its_own_defaults_and_explicit_values_win() -> None:
    analysis = MetricAnalysis.from_settings({"effectSize": {"measure": "cles", "allowedIncrease": 0.8}})
    assert analysis.effect_size_measure is EffectSizeMeasure.CLES
    assert analysis.allowed_increase == 0.8
    assert (analysis.allowed_decrease, analysis.critical_increase, analysis.critical_decrease) == (0.5, 0.5, 0.5)


def test_full_settings_are_read() -> None:
    analysis = MetricAnalysis.from_metric(
        {
            "name": "errors",
            "analysisConfigurations": {
                "canary": {
                    "direction": "increase",
                    "nanStrategy": "replace",
                    "critical": True,
                    "mustHaveData": True,
                    "muted": True,
                    "effectSize": {"allowedIncrease": 1.1, "criticalIncrease": 5},
                    "outliers": {"strategy": "remove", "outlierFactor": 1.5},
                }
            },
        }
    )
    assert analysis.direction is Direction.INCREASE and analysis.nan_strategy is NanStrategy.REPLACE
    assert analysis.critical and analysis.must_have_data and analysis.muted
    assert analysis.allowed_increase == 1.1 and analysis.critical_increase == 5.0
    assert analysis.outlier_strategy is OutlierStrategy.REMOVE and analysis.outlier_factor == 1.5


def test_the_key_is_must_have_data_not_must_have() -> None:
    assert MetricAnalysis.from_settings({"mustHave": True}).must_have_data is False
    assert MetricAnalysis.from_settings({"mustHaveData": True}).must_have_data is True


@pytest.mark.parametrize(
    "settings", [{"critical": "true"}, {"mustHaveData": 1}, {"effectSize": {"allowedIncrease": "2"}}]
)
def test_only_real_booleans_and_numbers_are_accepted(settings: dict[str, object]) -> None:
    with pytest.raises(CanaryConfigError):
        MetricAnalysis.from_settings(settings, "m")


def test_the_judge_uses_tolerance_quarter_and_98_percent_confidence() -> None:
    classifier = MannWhitneyClassifier.for_judge()
    assert (classifier.tolerance, classifier.confidence_level) == (0.25, 0.98)


def test_no_data_with_remove_is_nodata_or_nodata_fail_metric() -> None:
    classifier = MannWhitneyClassifier()
    plain = classifier.classify([1.0, 2.0], [], metric_name="latency")
    assert (plain.classification, plain.critical, plain.deviation) == (Classification.NODATA, False, 1.0)
    assert plain.reason == "Missing data for latency"
    required = classifier.classify([1.0, 2.0], [], must_have_data=True)
    assert (required.classification, required.critical) == (Classification.NODATA_FAIL_METRIC, False)
    # mustHaveData does not apply to a critical metric: it stays Nodata, flagged critical.
    critical = classifier.classify([], [1.0], must_have_data=True, critical=True)
    assert (critical.classification, critical.critical) == (Classification.NODATA, True)


def test_no_data_with_replace_passes() -> None:
    outcome = MannWhitneyClassifier().classify([], [], nan_strategy=NanStrategy.REPLACE, must_have_data=True)
    assert (outcome.classification, outcome.critical) == (Classification.PASS, False)


def test_identical_data_passes_with_a_reason() -> None:
    outcome = MannWhitneyClassifier().classify([3.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    assert outcome.classification is Classification.PASS
    assert outcome.reason == "The Canary and Baseline data are identical"


def test_high_and_low_follow_the_direction() -> None:
    classifier = MannWhitneyClassifier.for_judge()
    assert classifier.classify(LOW, HIGH).classification is Classification.HIGH
    assert classifier.classify(HIGH, LOW).classification is Classification.LOW
    assert classifier.classify(LOW, HIGH, direction=Direction.DECREASE).classification is Classification.PASS
    assert classifier.classify(HIGH, LOW, direction=Direction.INCREASE).classification is Classification.PASS
    high = classifier.classify(LOW, HIGH, metric_name="cpu")
    assert high.reason is not None and high.reason.startswith("cpu was classified as High")
    assert high.deviation == pytest.approx(2.0)


def test_effect_size_thresholds_hold_back_a_significant_but_small_change() -> None:
    classifier = MannWhitneyClassifier.for_judge()
    assert classifier.classify(LOW, HIGH, allowed_increase=1.9).classification is Classification.HIGH
    assert classifier.classify(LOW, HIGH, allowed_increase=2.1).classification is Classification.PASS
    assert classifier.classify(HIGH, LOW, allowed_decrease=0.6).classification is Classification.LOW
    assert classifier.classify(HIGH, LOW, allowed_decrease=0.4).classification is Classification.PASS


def test_cles_effect_size_thresholds() -> None:
    classifier = MannWhitneyClassifier.for_judge()
    # No overlap: CLES is 1.0 upwards and 0.0 downwards.
    cles = EffectSizeMeasure.CLES
    up = classifier.classify(LOW, HIGH, effect_size_measure=cles, allowed_increase=0.9, allowed_decrease=0.1)
    down = classifier.classify(HIGH, LOW, effect_size_measure=cles, allowed_increase=0.9, allowed_decrease=0.1)
    assert (up.classification, down.classification) == (Classification.HIGH, Classification.LOW)
    # A CLES threshold above 1 can never be met.
    blocked = classifier.classify(LOW, HIGH, effect_size_measure=cles, allowed_increase=1.01)
    assert blocked.classification is Classification.PASS


def test_a_zero_baseline_skips_the_effect_size_check() -> None:
    outcome = MannWhitneyClassifier.for_judge().classify([0.0] * 10, [0.5, 0.7, 0.6, 0.9, 0.8] * 2, allowed_increase=50)
    assert outcome.classification is Classification.HIGH
    assert math.isnan(outcome.deviation)


def test_critical_needs_the_critical_effect_size() -> None:
    classifier = MannWhitneyClassifier.for_judge()
    assert classifier.classify(LOW, HIGH, critical=True).critical is True
    below = classifier.classify(LOW, HIGH, critical=True, critical_increase=3.0)
    assert (below.classification, below.critical) == (Classification.HIGH, False)
    low = classifier.classify(HIGH, LOW, critical=True, critical_decrease=0.4)
    assert (low.classification, low.critical) == (Classification.LOW, False)
    assert classifier.classify(LOW, HIGH, critical=False).critical is False
    assert classifier.classify(LOW, LOW[::-1], critical=True).critical is False


def test_two_different_constants_get_seeded_noise_and_a_stable_label() -> None:
    first = MannWhitneyClassifier.for_judge(random.Random(7)).classify([1.0] * 5, [10.0] * 5)
    again = MannWhitneyClassifier.for_judge(random.Random(7)).classify([1.0] * 5, [10.0] * 5)
    assert first == again
    assert first.classification is Classification.HIGH
    for seed in range(20):
        outcome = MannWhitneyClassifier.for_judge(random.Random(seed)).classify([10.0] * 5, [0.0] * 5)
        assert outcome.classification is Classification.LOW


def test_the_classifier_raises_where_kayenta_throws() -> None:
    with pytest.raises(ValueError):
        MannWhitneyClassifier().classify([1.0, 2.0], [math.inf, 3.0])
