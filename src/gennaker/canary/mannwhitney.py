"""The Mann-Whitney confidence interval and location estimate the canary judge uses (kayenta.md §2.2).

This is the computation of R's `wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)`: the normal
approximation of the rank-sum statistic with tie and continuity corrections, inverted for a shift μ. The roots are
found with R's `zeroin` (Brent's method, tolerance 1e-4), which is reproduced step by step below because a
different root finder stops at a different point inside the tolerance and the judge's vectors notice.

`x` is the experiment (canary) and `y` the control (baseline): every location value is "experiment minus control".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: `gennaker up` loads this package, and numpy costs 13 MB
    import numpy as np

__all__ = [
    "DOUBLE_EPSILON",
    "AllTiedError",
    "MannWhitneyResult",
    "ShiftedRankSum",
    "average_ranks",
    "mann_whitney",
    "normal_quantile",
    "shift_bounds",
    "wilcoxon_diff",
    "zeroin",
]

DOUBLE_EPSILON = 2.220446049250313e-16
ROOT_TOLERANCE = 1e-4
MAX_ITERATIONS = 1000


class AllTiedError(ArithmeticError):
    """Raised when every observation of both samples is tied: the statistic has no spread."""

    def __init__(self) -> None:
        super().__init__("cannot compute confidence interval when all observations are tied")


@dataclass(frozen=True)
class MannWhitneyResult:
    """The confidence interval [lower, upper] and the location estimate, experiment minus control.

    Because the root finder stops at a tolerance of 1e-4, `lower` may exceed `upper` on tiny or heavily tied data.
    """

    lower_confidence: float
    upper_confidence: float
    estimate: float


def normal_quantile(p: float) -> float:
    """The standard normal quantile at p (R's `qnorm`; both use Wichura's AS 241)."""
    return NormalDist().inv_cdf(p)


def average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks with ties given their average rank, and the sizes of the tie groups (in sorted order)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    tie_sizes: list[int] = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and values[order[end]] == values[order[start]]:
            end += 1
        rank = (start + 1 + end) / 2.0  # the mean of the positions start+1 .. end
        for position in range(start, end):
            ranks[order[position]] = rank
        tie_sizes.append(end - start)
        start = end
    return ranks, tie_sizes


class ShiftedRankSum:
    """The rank-sum statistic of (x - μ) against y, for the many μ a root search tries.

    Both samples are sorted once, and y's distinct values counted. For each μ the rank sum of x is n(n+1)/2 plus,
    over all pairs, 1 for x_i - μ > y_j and 1/2 for x_i - μ = y_j; those counts come from one binary search of the
    shifted x among y's distinct values. Tie groups of the combined sample are y's (fixed), the shifted x's
    (adjacent in sorted order: rounding keeps the order) and, where a shifted value of multiplicity p meets a y
    value of multiplicity q, the merged group, which adds 3pq(p+q) to the sum of t³ - t. Every count is an integer
    or a half, so the statistic is the same float, to the last bit, as ranking the combined sample
    (`average_ranks`) would give. The three root searches of one test share their end points, so each μ's value
    is kept.
    """

    def __init__(self, x: Sequence[float], y: Sequence[float]):
        import numpy as np  # here, not at the top: `gennaker up` imports this package, and numpy costs 13 MB

        self.x = np.sort(np.asarray(x, dtype=np.float64))
        ordered_y = np.sort(np.asarray(y, dtype=np.float64))
        values, counts = np.unique(ordered_y, return_counts=True)
        # A sentinel after the largest value, so that every search result indexes these arrays.
        self.y_values = np.append(values, np.inf)
        self.y_counts = np.append(counts, 0)
        self.y_below = np.concatenate(([0], np.cumsum(counts)))  # how many y are smaller than each distinct value
        self.n_y = len(ordered_y)
        self.y_ties = int((counts.astype(np.int64) ** 3 - counts).sum())
        self._known: dict[float, float] = {}

    def statistic(self, mu: float, quantile: float) -> float:
        """The continuity-corrected standardised statistic minus `quantile`; it decreases as μ grows."""
        known = self._known.get(mu)
        if known is None:
            known = self._known[mu] = self._standardised(mu)
        return known - quantile

    def _standardised(self, mu: float) -> float:
        n_x, n_y = len(self.x), self.n_y
        shifted = self.x - mu
        found = self.y_values.searchsorted(shifted)
        met = self.y_counts[found] * (self.y_values[found] == shifted)  # y values equal to each shifted x
        rank_sum = n_x * (n_x + 1) / 2.0 + (int(self.y_below[found].sum()) + 0.5 * int(met.sum()))
        dz = rank_sum - n_x * (n_x + 1) / 2.0 - n_x * n_y / 2.0
        ties = self.y_ties + _shifted_ties(shifted, met)
        total = n_x + n_y
        sigma = math.sqrt((n_x * n_y / 12.0) * ((total + 1) - float(ties) / (total * (total - 1))))
        if sigma == 0.0:
            raise AllTiedError()
        correction = 0.5 * _sign(dz)
        return (dz - correction) / sigma


def _shifted_ties(shifted: np.ndarray, met: np.ndarray) -> int:
    """Σ(t³ - t) over the groups of equal shifted x values, plus 3pq(p+q) where a group of p meets q equal y."""
    repeated = shifted[1:] == shifted[:-1]
    if not repeated.any():  # every shifted value is distinct: p = 1
        return int((3 * met * (1 + met)).sum())
    import numpy as np

    starts = np.concatenate(([0], (~repeated).nonzero()[0] + 1))
    sizes = np.diff(np.append(starts, len(shifted)))
    q = met[starts]
    return int((sizes**3 - sizes + 3 * sizes * q * (sizes + q)).sum())


def wilcoxon_diff(x: Sequence[float], y: Sequence[float], mu: float, quantile: float) -> float:
    """The continuity-corrected standardised rank-sum statistic of (x - μ) against y, minus `quantile`.

    It decreases as μ grows; its zeros at ±z bound the confidence interval and its zero at 0 is the estimate.
    """
    return ShiftedRankSum(x, y).statistic(mu, quantile)


def _sign(value: float) -> float:
    if value > 0:
        return 1.0
    if value < 0:
        return -1.0
    return 0.0


def zeroin(
    function: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    f_lower: float | None = None,
    f_upper: float | None = None,
    tolerance: float = ROOT_TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> float:
    """A root of `function` in [lower, upper] by Brent's method, step for step as R's `zeroin`.

    An endpoint where the function is exactly zero is returned at once. When the iterations run out, the current
    best approximation is returned without complaint (as R and Kayenta do).
    """
    a, b = lower, upper
    fa = function(a) if f_lower is None else f_lower
    fb = function(b) if f_upper is None else f_upper
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    for _ in range(max_iterations + 1):
        previous_step = b - a
        if abs(fc) < abs(fb):
            # Keep b as the best approximation so far, c on the other side of the root.
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tolerance_now = 2.0 * DOUBLE_EPSILON * abs(b) + tolerance / 2.0
        step = (c - b) / 2.0
        if abs(step) <= tolerance_now or fb == 0.0:
            return b
        if abs(previous_step) >= tolerance_now and abs(fa) > abs(fb):
            # Interpolate: linear (secant) with two distinct points, inverse quadratic with three.
            to_c = c - b
            if a == c:
                ratio = fb / fa
                p = to_c * ratio
                q = 1.0 - ratio
            else:
                q = fa / fc
                r = fb / fc
                s = fb / fa
                p = s * (to_c * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * to_c * q - abs(tolerance_now * q) / 2.0) and p < abs(previous_step * q / 2.0):
                step = p / q
        if abs(step) < tolerance_now:
            step = tolerance_now if step > 0 else -tolerance_now
        a, fa = b, fb
        b += step
        fb = function(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def shift_bounds(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """The range of shifts worth searching: [min(x) - max(y), max(x) - min(y)]."""
    return min(x) - max(y), max(x) - min(y)


def _interval_root(statistic: ShiftedRankSum, quantile: float, mu_min: float, mu_max: float) -> float:
    def target(mu: float) -> float:
        return statistic.statistic(mu, quantile)

    f_min = target(mu_min)
    if f_min <= 0:
        return mu_min
    f_max = target(mu_max)
    if f_max >= 0:
        return mu_max
    return zeroin(target, mu_min, mu_max, f_lower=f_min, f_upper=f_max)


def mann_whitney(experiment: Sequence[float], control: Sequence[float], confidence_level: float) -> MannWhitneyResult:
    """The confidence interval and location estimate of experiment minus control at `confidence_level`.

    Raises ValueError for an empty sample or a non-finite value, and AllTiedError when every value is tied.
    """
    if not experiment or not control:
        raise ValueError("both samples need at least one value")
    if not all(math.isfinite(value) for value in experiment) or not all(math.isfinite(value) for value in control):
        raise ValueError("the samples must hold finite values only")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"the confidence level must lie strictly between 0 and 1, not {confidence_level}")
    x = list(experiment)
    y = list(control)
    alpha = 1.0 - confidence_level
    z = normal_quantile(alpha / 2.0)
    mu_min, mu_max = shift_bounds(x, y)
    statistic = ShiftedRankSum(x, y)
    lower = _interval_root(statistic, -z, mu_min, mu_max)
    upper = _interval_root(statistic, z, mu_min, mu_max)
    estimate = zeroin(lambda mu: statistic.statistic(mu, 0.0), mu_min, mu_max)
    return MannWhitneyResult(lower_confidence=lower, upper_confidence=upper, estimate=estimate)
