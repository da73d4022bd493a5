"""The scheduler role: cron triggers fired on time and pollers run, in any number of processes at once.

Each process keeps the next fire time of every enabled cron trigger in memory and reloads the pipeline
configs every `reload_s`. When a fire time passes, it opens a transaction, reads the trigger's stored cursor
(the last fire time it handled) and fires the latest missed time that is still within the misfire window
(Echo's compensation: one run for what was missed, never a storm). The fire is recorded under the event key
`cron:<pipeline id>:<trigger id>:<epoch ms>` in the transaction that starts the execution, so when several
schedulers see the same fire time exactly one execution starts; the others find the key taken.

The first time a trigger is seen, its cursor is set to now and nothing fires, as Igor's first poll records
what exists. A restart therefore neither refires old times nor misses one within the window.

Pollers (a Docker repository, a Helm repository, a Jenkins job) implement `Poller`: given their stored
state they return the new events and the new state. A process polls a source only while it holds that
source's lease, and every event fires each matching trigger under the event key
`<event key>:<pipeline id>:<trigger id>`, so a restart or a second process never starts a run twice; the
first poll (no stored state) records what exists and fires nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Connection

from gennaker.store.database import Database
from gennaker.store.pipelines import PipelineStore
from gennaker.store.triggers import FIRED, TriggerEvent, TriggerStore
from gennaker.triggers.cron import CronError, CronSchedule, missed_fires, parse

log = logging.getLogger("gennaker.scheduler")

DEFAULT_TIMEZONE = "America/Los_Angeles"  # Echo's `scheduler.cron.timezone` default
# Starts an execution of `config` for `trigger` in `conn`'s transaction; returns its id, or raises
# `TriggerRefused` with the reason it cannot start.
Fire = Callable[[Connection, Mapping[str, Any], dict[str, Any]], str]


@dataclass(frozen=True)
class PolledEvent:
    """Something new a poller found: a tag, a digest, a chart version, a finished build."""

    key: str  # unique for the event, e.g. "docker:registry/shop:1.2:sha256:…"
    payload: dict[str, Any]  # what triggers are matched against (account, repository, tag, digest, …)


class Poller(Protocol):
    """One polled source. `poll(None)` is the first poll: it returns no events, only the state to keep."""

    key: str  # the source, e.g. "docker:registry/shop"; its state and lease are stored under it
    trigger_type: str  # the trigger type its events fire ("docker", "helm", "jenkins")
    interval_s: float

    def poll(self, state: dict[str, Any] | None) -> tuple[list[PolledEvent], dict[str, Any]]: ...

    def matches(self, trigger: Mapping[str, Any], event: PolledEvent) -> bool:
        """Whether a saved trigger of `trigger_type` wants this event."""
        ...

    def runtime_trigger(self, trigger: Mapping[str, Any], event: PolledEvent) -> dict[str, Any]:
        """The execution's `trigger`: the saved trigger's keys with what the event carried."""
        ...


class TriggerRefused(Exception):
    """The trigger's pipeline cannot start (its runAsUser is refused, its config cannot launch)."""


def start_once(
    triggers: TriggerStore, conn: Connection, record: TriggerEvent, start: Callable[[], str], now_ms: int
) -> tuple[str | None, str | None]:
    """Record a trigger's event under its key and start its pipeline, in `conn`'s transaction: (execution id,
    None) when started; (None, reason) when refused, recorded as skipped; (None, None) when the key was taken
    (another process, or a repeated delivery, has this event)."""
    if not triggers.record(conn, record, now_ms):
        return None, None
    try:
        execution_id = start()
    except TriggerRefused as refused:
        triggers.mark_skipped(conn, record.event_key, str(refused))
        return None, str(refused)
    triggers.attach_execution(conn, record.event_key, execution_id)
    return execution_id, None


@dataclass(frozen=True)
class SchedulerSettings:
    """`scheduler:` in the configuration file."""

    timezone: str = DEFAULT_TIMEZONE
    misfire_window_s: float = 600.0  # Echo's compensation window
    reload_s: float = 10.0  # how often pipeline configs are read again
    tick_s: float = 0.2

    @classmethod
    def from_config(cls, section: Any) -> SchedulerSettings:
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ValueError("scheduler must be a mapping")
        cron = section.get("cron") or {}
        settings = cls(
            timezone=str(cron.get("timezone") or DEFAULT_TIMEZONE),
            misfire_window_s=float(cron.get("misfireWindowSeconds", 600)),
            reload_s=float(section.get("reloadSeconds", 10)),
        )
        zone(settings.timezone, "scheduler.cron.timezone")
        return settings


def poll_interval(config: Mapping[str, Any], kind: str, default: float) -> float:
    """`scheduler.<kind>.intervalSeconds` of a whole configuration file (`default` when absent)."""
    scheduler = config.get("scheduler") or {}
    section = (scheduler.get(kind) if isinstance(scheduler, Mapping) else None) or {}
    value = section.get("intervalSeconds", default) if isinstance(section, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"scheduler.{kind}.intervalSeconds must be a positive number of seconds")
    return float(value)


def enabled_triggers(pipelines: list[dict[str, Any]], trigger_type: str) -> Iterator[Mapping[str, Any]]:
    """The enabled triggers of `trigger_type` of the enabled pipelines (the scheduler fires only those)."""
    for config in pipelines:
        if not isinstance(config, Mapping) or config.get("disabled"):
            continue
        for trigger in config.get("triggers") or []:
            if isinstance(trigger, Mapping) and trigger.get("type") == trigger_type and trigger.get("enabled", True):
                yield trigger


def zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{where}: unknown time zone {name!r}") from None


@dataclass
class CronTrigger:
    """One enabled cron trigger of one pipeline, with its schedule."""

    config: Mapping[str, Any]
    trigger: Mapping[str, Any]
    trigger_id: str
    schedule: CronSchedule
    tz: ZoneInfo
    next_fire: datetime | None = field(default=None)

    @property
    def key(self) -> str:
        return f"cron:{self.config['id']}:{self.trigger_id}"


def cron_triggers(configs: list[dict[str, Any]], default_tz: ZoneInfo) -> list[CronTrigger]:
    """The enabled cron triggers of enabled pipelines; unparsable ones are logged once per load and skipped
    (saving refuses them, so only configs stored before that rule or edited in the database have them)."""
    found = []
    for config in configs:
        if config.get("disabled"):
            continue
        for index, trigger in enumerate(config.get("triggers") or []):
            if not isinstance(trigger, Mapping) or trigger.get("type") != "cron" or trigger.get("enabled") is False:
                continue
            trigger_id = str(trigger.get("id") or f"{config['id']}-{index}")
            try:
                schedule = parse(str(trigger.get("cronExpression") or ""), trigger_id=trigger_id)
                tz = zone(str(trigger["timezone"]), "timezone") if trigger.get("timezone") else default_tz
            except (CronError, ValueError) as error:
                log.warning("cron trigger %s of pipeline %s skipped: %s", trigger_id, config.get("id"), error)
                continue
            found.append(CronTrigger(config, trigger, trigger_id, schedule, tz))
    return found


def next_fire_times(
    config: Mapping[str, Any], default_timezone: str, after: datetime, count: int = 3
) -> list[tuple[int, CronTrigger, list[datetime]]]:
    """The next `count` fire times of each enabled cron trigger of `config`: (trigger index, trigger, times)."""
    triggers = list(config.get("triggers") or [])
    found = []
    for cron in cron_triggers([dict(config)], zone(default_timezone, "scheduler.cron.timezone")):
        index = next(i for i, t in enumerate(triggers) if t is cron.trigger)
        found.append((index, cron, cron.schedule.next_times(after, cron.tz, count)))
    return found


class Scheduler:
    def __init__(
        self,
        db: Database,
        fire: Fire,
        settings: SchedulerSettings = SchedulerSettings(),
        clock: Callable[[], float] = time.time,
        pollers: list[Poller] | None = None,
        on_started: Callable[[], None] | None = None,
        pollers_for: Callable[[list[dict[str, Any]]], list[Poller]] | None = None,
    ):
        """`on_started` is called after a tick that started executions (the runtime wakes its workers);
        `pollers_for` gives the pollers the saved pipelines need, asked again at every reload."""
        self.db = db
        self.fire = fire
        self.on_started = on_started
        self.pollers_for = pollers_for
        self.pollers = pollers or []
        self._polled_at: dict[str, float] = {}
        self._refusals: dict[tuple[str, str], str] = {}  # the last refusal logged per pipeline and trigger type
        self._configs: list[dict[str, Any]] = []
        self.settings = settings
        self.clock = clock
        self.pipelines = PipelineStore()
        self.triggers = TriggerStore()
        self.owner = uuid.uuid4().hex[:12]
        self._cron: dict[str, CronTrigger] = {}
        self._loaded_at = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gennaker-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.tick() and self.on_started is not None:
                    self.on_started()
            except Exception:  # e.g. the database is unreachable; the next tick tries again
                log.exception("scheduler tick failed")
            self._stop.wait(self.settings.tick_s)

    def tick(self) -> list[str]:
        """One pass: reload configs when due, fire every cron trigger whose time has passed; the started ids."""
        now = self.clock()
        if now - self._loaded_at >= self.settings.reload_s:
            self.reload(now)
        started = []
        moment = datetime.fromtimestamp(now, UTC)
        for poller in self.pollers:
            if now - self._polled_at.get(poller.key, -float("inf")) >= poller.interval_s:
                self._polled_at[poller.key] = now
                try:
                    started += self.poll(poller, now)
                except Exception:  # a source that fails is logged and polled again later; the others go on
                    log.exception("poller %s failed", poller.key)
        for cron in self._cron.values():
            if cron.next_fire is None or cron.next_fire > moment:
                continue
            try:
                execution_id = self._handle(cron, moment)
            except Exception:  # one trigger's failure (logged once per fire time) does not stop the others
                log.exception("cron trigger %s of pipeline %s failed", cron.trigger_id, cron.config.get("id"))
                cron.next_fire = cron.schedule.next_after(moment, cron.tz)
                continue
            if execution_id:
                started.append(execution_id)
        return started

    def reload(self, now: float) -> None:
        """Read the pipeline configs again; keep the next fire time of triggers that did not change."""
        with self.db.read() as conn:
            configs = self.pipelines.all(conn)
        self._configs = [c for c in configs if not c.get("disabled")]
        if self.pollers_for is not None:  # keep the pollers that did not change: their clients hold tokens
            running = {p.key: p for p in self.pollers}
            self.pollers = [running.get(p.key, p) for p in self.pollers_for(self._configs)]
        loaded = {c.key: c for c in cron_triggers(configs, zone(self.settings.timezone, "scheduler.cron.timezone"))}
        moment = datetime.fromtimestamp(now, UTC)
        for key, cron in loaded.items():
            known = self._cron.get(key)
            if known is not None and known.trigger == cron.trigger and known.tz == cron.tz:
                cron.next_fire = known.next_fire
            else:
                cron.next_fire = moment  # looked at on this tick: its stored cursor decides
        self._cron = loaded
        self._loaded_at = now

    # -- one trigger ------------------------------------------------------------------------------
    def _handle(self, cron: CronTrigger, moment: datetime) -> str | None:
        now_ms = int(moment.timestamp() * 1000)
        with self.db.transaction() as conn:
            state = self.triggers.state(conn, cron.key)
            if state is None or "last" not in state:
                self.triggers.save_state(conn, cron.key, {"last": now_ms}, now_ms)
                cron.next_fire = cron.schedule.next_after(moment, cron.tz)
                return None
            last = datetime.fromtimestamp(state["last"] / 1000, UTC)
            due = self._latest_due(cron, last, moment)
            cron.next_fire = cron.schedule.next_after(max(moment, last), cron.tz)
            if due is None:
                return None
            self.triggers.save_state(conn, cron.key, {"last": int(due.timestamp() * 1000)}, now_ms)
            return self._fire(conn, cron, due, now_ms)

    def _latest_due(self, cron: CronTrigger, last: datetime, moment: datetime) -> datetime | None:
        """The latest fire time in (last, moment] that is within the misfire window, if any (`missed_fires`
        starts at the window's floor, so a long outage does not walk every fire time since `last`)."""
        if self.settings.misfire_window_s < 0:  # a negative window admits no fire time
            return None
        window = timedelta(seconds=self.settings.misfire_window_s)
        fires = missed_fires(cron.schedule, last, moment, cron.tz, window)
        return fires[-1] if fires else None

    def _fire(self, conn: Connection, cron: CronTrigger, due: datetime, now_ms: int) -> str | None:
        due_ms = int(due.timestamp() * 1000)
        event_key = f"{cron.key}:{due_ms}"
        trigger = {
            "type": "cron",
            "enabled": True,
            "rebake": False,
            "id": cron.trigger_id,
            "eventId": str(uuid.uuid4()),
            "cronExpression": cron.trigger.get("cronExpression"),
            "parameters": dict(cron.trigger.get("parameters") or {}),
            "scheduledTime": due_ms,
            **({"runAsUser": cron.trigger["runAsUser"]} if cron.trigger.get("runAsUser") else {}),
        }
        details = {"scheduledTime": due_ms, "triggerId": cron.trigger_id}
        return self._start(conn, event_key, cron.config, "cron", trigger, details, now_ms)

    # -- pollers ----------------------------------------------------------------------------------
    def poll(self, poller: Poller, now: float) -> list[str]:
        """Poll one source if this process holds (or can take) its lease; fire what its new events match."""
        now_ms = int(now * 1000)
        lease_ms = int(max(poller.interval_s * 3, 30) * 1000)
        with self.db.transaction() as conn:
            if not self.triggers.try_lease(conn, poller.key, self.owner, now_ms, lease_ms):
                return []
            state = self.triggers.state(conn, poller.key)
        events, new_state = poller.poll(state)  # outside any transaction: it talks to the network
        started = []
        triggers = self._triggers_of(poller.trigger_type) if events else []
        with self.db.transaction() as conn:
            for event in events:
                for config, index, trigger in triggers:
                    if poller.matches(trigger, event):
                        started += self._fire_event(conn, poller, event, config, index, trigger, now_ms)
            self.triggers.save_state(conn, poller.key, new_state, now_ms)
        return started

    def _triggers_of(self, trigger_type: str) -> list[tuple[dict[str, Any], int, Mapping[str, Any]]]:
        return [
            (config, index, trigger)
            for config in self._configs
            for index, trigger in enumerate(config.get("triggers") or [])
            if isinstance(trigger, Mapping) and trigger.get("type") == trigger_type and trigger.get("enabled", True)
        ]

    def _fire_event(
        self,
        conn: Connection,
        poller: Poller,
        event: PolledEvent,
        config: Mapping[str, Any],
        index: int,
        trigger: Mapping[str, Any],
        now_ms: int,
    ) -> list[str]:
        trigger_id = str(trigger.get("id") or index)
        event_key = f"{event.key}:{config['id']}:{trigger_id}"
        started = self._start(
            conn, event_key, config, poller.trigger_type, poller.runtime_trigger(trigger, event), event.payload, now_ms
        )
        return [started] if started else []

    def _start(
        self,
        conn: Connection,
        event_key: str,
        config: Mapping[str, Any],
        trigger_type: str,
        trigger: dict[str, Any],
        details: dict[str, Any],
        now_ms: int,
    ) -> str | None:
        """Record the event and start the pipeline, in `conn`'s transaction (`start_once`); None when another
        process already has the key, or the start was refused (recorded as skipped, logged once per incident)."""
        record = TriggerEvent(
            event_key, str(config["id"]), str(config["application"]), trigger_type, FIRED, details=details
        )
        execution_id, refused = start_once(
            self.triggers, conn, record, partial(self.fire, conn, config, trigger), now_ms
        )
        incident = (str(config["id"]), trigger_type)
        if refused is None:
            self._refusals.pop(incident, None)
        elif self._refusals.get(incident) != refused:
            log.warning("%s trigger of pipeline %s did not start: %s", trigger_type, config["id"], refused)
            self._refusals[incident] = refused
        return execution_id
