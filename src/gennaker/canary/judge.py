"""NetflixACAJudge-v1.0: from a canary config, the request's thresholds and the metric set pairs to a judge result
(kayenta.md §2).

Each pair is preprocessed per side (NaN handling, then optionally outlier removal), described, and classified by
the Mann-Whitney classifier at tolerance 0.25 and confidence 0.98; the results are scored by group weights and the
summary score is labelled Pass / Marginal / Fail. The output has Kayenta's `CanaryJudgeResult` JSON shape.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from gennaker.canary.classifier import (
    CanaryConfigError,
    Classification,
    MannWhitneyClassifier,
    MetricAnalysis,
    MetricClassification,
    NanStrategy,
    OutlierStrategy,
)
from gennaker.canary.metric_sets import MetricSetPair
from gennaker.canary.scoring import ScoredMetric, classify_score, score_metrics
from gennaker.canary.stats import summary
from gennaker.canary.transforms import IQRDetector, remove_nans, remove_outliers, replace_nans

__all__ = [
    "JUDGE_NAME",
    "CanaryConfigError",
    "judge",
    "judge_name_for",
    "prepare_side",
]

JUDGE_NAME = "NetflixACAJudge-v1.0"
ERROR_REASON = "Metric Classification Failed"


def prepare_side(values: Sequence[float], analysis: MetricAnalysis) -> list[float]:
    """One side after the judge's transforms: NaN removed (or replaced by 0), then outliers removed if asked."""
    prepared = replace_nans(values, 0.0) if analysis.nan_strategy is NanStrategy.REPLACE else remove_nans(values)
    if analysis.outlier_strategy is OutlierStrategy.REMOVE and prepared:
        detector = IQRDetector(factor=analysis.outlier_factor, reduce_sensitivity=True)
        prepared = remove_outliers(prepared, detector)
    return prepared


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _stats_json(values: Sequence[float]) -> dict[str, Any]:
    return {"stats": {k: _json_number(v) if isinstance(v, float) else v for k, v in summary(values).to_json().items()}}


def _metric_configs(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    metrics = config.get("metrics") or []
    if not isinstance(metrics, list):
        raise CanaryConfigError("metrics must be a list")
    by_name: dict[str, Mapping[str, Any]] = {}
    for metric in metrics:
        if not isinstance(metric, Mapping) or not metric.get("name"):
            raise CanaryConfigError("every metric needs a name")
        by_name[str(metric["name"])] = metric
    return by_name


def _groups(metric: Mapping[str, Any]) -> tuple[str, ...]:
    groups = metric.get("groups") or []
    if isinstance(groups, str):
        return (groups,)
    return tuple(str(g) for g in groups)


def _thresholds(thresholds: Mapping[str, Any] | None) -> tuple[float, float]:
    if not thresholds or thresholds.get("pass") is None or thresholds.get("marginal") is None:
        raise CanaryConfigError("Execution request must contain thresholds")
    return float(thresholds["pass"]), float(thresholds["marginal"])


def judge_name_for(config: Mapping[str, Any], override_judge_name: str | None = None) -> str:
    """The judge a run uses: a non-empty override, else the config's `judge.name`, else the only judge."""
    if override_judge_name:
        return override_judge_name
    judge_config = config.get("judge") or {}
    name = judge_config.get("name") if isinstance(judge_config, Mapping) else None
    return str(name) if name else JUDGE_NAME


def judge(
    config: Mapping[str, Any],
    pairs: Sequence[MetricSetPair],
    thresholds: Mapping[str, Any] | None,
    *,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Judge the pairs against the canary config; `thresholds` is the request's `{pass, marginal}`.

    A metric whose classification raises is labelled `Error` (counted neither in its group nor by the critical
    rule) and the exception's text is kept in `resultMetadata.error`. Config problems raise CanaryConfigError.
    """
    pass_threshold, marginal_threshold = _thresholds(thresholds)
    metric_configs = _metric_configs(config)
    classifier = MannWhitneyClassifier.for_judge(rng)
    results: list[dict[str, Any]] = []
    scored: list[ScoredMetric] = []
    for pair in pairs:
        metric = metric_configs.get(pair.name)
        if metric is None:
            raise CanaryConfigError(f"no metric named {pair.name!r} in the canary config")
        analysis = MetricAnalysis.from_metric(metric)
        control = prepare_side(pair.control, analysis)
        experiment = prepare_side(pair.experiment, analysis)
        metadata: dict[str, Any] = {}
        try:
            outcome = classifier.classify(
                control,
                experiment,
                direction=analysis.direction,
                nan_strategy=analysis.nan_strategy,
                critical=analysis.critical,
                must_have_data=analysis.must_have_data,
                effect_size_measure=analysis.effect_size_measure,
                allowed_decrease=analysis.allowed_decrease,
                allowed_increase=analysis.allowed_increase,
                critical_decrease=analysis.critical_decrease,
                critical_increase=analysis.critical_increase,
                metric_name=pair.name,
            )
        except Exception as error:
            outcome = MetricClassification(Classification.ERROR, ERROR_REASON, math.nan, False)
            metadata["error"] = f"{type(error).__name__}: {error}"
        groups = _groups(metric)
        metadata["ratio"] = _json_number(outcome.deviation)
        results.append(
            {
                "name": pair.name,
                "id": pair.id,
                "tags": dict(pair.tags),
                "classification": outcome.classification.value,
                "classificationReason": outcome.reason,
                "groups": list(groups),
                "experimentMetadata": _stats_json(experiment),
                "controlMetadata": _stats_json(control),
                "resultMetadata": metadata,
                "critical": outcome.critical,
                "muted": analysis.muted,
            }
        )
        scored.append(
            ScoredMetric(
                classification=outcome.classification,
                groups=groups,
                critical=outcome.critical,
                muted=analysis.muted,
                reason=outcome.reason,
            )
        )
    classifier_config = config.get("classifier") or {}
    weights = classifier_config.get("groupWeights") or {} if isinstance(classifier_config, Mapping) else {}
    scoring = score_metrics(scored, {str(k): float(v) for k, v in weights.items()})
    label = classify_score(scoring.summary_score, pass_threshold, marginal_threshold)
    return {
        "judgeName": JUDGE_NAME,
        "results": results,
        "groupScores": [group.to_json() for group in scoring.group_scores],
        "score": {
            "score": scoring.summary_score,
            "classification": label.value,
            "classificationReason": scoring.reason or "",
        },
    }
