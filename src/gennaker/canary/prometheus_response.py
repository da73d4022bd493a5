"""Turning a Prometheus `/api/v1/query_range` answer into metric sets (kayenta.md §4.4).

Pure functions: the HTTP call belongs to the Prometheus account. The step is taken from the first two returned
timestamps, not from the request; later timestamps are ignored, so a gap in the series shifts later values left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gennaker.canary.metric_sets import MetricSet, parse_value

__all__ = ["PrometheusResponseError", "convert_range_result", "metric_sets_for_response"]


class PrometheusResponseError(ValueError):
    """A query_range body that is not what Prometheus sends."""


def _result(body: Mapping[str, Any]) -> Sequence[Any]:
    if body.get("status") not in (None, "success"):
        raise PrometheusResponseError(f"Prometheus answered {body.get('status')}: {body.get('error', '')}")
    data = body.get("data", body)
    if not isinstance(data, Mapping):
        raise PrometheusResponseError("the answer has no data object")
    result = data.get("result")
    if result is None:
        return []
    if not isinstance(result, list):
        raise PrometheusResponseError("data.result is not a list")
    return result


def convert_range_result(body: Mapping[str, Any], metric_name: str, query: str = "") -> list[MetricSet] | None:
    """One metric set per series in the answer (a full body, or just its `data`); None when there are none.

    Tags are the series labels without `__name__`. start = first timestamp; step = second - first (0 for a single
    point); end = start + len(values)·step. Every set gets the attribute `query`.
    """
    series_list = _result(body)
    if not series_list:
        return None
    metric_sets = []
    for series in series_list:
        if not isinstance(series, Mapping):
            raise PrometheusResponseError("a series is not an object")
        labels = series.get("metric") or {}
        tags = {str(k): str(v) for k, v in labels.items() if k != "__name__"}
        points = series.get("values") or []
        if not points:
            start_millis = 0
            step_millis = 0
        else:
            start_millis = round(float(points[0][0]) * 1000)
            step_millis = round(float(points[1][0]) * 1000) - start_millis if len(points) > 1 else 0
        values = tuple(parse_value(point[1]) for point in points)
        metric_sets.append(
            MetricSet(
                name=metric_name,
                tags=tags,
                start_time_millis=start_millis,
                end_time_millis=start_millis + len(values) * step_millis,
                step_millis=step_millis,
                values=values,
                attributes={"query": query} if query else {},
            )
        )
    return metric_sets


def metric_sets_for_response(
    body: Mapping[str, Any],
    metric_name: str,
    query: str,
    *,
    start: datetime,
    end: datetime,
    step_seconds: int,
) -> list[MetricSet]:
    """What the metrics service stores for one fetch: the converted series, or for an empty answer one empty set
    spanning the requested window (which the mixer later pads with NaN)."""
    converted = convert_range_result(body, metric_name, query)
    if converted is not None:
        return converted
    start_millis = round(start.timestamp() * 1000)
    return [
        MetricSet(
            name=metric_name,
            tags={},
            start_time_millis=start_millis,
            end_time_millis=round(end.timestamp() * 1000),
            step_millis=step_seconds * 1000,
            values=(),
            attributes={"query": query},
        )
    ]
