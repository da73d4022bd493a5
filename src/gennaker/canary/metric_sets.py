"""Metric sets as fetched, and their pairing into control/experiment pairs for the judge (kayenta.md §4.5).

Series are paired per metric name and by their tags; there is no timestamp alignment at all. A side that fetched
less than its window's worth of points is padded with NaN at the end, and a series missing on one side is paired
with a placeholder of NaNs, so that `nanStrategy` decides later whether missing data means Nodata or zeros.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["MetricSet", "MetricSetMixError", "MetricSetPair", "mix_metric_sets", "parse_value"]


class MetricSetMixError(ValueError):
    """Control and experiment series that cannot be paired."""


def parse_value(value: Any) -> float:
    """A value as JSON carries it: a number, or the strings "NaN", "+Inf"/"Inf", "-Inf" (or a numeric string)."""
    if isinstance(value, bool):
        raise ValueError(f"not a metric value: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return math.nan
    text = str(value).strip()
    special = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "infinity": math.inf, "-inf": -math.inf}
    if text.lower() in special:
        return special[text.lower()]
    return float(text)


def _json_value(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def _iso(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000.0, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class MetricSet:
    """One fetched series: values every `step_millis` from `start_time_millis` (Kayenta's `MetricSet`)."""

    name: str
    tags: Mapping[str, str]
    start_time_millis: int
    end_time_millis: int
    step_millis: int
    values: tuple[float, ...]
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def expected_data_points(self) -> int:
        """(end - start) / step, or 0 without a step."""
        if self.step_millis <= 0:
            return 0
        return (self.end_time_millis - self.start_time_millis) // self.step_millis

    def padded(self) -> tuple[float, ...]:
        """The values, padded with NaN at the end up to `expected_data_points`."""
        missing = self.expected_data_points - len(self.values)
        return self.values + (math.nan,) * missing if missing > 0 else self.values

    def scope_json(self) -> dict[str, Any]:
        return {
            "startTimeMillis": self.start_time_millis,
            "startTimeIso": _iso(self.start_time_millis),
            "stepMillis": self.step_millis,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tags": dict(self.tags),
            "startTimeMillis": self.start_time_millis,
            "startTimeIso": _iso(self.start_time_millis),
            "endTimeMillis": self.end_time_millis,
            "endTimeIso": _iso(self.end_time_millis),
            "stepMillis": self.step_millis,
            "values": [_json_value(v) for v in self.values],
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True)
class MetricSetPair:
    """A control and an experiment series of one metric (one tag combination) for the judge."""

    name: str
    id: str
    tags: Mapping[str, str]
    control: tuple[float, ...]
    experiment: tuple[float, ...]
    scopes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "tags": dict(self.tags),
            "values": {
                "control": [_json_value(v) for v in self.control],
                "experiment": [_json_value(v) for v in self.experiment],
            },
            "scopes": {side: dict(scope) for side, scope in self.scopes.items()},
            "attributes": {side: dict(attrs) for side, attrs in self.attributes.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricSetPair:
        values = data.get("values") or {}
        return cls(
            name=str(data["name"]),
            id=str(data.get("id") or uuid.uuid4()),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            control=tuple(parse_value(v) for v in values.get("control") or ()),
            experiment=tuple(parse_value(v) for v in values.get("experiment") or ()),
            scopes=dict(data.get("scopes") or {}),
            attributes=dict(data.get("attributes") or {}),
        )


def _placeholder(template: MetricSet) -> MetricSet:
    return MetricSet(
        name=template.name,
        tags=template.tags,
        start_time_millis=template.start_time_millis,
        end_time_millis=template.end_time_millis,
        step_millis=template.step_millis,
        values=(math.nan,) * template.expected_data_points,
    )


def _tag_key(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(tags.items()))


def _pair(control: MetricSet, experiment: MetricSet, new_id: Callable[[], str]) -> MetricSetPair:
    if control.name != experiment.name:
        raise MetricSetMixError(f"metric set names differ: {control.name!r} and {experiment.name!r}")
    if dict(control.tags) != dict(experiment.tags):
        raise MetricSetMixError(f"metric {control.name!r}: tags differ: {dict(control.tags)} and {experiment.tags}")
    return MetricSetPair(
        name=control.name,
        id=new_id(),
        tags=dict(control.tags),
        control=control.padded(),
        experiment=experiment.padded(),
        scopes={"control": control.scope_json(), "experiment": experiment.scope_json()},
        attributes={"control": dict(control.attributes), "experiment": dict(experiment.attributes)},
    )


def _mix_one(
    controls: Sequence[MetricSet], experiments: Sequence[MetricSet], new_id: Callable[[], str]
) -> list[MetricSetPair]:
    control_tagged = [s for s in controls if s.tags]
    experiment_tagged = [s for s in experiments if s.tags]
    if control_tagged and experiment_tagged:
        control_keys = {frozenset(s.tags) for s in control_tagged}
        experiment_keys = {frozenset(s.tags) for s in experiment_tagged}
        if control_keys != experiment_keys:
            name = (controls or experiments)[0].name
            raise MetricSetMixError(f"metric {name!r}: control and experiment are tagged with different label names")
    if not control_tagged and experiment_tagged:
        # The control came back untagged (typically the empty result): every experiment series pairs with NaNs.
        return [_pair(_placeholder(s), s, new_id) for s in experiment_tagged]
    if control_tagged and not experiment_tagged:
        return [_pair(s, _placeholder(s), new_id) for s in control_tagged]

    by_tags_control = {_tag_key(s.tags): s for s in controls}
    by_tags_experiment = {_tag_key(s.tags): s for s in experiments}
    keys = list(by_tags_control)
    keys.extend(k for k in by_tags_experiment if k not in by_tags_control)
    pairs = []
    for key in keys:
        found_control = by_tags_control.get(key)
        found_experiment = by_tags_experiment.get(key)
        if found_control is None and found_experiment is not None:
            found_control = _placeholder(found_experiment)
        if found_experiment is None and found_control is not None:
            found_experiment = _placeholder(found_control)
        if found_control is not None and found_experiment is not None:
            pairs.append(_pair(found_control, found_experiment, new_id))
    return pairs


def mix_metric_sets(
    control: Sequence[MetricSet],
    experiment: Sequence[MetricSet],
    *,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> list[MetricSetPair]:
    """Pair every control series with its experiment series (per metric name, then by tags), NaN-padded."""
    names: list[str] = []
    for metric_set in (*control, *experiment):
        if metric_set.name not in names:
            names.append(metric_set.name)
    pairs: list[MetricSetPair] = []
    for name in names:
        pairs.extend(
            _mix_one([s for s in control if s.name == name], [s for s in experiment if s.name == name], new_id)
        )
    return pairs
