"""Descriptive statistics and effect sizes of the canary judge (kayenta.md §2.1 step 3 and §2.4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gennaker.canary.mannwhitney import average_ranks

__all__ = ["SummaryStats", "cles", "cohen_d", "mean", "mean_ratio", "percentile", "summary"]


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; NaN for no values."""
    if not values:
        return math.nan
    return math.fsum(values) / len(values)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation between order statistics (R's type 7, numpy's default).

    The input is not modified. Raises ValueError for no values or p outside [0, 100].
    """
    if not values:
        raise ValueError("the percentile of no values is undefined")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"the percentile must lie in [0, 100], not {p}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100.0
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    if fraction == 0.0:
        return ordered[below]
    return ordered[below] + fraction * (ordered[above] - ordered[below])


@dataclass(frozen=True)
class SummaryStats:
    """What the judge reports for one side after the transforms: `std` is the sample (n - 1) deviation."""

    min: float
    max: float
    mean: float
    std: float
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "mean": self.mean, "std": self.std, "count": self.count}


def summary(values: Sequence[float]) -> SummaryStats:
    """min, max, mean, sample standard deviation and count; all zeros for no values, std 0 for one value."""
    if not values:
        return SummaryStats(min=0.0, max=0.0, mean=0.0, std=0.0, count=0)
    average = mean(values)
    if len(values) < 2:
        deviation = 0.0
    else:
        deviation = math.sqrt(math.fsum((value - average) ** 2 for value in values) / (len(values) - 1))
    return SummaryStats(min=min(values), max=max(values), mean=average, std=deviation, count=len(values))


def mean_ratio(control: Sequence[float], experiment: Sequence[float]) -> float:
    """mean(experiment) / mean(control); NaN when either mean is zero (or a side is empty)."""
    control_mean = mean(control)
    experiment_mean = mean(experiment)
    if control_mean == 0.0 or experiment_mean == 0.0 or math.isnan(control_mean) or math.isnan(experiment_mean):
        return math.nan
    return experiment_mean / control_mean


def cles(control: Sequence[float], experiment: Sequence[float]) -> float:
    """The common-language effect size P(experiment > control) + ½·P(tie), from the rank sum of the experiment."""
    m = len(experiment)
    n = len(control)
    if m == 0 or n == 0:
        return math.nan
    ranks, _ = average_ranks([*experiment, *control])
    rank_sum = math.fsum(ranks[:m])
    return (2.0 * rank_sum - m * (m + 1)) / (2.0 * n * m)


def cohen_d(control: Sequence[float], experiment: Sequence[float]) -> float:
    """|mean difference| over the pooled sample standard deviation (defined and tested, unused by the judge)."""
    n_e = len(experiment)
    n_c = len(control)
    if n_e + n_c < 3 or n_e == 0 or n_c == 0:
        return math.nan
    var_e = summary(experiment).std ** 2
    var_c = summary(control).std ** 2
    pooled = math.sqrt(((n_e - 1) * var_e + (n_c - 1) * var_c) / (n_e + n_c - 2))
    difference = abs(mean(experiment) - mean(control))
    if pooled == 0.0:
        return math.nan if difference == 0.0 else math.inf
    return difference / pooled
