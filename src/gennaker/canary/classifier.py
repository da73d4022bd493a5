"""Per-metric classification (kayenta.md §1.3 and §2.3): the Mann-Whitney classifier of NetflixACAJudge-v1.0.

`MetricAnalysis` reads a metric's `analysisConfigurations.canary` with Kayenta's defaults and fallbacks;
`MannWhitneyClassifier.classify` labels one (control, experiment) pair that has already been preprocessed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gennaker.canary.mannwhitney import mann_whitney
from gennaker.canary.stats import cles, mean, mean_ratio

__all__ = [
    "CanaryConfigError",
    "Classification",
    "Direction",
    "EffectSizeMeasure",
    "MannWhitneyClassifier",
    "MeanInequalityClassifier",
    "MetricAnalysis",
    "MetricClassification",
    "NanStrategy",
    "OutlierStrategy",
]


class CanaryConfigError(ValueError):
    """A canary config (or one metric of it) the judge cannot use."""


class Classification(StrEnum):
    """The exact labels Kayenta reports for a metric."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL_METRIC = "NodataFailMetric"
    ERROR = "Error"


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NanStrategy(StrEnum):
    REMOVE = "remove"
    REPLACE = "replace"


class OutlierStrategy(StrEnum):
    REMOVE = "remove"
    KEEP = "keep"


class EffectSizeMeasure(StrEnum):
    MEAN_RATIO = "meanRatio"
    CLES = "cles"


# The judge builds its classifier with these literals; the classifier's own defaults (0.25 / 0.95) serve tests only.
JUDGE_TOLERANCE = 0.25
JUDGE_CONFIDENCE_LEVEL = 0.98
DEFAULT_OUTLIER_FACTOR = 3.0


def _boolean(settings: Mapping[str, Any], key: str, metric: str) -> bool:
    value = settings.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise CanaryConfigError(f"metric {metric!r}: {key} must be a JSON boolean, not {value!r}")
    return value


def _number(settings: Mapping[str, Any], key: str, default: float, metric: str) -> float:
    value = settings.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CanaryConfigError(f"metric {metric!r}: {key} must be a number, not {value!r}")
    return float(value)


def _mapping(settings: Mapping[str, Any], key: str, metric: str) -> Mapping[str, Any]:
    value = settings.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CanaryConfigError(f"metric {metric!r}: {key} must be an object, not {value!r}")
    return value


@dataclass(frozen=True)
class MetricAnalysis:
    """A metric's `analysisConfigurations.canary`, defaults applied.

    Unknown strings fall back as Kayenta's parsers do: direction → either, nanStrategy → remove, outlier strategy
    → keep, effect size measure → meanRatio (whose defaults then apply).
    """

    direction: Direction = Direction.EITHER
    nan_strategy: NanStrategy = NanStrategy.REMOVE
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO
    allowed_increase: float = 1.0
    allowed_decrease: float = 1.0
    critical_increase: float = 1.0
    critical_decrease: float = 1.0
    outlier_strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlier_factor: float = DEFAULT_OUTLIER_FACTOR

    @classmethod
    def from_metric(cls, metric: Mapping[str, Any]) -> MetricAnalysis:
        """From a whole metric config (reads `analysisConfigurations.canary`)."""
        name = str(metric.get("name", ""))
        configurations = _mapping(metric, "analysisConfigurations", name)
        return cls.from_settings(_mapping(configurations, "canary", name), name)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], metric: str = "") -> MetricAnalysis:
        """From the `analysisConfigurations.canary` object itself."""
        direction = {d.value: d for d in Direction}.get(str(settings.get("direction")), Direction.EITHER)
        nan_strategy = {s.value: s for s in NanStrategy}.get(str(settings.get("nanStrategy")), NanStrategy.REMOVE)
        effect_size = _mapping(settings, "effectSize", metric)
        measure = EffectSizeMeasure.CLES if effect_size.get("measure") == "cles" else EffectSizeMeasure.MEAN_RATIO
        default = 0.5 if measure is EffectSizeMeasure.CLES else 1.0
        outliers = _mapping(settings, "outliers", metric)
        strategy = OutlierStrategy.REMOVE if outliers.get("strategy") == "remove" else OutlierStrategy.KEEP
        return cls(
            direction=direction,
            nan_strategy=nan_strategy,
            critical=_boolean(settings, "critical", metric),
            must_have_data=_boolean(settings, "mustHaveData", metric),
            muted=_boolean(settings, "muted", metric),
            effect_size_measure=measure,
            allowed_increase=_number(effect_size, "allowedIncrease", default, metric),
            allowed_decrease=_number(effect_size, "allowedDecrease", default, metric),
            critical_increase=_number(effect_size, "criticalIncrease", default, metric),
            critical_decrease=_number(effect_size, "criticalDecrease", default, metric),
            outlier_strategy=strategy,
            outlier_factor=_number(outliers, "outlierFactor", DEFAULT_OUTLIER_FACTOR, metric),
        )


@dataclass(frozen=True)
class MetricClassification:
    """A label with its reason, the reported deviation (mean ratio) and whether it fails the whole canary."""

    classification: Classification
    reason: str | None
    deviation: float
    critical: bool


def _distinct(values: Sequence[float]) -> set[float]:
    return set(values)


def _with_noise(values: Sequence[float], rng: random.Random) -> list[float]:
    """Each value plus Gaussian noise of sigma = |value|·1e-5 (a zero value stays zero)."""
    return [value + rng.gauss(0.0, abs(value) * 1e-5) if value != 0.0 else value for value in values]


def _effect_size(measure: EffectSizeMeasure, control: Sequence[float], experiment: Sequence[float]) -> float:
    if measure is EffectSizeMeasure.CLES:
        return cles(control, experiment)
    return mean_ratio(control, experiment)


def _missing_data(
    nan_strategy: NanStrategy, critical: bool, must_have_data: bool, metric_name: str
) -> MetricClassification:
    """The label of a metric with no data on one side (both classifiers' first rule)."""
    if nan_strategy is NanStrategy.REPLACE:
        return MetricClassification(Classification.PASS, None, 1.0, False)
    reason = f"Missing data for {metric_name}"
    if must_have_data and not critical:
        return MetricClassification(Classification.NODATA_FAIL_METRIC, reason, 1.0, False)
    return MetricClassification(Classification.NODATA, reason, 1.0, critical)


@dataclass
class MannWhitneyClassifier:
    """The judge's metric classifier. The judge uses tolerance 0.25 and confidence 0.98 (`for_judge`)."""

    tolerance: float = 0.25
    confidence_level: float = 0.95
    rng: random.Random | None = None

    @classmethod
    def for_judge(cls, rng: random.Random | None = None) -> MannWhitneyClassifier:
        return cls(tolerance=JUDGE_TOLERANCE, confidence_level=JUDGE_CONFIDENCE_LEVEL, rng=rng)

    def classify(
        self,
        control: Sequence[float],
        experiment: Sequence[float],
        *,
        direction: Direction = Direction.EITHER,
        nan_strategy: NanStrategy = NanStrategy.REMOVE,
        critical: bool = False,
        must_have_data: bool = False,
        effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO,
        allowed_decrease: float = 1.0,
        allowed_increase: float = 1.0,
        critical_decrease: float = 1.0,
        critical_increase: float = 1.0,
        metric_name: str = "",
    ) -> MetricClassification:
        """Label a preprocessed pair; the first rule that applies wins (kayenta.md §2.3 steps 1-11).

        Raises AllTiedError (or ValueError for non-finite data) where Kayenta's classifier throws; the judge turns
        any exception into the `Error` label.
        """
        if not control or not experiment:
            return _missing_data(nan_strategy, critical, must_have_data, metric_name)

        if sorted(experiment) == sorted(control):
            return MetricClassification(Classification.PASS, "The Canary and Baseline data are identical", 1.0, False)
        experiment_values = _distinct(experiment)
        control_values = _distinct(control)
        if len(experiment_values | control_values) == 1:
            return MetricClassification(Classification.PASS, "All values are equal", 1.0, False)

        deviation = mean_ratio(control, experiment)
        x: Sequence[float] = experiment
        y: Sequence[float] = control
        if len(experiment_values) == 1 and len(control_values) == 1:
            # Two different constants: every rank would tie within a side; a trace of noise lets the test run.
            rng = self.rng if self.rng is not None else random.Random()
            x = _with_noise(experiment, rng)
            y = _with_noise(control, rng)

        result = mann_whitney(x, y, self.confidence_level)
        bound = self.tolerance * abs(result.estimate)
        effect = _effect_size(effect_size_measure, y, x)
        unknown_effect = math.isnan(effect)

        label = Classification.PASS
        if (
            direction in (Direction.INCREASE, Direction.EITHER)
            and result.lower_confidence > bound
            and (unknown_effect or effect >= allowed_increase)
        ):
            label = Classification.HIGH
        elif (
            direction in (Direction.DECREASE, Direction.EITHER)
            and result.upper_confidence < -bound
            and (unknown_effect or effect <= allowed_decrease)
        ):
            label = Classification.LOW
        if label is Classification.PASS:
            return MetricClassification(Classification.PASS, None, deviation, False)

        is_critical = critical and (
            unknown_effect
            or (label is Classification.HIGH and effect >= critical_increase)
            or (label is Classification.LOW and effect <= critical_decrease)
        )
        reason = (
            f"{metric_name} was classified as {label.value}: the canary is "
            f"{'higher' if label is Classification.HIGH else 'lower'} than the baseline "
            f"(confidence interval [{result.lower_confidence:.6g}, {result.upper_confidence:.6g}], "
            f"estimate {result.estimate:.6g}, {effect_size_measure.value} {effect:.6g})"
        ).lstrip()
        return MetricClassification(label, reason, deviation, is_critical)


class MeanInequalityClassifier:
    """A benchmarking aid, not used by the judge: High if the experiment's mean is larger, Low if smaller."""

    def classify(
        self,
        control: Sequence[float],
        experiment: Sequence[float],
        *,
        direction: Direction = Direction.EITHER,
        nan_strategy: NanStrategy = NanStrategy.REMOVE,
        critical: bool = False,
        must_have_data: bool = False,
        metric_name: str = "",
    ) -> MetricClassification:
        if not control or not experiment:
            return _missing_data(nan_strategy, critical, must_have_data, metric_name)
        deviation = mean_ratio(control, experiment)
        experiment_mean = mean(experiment)
        control_mean = mean(control)
        if direction in (Direction.INCREASE, Direction.EITHER) and experiment_mean > control_mean:
            return MetricClassification(Classification.HIGH, f"{metric_name} mean increased", deviation, critical)
        if direction in (Direction.DECREASE, Direction.EITHER) and experiment_mean < control_mean:
            return MetricClassification(Classification.LOW, f"{metric_name} mean decreased", deviation, critical)
        return MetricClassification(Classification.PASS, None, deviation, False)
