"""The Mann-Whitney routine beyond the vectors: ranks, the root finder, the error cases (kayenta.md §2.2)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gennaker.canary.mannwhitney import (
    AllTiedError,
    average_ranks,
    mann_whitney,
    normal_quantile,
    wilcoxon_diff,
    zeroin,
)


def test_average_ranks_give_ties_their_mean_rank_and_report_tie_groups() -> None:
    ranks, ties = average_ranks([3.0, 1.0, 3.0, 2.0, 3.0])
    assert ranks == [4.0, 1.0, 4.0, 2.0, 4.0]
    assert sorted(ties) == [1, 1, 3]


def test_zeroin_finds_a_root_within_the_tolerance() -> None:
    root = zeroin(lambda x: x * x - 2.0, 0.0, 2.0, tolerance=1e-10)
    assert root == pytest.approx(math.sqrt(2.0), abs=1e-9)
    coarse = zeroin(lambda x: x * x - 2.0, 0.0, 2.0)
    assert abs(coarse - math.sqrt(2.0)) < 1e-4


def test_zeroin_returns_an_endpoint_that_is_already_a_root_without_iterating() -> None:
    calls: list[float] = []

    def f(x: float) -> float:
        calls.append(x)
        return x - 1.0

    assert zeroin(f, 1.0, 5.0) == 1.0
    assert calls == [1.0, 5.0]
    assert zeroin(lambda x: x - 5.0, 1.0, 5.0) == 5.0


def test_zeroin_returns_its_current_point_when_the_iterations_run_out() -> None:
    root = zeroin(lambda x: math.exp(x) - 2.0, 0.0, 5.0, tolerance=1e-12, max_iterations=1)
    assert 0.0 < root < 5.0
    assert abs(root - math.log(2.0)) > 1e-6
    assert zeroin(lambda x: math.exp(x) - 2.0, 0.0, 5.0, tolerance=1e-12) == pytest.approx(math.log(2.0), abs=1e-11)


def test_the_statistic_decreases_with_the_shift_and_is_zero_in_the_middle_of_symmetric_data() -> None:
    x = [10.0, 20.0, 30.0, 40.0]
    y = [1.0, 2.0, 3.0, 4.0]
    values = [wilcoxon_diff(x, y, mu, 0.0) for mu in (0.0, 10.0, 22.5, 30.0, 45.0)]
    assert values == sorted(values, reverse=True)
    assert wilcoxon_diff(x, y, 22.5, 0.0) == 0.0


def test_all_tied_observations_raise() -> None:
    with pytest.raises(AllTiedError, match="all observations are tied"):
        wilcoxon_diff([2.0, 2.0], [2.0, 2.0, 2.0], 0.0, 0.0)
    with pytest.raises(AllTiedError):
        mann_whitney([5.0, 5.0], [5.0, 5.0], 0.95)


def test_empty_and_non_finite_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        mann_whitney([], [1.0, 2.0], 0.95)
    with pytest.raises(ValueError):
        mann_whitney([1.0, math.inf], [1.0, 2.0], 0.95)
    with pytest.raises(ValueError):
        mann_whitney([1.0, 2.0], [1.0, 3.0], 1.0)


def test_the_interval_widens_with_the_confidence_level() -> None:
    experiment = [float(v) for v in range(20, 40)]
    control = [float(v) for v in range(0, 30)]
    narrow = mann_whitney(experiment, control, 0.80)
    wide = mann_whitney(experiment, control, 0.98)
    assert wide.lower_confidence < narrow.lower_confidence < narrow.estimate
    assert narrow.estimate < narrow.upper_confidence < wide.upper_confidence
    assert narrow.estimate == wide.estimate


def test_an_endpoint_is_returned_when_the_statistic_never_crosses_the_quantile() -> None:
    # Three values against one: even the extreme shift cannot reach the 98% quantile, so both bounds are endpoints.
    result = mann_whitney([1.0, 2.0, 3.0], [10.0], 0.98)
    assert result.lower_confidence == 1.0 - 10.0
    assert result.upper_confidence == 3.0 - 10.0


def test_the_normal_quantile_is_symmetric() -> None:
    assert normal_quantile(0.5) == 0.0
    assert normal_quantile(0.025) == pytest.approx(-1.959963984540054, abs=1e-12)
    assert normal_quantile(0.975) == pytest.approx(-normal_quantile(0.025), abs=1e-15)


def ranked_statistic(x: list[float], y: list[float], mu: float, quantile: float) -> float:
    """The statistic by ranking the combined sample, as R does: the reference for ShiftedRankSum."""
    n_x, n_y = len(x), len(y)
    ranks, tie_sizes = average_ranks([value - mu for value in x] + y)
    dz = math.fsum(ranks[:n_x]) - n_x * (n_x + 1) / 2.0 - n_x * n_y / 2.0
    ties = float(sum(t * t * t - t for t in tie_sizes))
    total = n_x + n_y
    sigma = math.sqrt((n_x * n_y / 12.0) * ((total + 1) - ties / (total * (total - 1))))
    return (dz - 0.5 * (1.0 if dz > 0 else -1.0 if dz < 0 else 0.0)) / sigma - quantile


@given(
    x=st.lists(st.integers(-5, 5).map(float) | st.floats(-1e6, 1e6), min_size=1, max_size=40),
    y=st.lists(st.integers(-5, 5).map(float) | st.floats(-1e6, 1e6), min_size=1, max_size=40),
    mu=st.integers(-6, 6).map(float) | st.floats(-2e6, 2e6),
)
def test_the_statistic_from_binary_searches_is_the_ranked_one_to_the_last_bit(
    x: list[float], y: list[float], mu: float
) -> None:
    try:
        expected = ranked_statistic(x, y, mu, 1.5)
    except ZeroDivisionError:
        with pytest.raises(AllTiedError):
            wilcoxon_diff(x, y, mu, 1.5)
        return
    assert wilcoxon_diff(x, y, mu, 1.5) == expected
