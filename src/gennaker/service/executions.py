"""Executions and ad-hoc tasks: reading and listing them, acting on them (cancel, pause, resume, restart a
stage, patch a stage, judge), evaluating expressions against them, and following their changes.

Reading needs READ on the execution's application (one the caller may not read is "not found"), acting
EXECUTE. The engine's operations (`engine/operations.py`) own the transaction of each act and wake the
workers; this module decides who may ask, and words refusals in the service's terms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gennaker.model.status import Status
from gennaker.model.summaries import awaiting_judgment
from gennaker.service.access import Access, Actor, Who
from gennaker.service.errors import Conflict, Invalid, NotFound
from gennaker.service.live import changes
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.notifications import NotificationStore
from gennaker.store.pipelines import PipelineStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from gennaker.engine.operations import Operations
    from gennaker.engine.wakeup import Wakeup
    from gennaker.expressions import Expressions

MAX_TIME_MS = 2**63 - 1  # epoch milliseconds as the database stores them (a signed 64-bit integer)
RUNNING_SCAN = 200  # running executions per application read to count those waiting for judgment
MAX_LISTED_IDS = 100  # ids of each kind one listing by ids may name
MAX_LISTED = 1000  # executions one listing by config ids answers in all (each holds its stages)


@dataclass(frozen=True)
class Search:
    """Gate's execution search: `matches` keeps a header (its trigger type, name, event, …); newest first, or
    oldest first with `reverse`; the page is `size` executions from `start`."""

    matches: Callable[[dict[str, Any]], bool] = lambda _header: True
    statuses: Collection[str] = ()
    since_ms: int = 0
    until_ms: int = MAX_TIME_MS
    start: int = 0
    size: int = 10
    reverse: bool = False


@dataclass(frozen=True)
class Detail:
    """An execution as its page shows it: with its notifications, and whether the caller may act on it."""

    execution: dict[str, Any]
    notifications: list[dict[str, Any]] = field(default_factory=list)
    can_execute: bool = False


class Executions:
    def __init__(
        self,
        db: Database,
        store: ExecutionStore,
        pipelines: PipelineStore,
        notifications: NotificationStore,
        access: Access,
        operations: Callable[[], Operations],
        wakeup: Callable[[], Wakeup],
        expressions: Callable[[], Expressions],
    ):
        """`operations`, `wakeup` and `expressions` are asked for when first needed: reading an execution
        needs only the database."""
        self.db = db
        self.store = store
        self.pipelines = pipelines
        self.notifications = notifications
        self.access = access
        self.operations = operations
        self.wakeup = wakeup
        self.expressions = expressions

    # -- reading -------------------------------------------------------------------------------------------
    def get(self, execution_id: str, who: Who, permission: str = "READ") -> dict[str, Any]:
        """The execution's JSON, if `who` has `permission` on its application."""
        with self.db.read() as conn:
            return self._checked(conn, execution_id, self.access.actor(who), permission)

    def detail(self, execution_id: str, who: Who) -> Detail:
        actor = self.access.actor(who)
        with self.db.read() as conn:
            execution = self._checked(conn, execution_id, actor, "READ")
            attributes = self.access.applications.get(conn, execution["application"])
            notifications = self.notifications.for_execution(conn, execution_id)
        return Detail(execution, notifications, actor.application(attributes, "EXECUTE"))

    def notifications_of(self, execution_id: str, who: Who) -> list[dict[str, Any]]:
        """The execution's notifications and how their delivery went."""
        return self.detail(execution_id, who).notifications

    def task(self, task_id: str, who: Who) -> dict[str, Any]:
        """An ad-hoc task (ORCHESTRATION): its starter may read it, others need READ on its application."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            task = self.store.get_json(conn, task_id)
            if task is None or task["type"] != "ORCHESTRATION":
                raise NotFound(f"task {task_id} not found")
            if task["authentication"].get("user") != actor.name:
                self.access.require(conn, actor, task["application"], "READ")
        return task

    def newest(
        self, application: str, who: Who, statuses: Collection[str] = (), limit: int = 50
    ) -> list[dict[str, Any]]:
        """The application's newest executions, newest first."""
        with self.db.read() as conn:
            self.access.require(conn, self.access.actor(who), application, "READ")
            return self.store.list_json(conn, application, statuses=statuses, limit=limit)

    def per_pipeline(
        self, application: str, who: Who, statuses: Collection[str] = (), limit: int = 10
    ) -> list[dict[str, Any]]:
        """The newest `limit` executions of each of the application's configs, newest first (Gate's limit is
        per config)."""
        return sorted(
            (e for _, found in self.recent_by_pipeline(application, who, limit, statuses) for e in found),
            key=lambda e: e["buildTime"],
            reverse=True,
        )

    def recent_by_pipeline(
        self, application: str, who: Who, limit: int, statuses: Collection[str] = ()
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each config of the application with its newest executions (the application page's rows)."""
        with self.db.read() as conn:
            self.access.require(conn, self.access.actor(who), application, "READ")
            return [
                (
                    config,
                    self.store.list_json(
                        conn, application, statuses=statuses, pipeline_config_ids=[config["id"]], limit=limit
                    ),
                )
                for config in self.pipelines.for_application(conn, application)
            ]

    def by_ids(
        self,
        who: Who,
        *,
        execution_ids: Collection[str] = (),
        config_ids: Collection[str] = (),
        statuses: Collection[str] = (),
        limit: int = 10,
    ) -> list[dict[str, Any]]:
        """Executions by id (at most `limit`), else the newest `limit` of each config, `MAX_LISTED` in all; only
        those `who` may read. At most `MAX_LISTED_IDS` ids of each kind."""
        for name, values in (("executionIds", execution_ids), ("pipelineConfigIds", config_ids)):
            if len(values) > MAX_LISTED_IDS:
                raise Invalid.field(name, f"at most {MAX_LISTED_IDS} ids, not {len(values)}")
        found: list[dict[str, Any]] = []
        actor = self.access.actor(who)
        with self.db.read() as conn:
            if execution_ids:
                for execution_id in list(execution_ids)[:limit]:
                    execution = self.store.get_json(conn, execution_id)
                    if execution and (not statuses or execution["status"] in statuses):
                        found.append(execution)
            else:
                for config_id in config_ids:
                    room = min(limit, MAX_LISTED - len(found))
                    if room <= 0:
                        break
                    config = self.pipelines.get(conn, config_id)
                    if config:
                        found += self.store.list_json(
                            conn, config["application"], statuses=statuses, pipeline_config_ids=[config_id], limit=room
                        )
            readable = self.access.permitted(conn, actor, (e["application"] for e in found), "READ")
        return [e for e in found if e["application"] in readable]

    def search(self, application: str | None, who: Who, search: Search) -> list[dict[str, Any]]:
        """Pipeline executions of the application (of every application `who` may read, for None) that
        `search` keeps, as one page; stages included."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            if application is not None:
                self.access.require(conn, actor, application, "READ")
            readable: dict[str, bool] = {}

            def visible(header: dict[str, Any]) -> bool:
                name = header["application"]
                if name not in readable:
                    readable[name] = actor.application(self.access.applications.get(conn, name), "READ")
                return readable[name]

            headers = self.store.headers(
                conn, application, statuses=search.statuses, since_ms=search.since_ms, until_ms=search.until_ms
            )
            found: list[dict[str, Any]] = []
            for header in headers:
                if header.get("type", "PIPELINE") == "PIPELINE" and search.matches(header) and visible(header):
                    found.append(header)
                    if not search.reverse and len(found) >= search.start + search.size:
                        break  # newest first: the page is complete
            if search.reverse:
                found.reverse()
            return self.store.with_stages(conn, found[search.start : search.start + search.size])

    def waiting_judgments(self, applications: Collection[str], who: Who) -> dict[str, int]:
        """How many running executions of each application (that `who` may read) wait for a manual judgment."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            readable = self.access.permitted(conn, actor, applications, "READ")
            return {
                name: sum(
                    1
                    for execution in self.store.list_json(
                        conn, name, statuses=[Status.RUNNING.value], limit=RUNNING_SCAN
                    )
                    if awaiting_judgment(execution)
                )
                for name in applications
                if name in readable
            }

    def evaluate(self, execution_id: str, stage_ref: str | None, expression: str, who: Who) -> dict[str, Any]:
        """`{result, detail}` of `${expression}` evaluated against the execution (as one of its stages)."""
        from gennaker.service.evaluation import evaluate_in

        execution = self.get(execution_id, who)
        with self._engine_errors():
            return evaluate_in(self.expressions(), execution, stage_ref, expression)

    # -- acting --------------------------------------------------------------------------------------------
    def cancel(self, execution_id: str, who: Who, reason: str | None = None) -> None:
        actor = self._acting(execution_id, who)
        with self._engine_errors():
            self.operations().cancel(execution_id, actor.name, reason)

    def pause(self, execution_id: str, who: Who) -> None:
        actor = self._acting(execution_id, who)
        with self._engine_errors():
            self.operations().pause(execution_id, actor.name)

    def resume(self, execution_id: str, who: Who) -> None:
        actor = self._acting(execution_id, who)
        with self._engine_errors():
            self.operations().resume(execution_id, actor.name)

    def restart_stage(self, execution_id: str, stage: str, who: Who) -> None:
        """Run a finished stage (and what follows it) again."""
        actor = self._acting(execution_id, who)
        with self._engine_errors():
            self.operations().restart_stage(execution_id, stage, actor.name)

    def patch_stage(self, execution_id: str, stage: str, body: dict[str, Any], who: Who) -> None:
        """Merge `body` into the stage's context: a judgment, `skipRemainingWait`, `manualSkip`."""
        actor = self._acting(execution_id, who)
        if "judgmentStatus" in body and str(body["judgmentStatus"]).lower() not in ("continue", "stop"):
            raise Invalid.field("judgmentStatus", "must be 'continue' or 'stop'")
        with self._engine_errors():
            self.operations().patch_stage(execution_id, stage, body, actor.name)

    def judge(self, execution_id: str, stage: str, judgment: str, judgment_input: str | None, who: Who) -> None:
        """Continue or stop a manual judgment stage waiting for input."""
        actor = self._acting(execution_id, who)
        with self._engine_errors():
            self.operations().judge(execution_id, stage, judgment, judgment_input, actor.name)

    # -- following ----------------------------------------------------------------------------------------
    def changes(self, disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[set[str] | None]:
        """The ids of executions each commit changes (an empty set once subscribed, None on keep-alives), until
        `disconnected`: streams read what they follow with `get` or `of_application` when it changes."""
        return changes(self.wakeup().subscribe, disconnected)

    def of_application(self, execution_ids: Collection[str], application: str, who: Who) -> list[dict[str, Any]]:
        """Those of the executions that belong to the application (which `who` must READ), by id."""
        wanted = application.lower()
        with self.db.read() as conn:
            self.access.require(conn, self.access.actor(who), application, "READ")
            found = [self.store.get_json(conn, execution_id) for execution_id in sorted(execution_ids)]
        return [e for e in found if e is not None and e["application"] == wanted]

    # -- helpers ------------------------------------------------------------------------------------------
    def _checked(self, conn: Connection, execution_id: str, actor: Actor, permission: str) -> dict[str, Any]:
        execution = self.store.get_json(conn, execution_id)
        if execution is None:
            raise NotFound(f"execution {execution_id} not found")
        self.access.require(conn, actor, execution["application"], permission)
        return execution

    def _acting(self, execution_id: str, who: Who) -> Actor:
        actor = self.access.actor(who)
        self.get(execution_id, actor, "EXECUTE")
        return actor

    @contextmanager
    def _engine_errors(self) -> Iterator[None]:
        """The engine's refusals in the service's terms: a missing execution or stage, a state that forbids."""
        from gennaker.engine import operations

        try:
            yield
        except operations.NotFound as error:
            raise NotFound(str(error)) from None
        except operations.OperationError as error:
            raise Conflict(str(error)) from None
