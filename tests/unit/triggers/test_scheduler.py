"""The scheduler fires cron triggers: nothing on first sight, each fire time once however many schedulers run,
one compensating run for times missed while down (within the window), the trigger's own time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from gennaker.runtime import Runtime
from gennaker.triggers.scheduler import Scheduler, SchedulerSettings, TriggerRefused
from tests.support import make_runtime, pipeline

EVERY_MINUTE = "0 * * * * ?"


class Clock:
    def __init__(self, start: datetime):
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path)
    yield runtime
    runtime.close()


def cron_pipeline(rt: Runtime, expression: str = EVERY_MINUTE, **trigger: Any) -> dict[str, Any]:
    triggers = [{"type": "cron", "id": "t1", "enabled": True, "cronExpression": expression, **trigger}]
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    return rt.save_pipeline(pipeline("nightly", stages, triggers=triggers), "u")


def launcher_fire(rt: Runtime) -> Any:
    def fire(conn: Connection, config: Mapping[str, Any], trigger: dict[str, Any]) -> str:
        return rt.launcher.start(conn, dict(config), trigger, "scheduler")

    return fire


def scheduler(rt: Runtime, clock: Clock, **settings: Any) -> Scheduler:
    return Scheduler(rt.db, launcher_fire(rt), SchedulerSettings(reload_s=0, **settings), clock)


def cron_executions(rt: Runtime) -> list[dict[str, Any]]:
    with rt.db.read() as conn:
        return rt.executions.list_json(conn, "demo", limit=100)


def test_first_sight_fires_nothing_then_each_fire_time_once(rt: Runtime) -> None:
    cron_pipeline(rt)
    clock = Clock(at("2026-01-05T10:00:30"))
    one = scheduler(rt, clock)
    assert one.tick() == []
    clock.advance(20)  # 10:00:50, before the next minute
    assert one.tick() == []
    clock.advance(15)  # 10:01:05
    [started] = one.tick()
    assert one.tick() == []
    [execution] = cron_executions(rt)
    assert execution["id"] == started
    trigger = execution["trigger"]
    assert (trigger["type"], trigger["id"], trigger["cronExpression"]) == ("cron", "t1", EVERY_MINUTE)
    assert trigger["scheduledTime"] == int(at("2026-01-05T10:01:00").timestamp() * 1000)


def test_three_schedulers_start_each_fire_time_once(rt: Runtime) -> None:
    cron_pipeline(rt)
    clock = Clock(at("2026-01-05T10:00:30"))
    schedulers = [scheduler(rt, clock) for _ in range(3)]
    for each in schedulers:
        each.tick()
    for _ in range(5):
        clock.advance(60)
        for each in schedulers:
            each.tick()
    times = sorted(e["trigger"]["scheduledTime"] for e in cron_executions(rt))
    assert len(times) == 5 and len(set(times)) == 5


def test_a_restart_compensates_once_within_the_window_and_not_beyond(rt: Runtime) -> None:
    cron_pipeline(rt)
    clock = Clock(at("2026-01-05T10:00:30"))
    scheduler(rt, clock).tick()
    clock.advance(5 * 60)  # down for five minutes: five fire times missed
    restarted = scheduler(rt, clock, misfire_window_s=600)
    [started] = restarted.tick()
    [execution] = cron_executions(rt)
    assert execution["trigger"]["scheduledTime"] == int(at("2026-01-05T10:05:00").timestamp() * 1000)
    assert started == execution["id"]
    clock.advance(60 * 60)  # down for an hour, longer than a 10-minute window ...
    late = scheduler(rt, clock, misfire_window_s=600)
    started_late = late.tick()
    assert len(started_late) == 1  # ... only the latest time, 11:05:00, which is within the window, runs
    assert len(cron_executions(rt)) == 2


def test_missed_times_older_than_the_window_do_not_run(rt: Runtime) -> None:
    cron_pipeline(rt, "0 0 3 * * ?")  # 03:00 daily
    clock = Clock(at("2026-01-05T02:59:00"))
    scheduler(rt, clock).tick()
    clock.advance(2 * 3600)  # back at 04:59: 03:00 is two hours old
    assert scheduler(rt, clock, misfire_window_s=600).tick() == []
    assert cron_executions(rt) == []


def test_a_long_outage_compensates_once_without_walking_every_missed_time(rt: Runtime) -> None:
    cron_pipeline(rt, "* * * * * ?")  # every second: 2.6 million fire times in a month
    clock = Clock(at("2026-01-05T10:00:30"))
    scheduler(rt, clock).tick()
    clock.advance(30 * 86400)
    started = time.monotonic()
    [fired] = scheduler(rt, clock, misfire_window_s=600).tick()
    assert time.monotonic() - started < 5  # only the misfire window is searched
    [execution] = cron_executions(rt)
    assert (execution["id"], execution["trigger"]["scheduledTime"]) == (fired, int(clock.now * 1000))


def test_the_triggers_time_zone_decides_the_wall_clock(rt: Runtime) -> None:
    cron_pipeline(rt, "0 0 9 * * ?", timezone="Asia/Kolkata")  # 09:00 in Kolkata is 03:30 UTC
    clock = Clock(at("2026-01-05T03:29:00"))
    one = scheduler(rt, clock)
    one.tick()
    clock.advance(45)
    assert one.tick() == []  # 03:29:45 UTC
    clock.advance(30)
    assert len(one.tick()) == 1  # 03:30:15 UTC


def test_a_refused_fire_is_recorded_as_skipped_and_the_others_go_on(rt: Runtime) -> None:
    config = cron_pipeline(rt)

    def refuse(conn: Connection, config: Mapping[str, Any], trigger: dict[str, Any]) -> str:
        raise TriggerRefused("the trigger's runAsUser admin is refused")

    clock = Clock(at("2026-01-05T10:00:30"))
    refusing = Scheduler(rt.db, refuse, SchedulerSettings(reload_s=0), clock)
    refusing.tick()
    clock.advance(60)
    assert refusing.tick() == []
    with rt.db.read() as conn:
        [event] = refusing.triggers.history(conn, config["id"])
    assert (event["outcome"], event["reason"]) == ("skipped", "the trigger's runAsUser admin is refused")
    assert cron_executions(rt) == []


def test_the_runtimes_scheduler_polls_what_saved_triggers_name(tmp_path: Path) -> None:
    registry = {"name": "hub", "address": "https://registry.example.com", "repositories": ["shop/api"]}
    runtime = make_runtime(tmp_path / "rt", config={"providers": {"dockerRegistry": {"accounts": [registry]}}})
    trigger = {"type": "docker", "account": "hub", "repository": "shop/web", "tag": ""}
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    runtime.save_pipeline(pipeline("on-image", stages, triggers=[trigger]), "u")
    scheduler = runtime.new_scheduler()
    scheduler.reload(at("2026-01-05T10:00:00").timestamp())  # builds pollers; polls nothing yet
    assert sorted(p.key for p in scheduler.pollers) == ["docker:hub/shop/api", "docker:hub/shop/web"]
    runtime.close()


def test_a_docker_trigger_naming_no_repository_name_is_not_polled(tmp_path: Path) -> None:
    registry = {"name": "hub", "address": "https://registry.example.com"}
    runtime = make_runtime(tmp_path / "rt", config={"providers": {"dockerRegistry": {"accounts": [registry]}}})
    triggers = [
        {"type": "docker", "account": "hub", "repository": repository, "tag": ""}
        for repository in ("shop/web", "../../v2/_catalog", "shop/web?n=1")
    ]
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    runtime.save_pipeline(pipeline("on-image", stages, triggers=triggers), "u")
    scheduler = runtime.new_scheduler()
    scheduler.reload(at("2026-01-05T10:00:00").timestamp())
    assert [p.key for p in scheduler.pollers] == ["docker:hub/shop/web"]
    runtime.close()
