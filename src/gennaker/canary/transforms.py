"""Preprocessing of one side of a metric before classification (kayenta.md §2.1 steps 1 and 2).

NaN handling comes first, then (only with `outliers.strategy == "remove"`) the IQR detector with reduced
sensitivity. The k-sigma detector exists and is tested upstream but the judge never uses it; it is here for the
same reason. Detectors flag points in their original order; removal keeps the order of the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gennaker.canary.stats import mean, percentile

__all__ = [
    "IQRDetector",
    "KSigmaDetector",
    "OutlierDetector",
    "remove_nans",
    "remove_outliers",
    "replace_nans",
]


def remove_nans(values: Sequence[float]) -> list[float]:
    """Every value except NaN; ±Infinity is kept."""
    return [value for value in values if not math.isnan(value)]


def replace_nans(values: Sequence[float], replacement: float = 0.0) -> list[float]:
    """Every NaN turned into `replacement` (0.0 in the judge)."""
    return [replacement if math.isnan(value) else value for value in values]


class OutlierDetector(Protocol):
    def detect(self, values: Sequence[float]) -> list[bool]:
        """One flag per value, True for an outlier."""
        ...


@dataclass(frozen=True)
class IQRDetector:
    """Tukey fences at Q1 - f·IQR and Q3 + f·IQR (R-7 quartiles); points strictly outside are outliers.

    With `reduce_sensitivity` (what the judge uses) the fences are widened to at least the 1st and 99th
    percentiles: lower = min(P1, Q1 - f·IQR), upper = max(P99, Q3 + f·IQR).
    """

    factor: float = 1.5
    reduce_sensitivity: bool = False

    def fences(self, values: Sequence[float]) -> tuple[float, float]:
        q1 = percentile(values, 25)
        q3 = percentile(values, 75)
        iqr = q3 - q1
        lower = q1 - self.factor * iqr
        upper = q3 + self.factor * iqr
        if self.reduce_sensitivity:
            lower = min(percentile(values, 1), lower)
            upper = max(percentile(values, 99), upper)
        return lower, upper

    def detect(self, values: Sequence[float]) -> list[bool]:
        if not values:
            return []
        lower, upper = self.fences(values)
        return [value < lower or value > upper for value in values]


@dataclass(frozen=True)
class KSigmaDetector:
    """|x - mean| > k·sigma with the population standard deviation."""

    k: float = 3.0

    def detect(self, values: Sequence[float]) -> list[bool]:
        if not values:
            return []
        average = mean(values)
        sigma = math.sqrt(math.fsum((value - average) ** 2 for value in values) / len(values))
        return [abs(value - average) > self.k * sigma for value in values]


def remove_outliers(values: Sequence[float], detector: OutlierDetector) -> list[float]:
    """The values the detector does not flag, in their original order."""
    flags = detector.detect(values)
    return [value for value, outlier in zip(values, flags, strict=True) if not outlier]
