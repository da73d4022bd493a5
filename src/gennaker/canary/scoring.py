"""Scoring the classified metrics into one canary score (kayenta.md §2.6 and §2.7).

The weighted-sum scorer of NetflixACAJudge-v1.0, and the judge's own Pass/Marginal/Fail split of the summary score.
(The kayentaCanary stage does not use that split; it compares the number itself, see `intervals`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from gennaker.canary.classifier import Classification

__all__ = [
    "GroupScore",
    "ScoreClassification",
    "ScoreResult",
    "ScoredMetric",
    "classify_score",
    "round_half_up",
    "score_metrics",
]

NODATA_SHARE_FAILING = 0.5


@dataclass(frozen=True)
class ScoredMetric:
    """What the scorer needs of one metric result."""

    classification: Classification
    groups: tuple[str, ...] = ()
    critical: bool = False
    muted: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class GroupScore:
    """A group's score; `no_data` groups report 0.0 but count as 100 in the summary."""

    name: str
    score: float
    no_data: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "score": self.score, "classification": "", "classificationReason": ""}


@dataclass(frozen=True)
class ScoreResult:
    summary_score: float
    group_scores: tuple[GroupScore, ...]
    reason: str | None


def round_half_up(value: float, places: int = 2) -> float:
    """Round on the shortest decimal representation, halves away from zero (Python's `round` is half-even)."""
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def _group_score(name: str, members: Sequence[ScoredMetric]) -> GroupScore:
    passed = sum(1 for m in members if m.classification is Classification.PASS)
    counted = sum(
        1
        for m in members
        if m.classification
        in (Classification.PASS, Classification.HIGH, Classification.LOW, Classification.NODATA_FAIL_METRIC)
    )
    if counted == 0:
        return GroupScore(name=name, score=0.0, no_data=True)
    return GroupScore(name=name, score=100.0 * passed / counted, no_data=False)


def score_metrics(metrics: Sequence[ScoredMetric], group_weights: Mapping[str, float]) -> ScoreResult:
    """The summary score (0..100, two decimals) and the group scores of the classified metrics.

    Muted metrics are left out. Any critical non-Pass metric, or Nodata in at least half of the metrics, makes the
    score 0. Otherwise groups are weighted by `group_weights` (percent); groups without a weight share what the
    configured weights leave of 100.
    """
    scored = [m for m in metrics if not m.muted]
    groups: dict[str, list[ScoredMetric]] = {}
    for metric in scored:
        for group_name in metric.groups:
            groups.setdefault(group_name, []).append(metric)
    group_scores = tuple(_group_score(name, members) for name, members in groups.items())

    failing_critical = next((m for m in scored if m.critical and m.classification is not Classification.PASS), None)
    if failing_critical is not None:
        return ScoreResult(0.0, group_scores, f"Canary Failed: {failing_critical.reason or ''}")
    nodata = sum(1 for m in scored if m.classification is Classification.NODATA)
    if scored and nodata / len(scored) >= NODATA_SHARE_FAILING:
        return ScoreResult(0.0, group_scores, "Canary Failed: 50% or more metrics returned NODATA")

    configured = sum(float(weight) for weight in group_weights.values())
    unweighted = [g for g in group_scores if g.name not in group_weights]
    shared = (100.0 - configured) / len(unweighted) if unweighted else 0.0
    total = 0.0
    for group in group_scores:
        weight = float(group_weights[group.name]) if group.name in group_weights else shared
        effective = 100.0 if group.no_data else group.score
        total += effective * weight / 100.0
    return ScoreResult(round_half_up(total), group_scores, None)


class ScoreClassification(StrEnum):
    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"


def classify_score(score: float, pass_threshold: float, marginal_threshold: float) -> ScoreClassification:
    """The judge's label: ≥ pass is Pass, else ≥ marginal is Marginal, else Fail."""
    if score >= pass_threshold:
        return ScoreClassification.PASS
    if score >= marginal_threshold:
        return ScoreClassification.MARGINAL
    return ScoreClassification.FAIL
