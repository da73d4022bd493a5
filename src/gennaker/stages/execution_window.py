"""`restrictExecutionDuringTimeWindow`: hold a stage until its allowed time window (orca.md §3.16).

`days` uses Deck's numbering (1 = Sunday ... 7 = Saturday); a day with no whitelist is allowed whole.
The timezone is the `executionWindowTimezone` setting (Spinnaker's default America/Los_Angeles).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.model.execution import Stage
from gennaker.stages.schemas import ExecutionWindowContext

DEFAULT_TIMEZONE = "America/Los_Angeles"
SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000


class ExecutionWindowStage(StageDefinition):
    type = "restrictExecutionDuringTimeWindow"
    context_schema = ExecutionWindowContext

    def tasks(self, stage: Stage) -> list[str]:
        return [SuspendForWindowTask.name]


class SuspendForWindowTask(Task):
    name = "suspendExecutionDuringTimeWindow"
    backoff_ms = 30_000
    timeout_ms = SEVEN_DAYS_MS

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("skipRemainingWait"):
            return TaskResult.succeeded()
        scheduled = tc.stage.scheduled_time
        if scheduled is None:
            zone = ZoneInfo(str(tc.services.settings.get("executionWindowTimezone", DEFAULT_TIMEZONE)))
            window = tc.ctx.get("restrictedExecutionWindow") or {}
            start = next_allowed(datetime.fromtimestamp(tc.now / 1000, zone), window)
            scheduled = int(start.timestamp() * 1000) + jitter_ms(window, tc.execution.trigger)
            tc.stage.scheduled_time = scheduled
        if tc.now >= scheduled:
            return TaskResult.succeeded()
        return TaskResult.running(backoff_ms=min(scheduled - tc.now, self.backoff_ms))


def next_allowed(now: datetime, window: dict[str, Any]) -> datetime:
    """The first moment at or after `now` inside an allowed day and time range."""
    days = {int(d) for d in window.get("days") or []}
    ranges = window.get("whitelist") or []
    for offset in range(0, 8):
        day = (now + timedelta(days=offset)).replace(hour=0, minute=0, second=0, microsecond=0)
        if days and deck_day(day) not in days:
            continue
        if not ranges:
            return max(now, day)
        candidates = []
        for r in ranges:
            start = day.replace(hour=int(r.get("startHour", 0)), minute=int(r.get("startMin", 0)))
            end = day.replace(hour=int(r.get("endHour", 0)), minute=int(r.get("endMin", 0)))
            if end <= start:
                end += timedelta(days=1)
            if start <= now < end:
                return now
            if start > now:
                candidates.append(start)
        if candidates:
            return min(candidates)
    raise ValueError("the execution window allows no time in the next week")


def deck_day(moment: datetime) -> int:
    """Deck's day number: 1 = Sunday ... 7 = Saturday."""
    return (moment.isoweekday() % 7) + 1


def jitter_ms(window: dict[str, Any], trigger: dict[str, Any]) -> int:
    jitter = window.get("jitter") or {}
    if not jitter.get("enabled"):
        return 0
    if jitter.get("skipManual") and trigger.get("type") == "manual":
        return 0
    low, high = int(jitter.get("minDelay", 0)), int(jitter.get("maxDelay", 0))
    return random.randint(min(low, high), max(low, high)) * 1000
