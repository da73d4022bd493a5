"""The kayentaCanary stage's pure parts: the interval plan and the rules that turn scores into a stage status
(kayenta.md §3.1-§3.3).

`plan_intervals` reads the stage's `canaryConfig` and gives the judgements to run: optionally a warm-up wait, then
for each interval i = 1..N (N = floor(lifetime / interval)) an interval wait (real-time mode only) and a canary run
whose experiment window is [start, end] and whose control window is that shifted `baselineAnalysisOffsetInMins`
earlier. `interval_status` is the gate after each run (a score at or below marginal fails at once);
`aggregate_final_score` decides the stage from the last score (it must reach pass).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "DEFAULT_STEP_SECONDS",
    "MIN_DATA_POINTS",
    "AggregateResult",
    "CanaryRun",
    "IntervalPlan",
    "IntervalPlanError",
    "PlanMode",
    "StageStatus",
    "Window",
    "aggregate_final_score",
    "interval_status",
    "interval_warnings",
    "order_run_scores",
    "parse_duration",
    "plan_intervals",
    "request_thresholds",
]

DEFAULT_STEP_SECONDS = 60
DEFAULT_THRESHOLDS = {"pass": 75, "marginal": 50}
MIN_DATA_POINTS = 50
LOW_DATA_WARNING = (
    "One of the metrics returned fewer than 50 data points, which can reduce confidence in the final canary score."
)


class IntervalPlanError(ValueError):
    """A canaryConfig the interval planner cannot use."""


class PlanMode(StrEnum):
    REALTIME = "realtime"  # windows relative to now, each run waits for its interval to pass
    RETROSPECTIVE = "retrospective"  # windows relative to the scope's startTimeIso, runs at once


class StageStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    TERMINAL = "TERMINAL"
    FAILED_CONTINUE = "FAILED_CONTINUE"


_DURATION = re.compile(
    r"^(?P<sign>[-+]?)P(?:(?P<days>[-+]?\d+)D)?"
    r"(?:T(?:(?P<hours>[-+]?\d+)H)?(?:(?P<minutes>[-+]?\d+)M)?(?:(?P<seconds>[-+]?\d+(?:[.,]\d{0,9})?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration as Java's `Duration.parse` reads it: `PnDTnHnMn.nS` (e.g. `PT1H`, `P2D`, `PT90M`)."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise IntervalPlanError(f"not an ISO-8601 duration: {text!r}")
    parts = match.groupdict()
    if not any(parts[k] for k in ("days", "hours", "minutes", "seconds")):
        raise IntervalPlanError(f"not an ISO-8601 duration: {text!r}")
    total = timedelta(
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float((parts["seconds"] or "0").replace(",", ".")),
    )
    return -total if parts["sign"] == "-" else total


def _optional_int(config: Mapping[str, Any], key: str) -> int | None:
    """A whole number that Deck may have saved as a number, a numeric string or "" (meaning absent)."""
    value = config.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise IntervalPlanError(f"{key} must be a number, not {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise IntervalPlanError(f"{key} must be a number, not {value!r}") from error
    if not math.isfinite(number):
        raise IntervalPlanError(f"{key} must be a finite number, not {value!r}")
    return int(number)


def _instant(value: Any, key: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise IntervalPlanError(f"{key} is not an ISO-8601 instant: {value!r}") from error
    if moment.tzinfo is None:
        raise IntervalPlanError(f"{key} needs a time zone (e.g. a trailing Z): {value!r}")
    return moment


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def shifted(self, minutes: int) -> Window:
        delta = timedelta(minutes=minutes)
        return Window(self.start - delta, self.end - delta)


@dataclass(frozen=True)
class CanaryRun:
    """One judgement, "Run Canary #number", preceded in real-time mode by a wait of `wait_seconds`."""

    number: int
    experiment: Window
    control: Window
    step_seconds: int
    wait_seconds: int | None
    scopes: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"Run Canary #{self.number}"

    @property
    def wait_name(self) -> str:
        return f"Interval Wait #{self.number}"


@dataclass(frozen=True)
class IntervalPlan:
    mode: PlanMode
    lifetime_minutes: int
    interval_minutes: int
    warmup_wait_seconds: int | None
    runs: tuple[CanaryRun, ...]

    def stages(self) -> list[dict[str, Any]]:
        """The synthetic stages in order: `{"type": "wait"|"runCanary", "name", "context"}`."""
        stages: list[dict[str, Any]] = []
        if self.warmup_wait_seconds is not None:
            stages.append({"type": "wait", "name": "Warmup Wait", "context": {"waitTime": self.warmup_wait_seconds}})
        for run in self.runs:
            if run.wait_seconds is not None:
                stages.append({"type": "wait", "name": run.wait_name, "context": {"waitTime": run.wait_seconds}})
            stages.append({"type": "runCanary", "name": run.name, "context": {"scopes": dict(run.scopes)}})
        return stages


def _scope_pairs(scopes: Sequence[Mapping[str, Any]], experiment: Window, control: Window, step: int) -> dict[str, Any]:
    """Kayenta's request `scopes`: {scopeName: {controlScope, experimentScope}} for one judgement."""
    pairs: dict[str, Any] = {}
    for scope in scopes:
        params = dict(scope.get("extendedScopeParams") or {})
        name = str(scope.get("scopeName") or "default")
        pairs[name] = {
            "controlScope": {
                "scope": scope.get("controlScope"),
                "location": scope.get("controlLocation"),
                "start": _iso(control.start),
                "end": _iso(control.end),
                "step": step,
                "extendedScopeParams": params,
            },
            "experimentScope": {
                "scope": scope.get("experimentScope"),
                "location": scope.get("experimentLocation"),
                "start": _iso(experiment.start),
                "end": _iso(experiment.end),
                "step": step,
                "extendedScopeParams": params,
            },
        }
    return pairs


def plan_intervals(canary_config: Mapping[str, Any], now: datetime) -> IntervalPlan:
    """The judgements of a kayentaCanary stage whose `canaryConfig` is given, planned at `now` (aware datetime)."""
    scopes = canary_config.get("scopes") or []
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, Mapping) for s in scopes):
        raise IntervalPlanError("Canary stage configuration must contain at least one scope.")
    first = scopes[0]
    step = _optional_int(first, "step")
    step = DEFAULT_STEP_SECONDS if step is None else step
    start_time = _instant(first.get("startTimeIso"), "startTimeIso")
    end_time = _instant(first.get("endTimeIso"), "endTimeIso")

    if end_time is not None:
        mode = PlanMode.RETROSPECTIVE
        origin = start_time or now
        lifetime = math.floor((end_time - origin).total_seconds() / 60)
    else:
        mode = PlanMode.REALTIME
        origin = now
        duration = canary_config.get("lifetimeDuration")
        hours = canary_config.get("lifetimeHours")
        if duration not in (None, ""):
            lifetime = math.floor(parse_duration(str(duration)).total_seconds() / 60)
        elif hours not in (None, ""):
            try:
                lifetime = math.floor(float(hours) * 60)
            except (TypeError, ValueError) as error:
                raise IntervalPlanError(f"lifetimeHours must be a number, not {hours!r}") from error
        else:
            raise IntervalPlanError("Canary stage configuration must include either `endTime` or `lifetimeDuration`.")
    if lifetime <= 0:
        raise IntervalPlanError(f"the canary lifetime must be at least one minute, not {lifetime} minutes")

    interval = _optional_int(canary_config, "canaryAnalysisIntervalMins")
    if interval is None or interval <= 0 or interval > lifetime:
        interval = lifetime
    warmup = _optional_int(canary_config, "beginCanaryAnalysisAfterMins") or 0
    lookback = _optional_int(canary_config, "lookbackMins") or 0
    offset = _optional_int(canary_config, "baselineAnalysisOffsetInMins") or 0
    if warmup < 0 or lookback < 0:
        raise IntervalPlanError("beginCanaryAnalysisAfterMins and lookbackMins cannot be negative")

    runs = []
    for number in range(1, lifetime // interval + 1):
        start = origin + timedelta(minutes=warmup) if mode is PlanMode.REALTIME else origin
        end = start + timedelta(minutes=number * interval)
        if lookback > 0:
            start = end - timedelta(minutes=lookback)
        experiment = Window(start, end)
        control = experiment.shifted(offset)
        runs.append(
            CanaryRun(
                number=number,
                experiment=experiment,
                control=control,
                step_seconds=step,
                wait_seconds=interval * 60 if mode is PlanMode.REALTIME else None,
                scopes=_scope_pairs(scopes, experiment, control, step),
            )
        )
    return IntervalPlan(
        mode=mode,
        lifetime_minutes=lifetime,
        interval_minutes=interval,
        warmup_wait_seconds=warmup * 60 if warmup > 0 else None,
        runs=tuple(runs),
    )


def _threshold(thresholds: Mapping[str, Any] | None, key: str) -> float | None:
    if not thresholds:
        return None
    value = thresholds.get(key)
    if value is None or value == "":
        return None
    return float(value)


def request_thresholds(canary_config: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds each run sends to the judge: the stage's `scoreThresholds`, else pass 75 / marginal 50."""
    configured = canary_config.get("scoreThresholds") or {}
    thresholds: dict[str, float] = {}
    for key, default in DEFAULT_THRESHOLDS.items():
        value = _threshold(configured, key)
        thresholds[key] = float(default) if value is None else value
    return thresholds


def interval_status(
    score: float, thresholds: Mapping[str, Any] | None, *, continue_pipeline: bool = False
) -> tuple[StageStatus, str | None]:
    """The gate after each "Run Canary #i": a score at or below marginal fails the stage at once (TERMINAL, or
    FAILED_CONTINUE with `continuePipeline`); anything above marginal goes on, even below pass."""
    marginal = _threshold(thresholds, "marginal")
    if marginal is not None and score <= marginal:
        failed = StageStatus.FAILED_CONTINUE if continue_pipeline else StageStatus.TERMINAL
        return failed, "Canary score is not above the marginal score threshold."
    return StageStatus.SUCCEEDED, None


_RUN_NUMBER = re.compile(r"#\s*(\d+)\s*$")


def order_run_scores(runs: Iterable[tuple[str, float]]) -> list[float]:
    """The scores of the "Run Canary #n" stages, ordered by the number after `#` (numerically: #10 after #9)."""

    def number(item: tuple[str, float]) -> int:
        match = _RUN_NUMBER.search(item[0])
        if match is None:
            raise ValueError(f"not a canary run stage name: {item[0]!r}")
        return int(match.group(1))

    return [score for _, score in sorted(runs, key=number)]


@dataclass(frozen=True)
class AggregateResult:
    status: StageStatus
    canary_scores: tuple[float, ...]
    message: str


def aggregate_final_score(scores: Sequence[float], thresholds: Mapping[str, Any] | None) -> AggregateResult:
    """The stage's verdict from the ordered interval scores: only the last one counts. An absent threshold is not
    applied; the last score must be above marginal and at least pass."""
    canary_scores = tuple(float(s) for s in scores)
    if not canary_scores:
        return AggregateResult(StageStatus.TERMINAL, canary_scores, "No canary scores were produced.")
    final = canary_scores[-1]
    passing = _threshold(thresholds, "pass")
    marginal = _threshold(thresholds, "marginal")
    if passing is None and marginal is None:
        return AggregateResult(StageStatus.SUCCEEDED, canary_scores, "No score thresholds were specified.")
    if marginal is not None and final <= marginal:
        return AggregateResult(
            StageStatus.TERMINAL,
            canary_scores,
            f"Final canary score {final} is not above the marginal score threshold.",
        )
    if passing is None:
        return AggregateResult(StageStatus.SUCCEEDED, canary_scores, "No pass score threshold was specified.")
    if final < passing:
        return AggregateResult(
            StageStatus.TERMINAL, canary_scores, f"Final canary score {final} is below the pass score threshold."
        )
    return AggregateResult(
        StageStatus.SUCCEEDED, canary_scores, f"Final canary score {final} met or exceeded the pass score threshold."
    )


def interval_warnings(judge_result: Mapping[str, Any], *, datadog: bool = False) -> list[str]:
    """The warning Orca adds when any metric's control side had fewer than 50 points (not for Datadog)."""
    if datadog:
        return []
    for result in judge_result.get("results") or []:
        stats = ((result.get("controlMetadata") or {}).get("stats")) or {}
        count = stats.get("count")
        if isinstance(count, int | float) and count < MIN_DATA_POINTS:
            return [LOW_DATA_WARNING]
    return []
