"""Percentiles, summaries, effect sizes, NaN handling and outlier detection beyond the vectors (kayenta.md §2.1,
§2.4)."""

from __future__ import annotations

import math

import pytest

from gennaker.canary.stats import cles, cohen_d, mean_ratio, percentile, summary
from gennaker.canary.transforms import IQRDetector, KSigmaDetector, remove_nans, remove_outliers, replace_nans


def test_percentile_interpolates_between_order_statistics_without_reordering_the_input() -> None:
    data = [4.0, 1.0, 3.0, 2.0]
    assert percentile(data, 25) == 1.75
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 4.0
    assert data == [4.0, 1.0, 3.0, 2.0]


def test_percentile_refuses_no_data_and_out_of_range_p() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_uses_the_sample_deviation() -> None:
    stats = summary([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert stats.mean == 5.0
    assert stats.std == pytest.approx(math.sqrt(32.0 / 7.0))
    assert (stats.min, stats.max, stats.count) == (2.0, 9.0, 8)
    assert stats.to_json() == {"min": 2.0, "max": 9.0, "mean": 5.0, "std": stats.std, "count": 8}


def test_mean_ratio_is_nan_when_either_mean_is_zero() -> None:
    assert mean_ratio([2.0, 2.0], [3.0, 3.0]) == 1.5
    assert math.isnan(mean_ratio([1.0, -1.0], [3.0]))
    assert math.isnan(mean_ratio([1.0], [0.0]))
    assert math.isnan(mean_ratio([], [1.0]))


def test_cles_counts_ties_as_half_and_is_symmetric() -> None:
    assert cles([1.0, 2.0], [3.0, 4.0]) == 1.0
    assert cles([3.0, 4.0], [1.0, 2.0]) == 0.0
    assert cles([1.0], [1.0]) == 0.5
    control = [1.0, 5.0, 9.0]
    experiment = [2.0, 5.0, 10.0, 11.0]
    assert cles(control, experiment) + cles(experiment, control) == pytest.approx(1.0)
    # P(exp > ctl) + 0.5 P(tie) by counting the 12 pairs: 8 wins and one tie.
    assert cles(control, experiment) == pytest.approx(8.5 / 12)


def test_cohen_d_uses_the_pooled_sample_deviation() -> None:
    assert cohen_d([1.0, 3.0], [3.0, 5.0]) == pytest.approx(2.0 / math.sqrt(2.0))
    assert math.isnan(cohen_d([1.0], [1.0]))


def test_nan_removal_keeps_infinities_and_order() -> None:
    assert remove_nans([math.inf, math.nan, 1.0, -math.inf]) == [math.inf, 1.0, -math.inf]
    assert replace_nans([math.nan, 2.0, math.nan]) == [0.0, 2.0, 0.0]
    assert replace_nans([math.nan], 7.0) == [7.0]


def test_reduced_sensitivity_never_fences_tighter_than_the_first_and_99th_percentiles() -> None:
    # The plain fences (factor 0) are Q1 and Q3 themselves; the widened ones reach P1 and P99.
    data = [float(v) for v in range(101)]
    plain = IQRDetector(factor=0.0).detect(data)
    reduced = IQRDetector(factor=0.0, reduce_sensitivity=True).detect(data)
    assert sum(plain) == 50  # 0..24 and 76..100
    assert IQRDetector(factor=0.0, reduce_sensitivity=True).fences(data) == (1.0, 99.0)
    assert [i for i, flagged in enumerate(reduced) if flagged] == [0, 100]


def test_the_judges_outlier_removal_drops_a_lone_spike_and_keeps_the_order() -> None:
    data = [5.0 + (i % 4) * 0.5 for i in range(100)]
    data.insert(37, 500.0)
    kept = remove_outliers(data, IQRDetector(factor=3.0, reduce_sensitivity=True))
    assert kept == [v for v in data if v != 500.0]


def test_spikes_above_one_percent_of_the_points_survive_the_widened_fences() -> None:
    # Three spikes in 30 points: the 99th percentile is a spike, so the upper fence reaches it.
    data = [5.0, 6.0, 5.5, 6.5, 5.0, 6.0, 500.0, 5.5, 6.0, 5.0] * 3
    assert remove_outliers(data, IQRDetector(factor=3.0, reduce_sensitivity=True)) == data
    assert 500.0 not in remove_outliers(data, IQRDetector(factor=3.0))


def test_outlier_points_on_the_fence_are_kept() -> None:
    # Q1 = 2 and Q3 = 4; with factor 0 the fences are exactly those, and only points strictly outside go.
    data = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert IQRDetector(factor=0.0).fences(data) == (2.0, 4.0)
    assert IQRDetector(factor=0.0).detect(data) == [True, False, False, False, True]
    assert IQRDetector(factor=1.0).fences([1.0, 2.0, 3.0, 4.0]) == (0.25, 4.75)


def test_k_sigma_uses_the_population_deviation() -> None:
    # mean 0, population sigma 1: a point at exactly k sigma is not an outlier.
    data = [1.0, -1.0, 1.0, -1.0]
    assert KSigmaDetector(k=1.0).detect(data) == [False] * 4
    assert KSigmaDetector(k=0.5).detect(data) == [True] * 4
    assert KSigmaDetector().detect([]) == []
