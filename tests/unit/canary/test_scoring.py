"""The weighted-sum scorer and the judge's score label beyond the vectors (kayenta.md §2.6, §2.7)."""

from __future__ import annotations

import pytest

from gennaker.canary.classifier import Classification
from gennaker.canary.scoring import ScoreClassification, ScoredMetric, classify_score, round_half_up, score_metrics

P = Classification.PASS
H = Classification.HIGH
N = Classification.NODATA


def m(label: Classification, *groups: str, critical: bool = False, muted: bool = False) -> ScoredMetric:
    return ScoredMetric(label, groups, critical, muted, reason=f"{label.value} in {','.join(groups)}")


def test_rounding_is_half_up_on_the_decimal_representation() -> None:
    assert round_half_up(0.125) == 0.13  # round() gives 0.12
    assert round_half_up(2.675) == 2.68  # the binary value is below 2.675, its repr is not
    assert round_half_up(33.3333333) == 33.33
    assert round_half_up(-1.005) == -1.01


def test_muted_metrics_are_not_scored() -> None:
    result = score_metrics([m(P, "a"), m(H, "a", muted=True)], {})
    assert result.summary_score == 100.0
    # A muted critical failure does not zero the score either.
    assert score_metrics([m(P, "a"), m(H, "a", critical=True, muted=True)], {}).summary_score == 100.0


def test_error_and_nodata_are_outside_the_group_ratio() -> None:
    result = score_metrics([m(P, "a"), m(H, "a"), m(Classification.ERROR, "a"), m(P, "b")], {})
    assert {g.name: g.score for g in result.group_scores} == {"a": 50.0, "b": 100.0}
    assert result.summary_score == 75.0


def test_nodata_fail_metric_counts_as_a_failure() -> None:
    result = score_metrics([m(P, "a"), m(Classification.NODATA_FAIL_METRIC, "a")], {})
    assert result.summary_score == 50.0


def test_a_critical_failure_zeroes_the_score_with_its_reason() -> None:
    result = score_metrics([m(P, "a"), m(P, "b"), m(H, "b", critical=True), m(N, "c", critical=True)], {})
    assert result.summary_score == 0.0
    assert result.reason == "Canary Failed: High in b"


def test_half_or_more_nodata_zeroes_the_score() -> None:
    half = score_metrics([m(P, "a"), m(N, "b")], {})
    assert (half.summary_score, half.reason) == (0.0, "Canary Failed: 50% or more metrics returned NODATA")
    assert score_metrics([m(P, "a"), m(P, "a"), m(N, "b")], {}).summary_score == 100.0


def test_unweighted_groups_share_what_the_weights_leave() -> None:
    metrics = [m(P, "a"), m(H, "b"), m(P, "c")]
    # a has 50; b and c share the other 50.
    assert score_metrics(metrics, {"a": 50}).summary_score == 75.0
    # Without weights every group gets a third.
    assert score_metrics(metrics, {}).summary_score == pytest.approx(66.67)


def test_weights_of_groups_without_results_are_not_redistributed() -> None:
    assert score_metrics([m(P, "a")], {"a": 60, "missing": 40}).summary_score == 60.0


def test_a_metric_in_several_groups_counts_in_each() -> None:
    result = score_metrics([m(H, "a", "b"), m(P, "b")], {"a": 50, "b": 50})
    assert {g.name: g.score for g in result.group_scores} == {"a": 0.0, "b": 50.0}
    assert result.summary_score == 25.0


def test_group_scores_json_shape() -> None:
    group = score_metrics([m(P, "a")], {}).group_scores[0]
    assert group.to_json() == {"name": "a", "score": 100.0, "classification": "", "classificationReason": ""}


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (95.0, ScoreClassification.PASS),
        (94.99, ScoreClassification.MARGINAL),
        (75.0, ScoreClassification.MARGINAL),
        (74.99, ScoreClassification.FAIL),
    ],
)
def test_the_judges_label_includes_both_boundaries(score: float, label: ScoreClassification) -> None:
    assert classify_score(score, 95, 75) is label
