"""Executions and their stages. Each stage is its own row so a handler rewrites only what it changed."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.status import Status
from gennaker.store import codec
from gennaker.store.tables import execution_events, executions, stages

ACTIVE = (Status.RUNNING.value, Status.PAUSED.value)


@dataclass(slots=True)
class Loaded:
    """An execution plus the stored text of each part, so `save` can skip what did not change."""

    execution: Execution
    header: str
    stage_docs: dict[str, tuple[int, str]] = field(default_factory=dict)


class ExecutionStore:
    def insert(self, conn: Connection, execution: Execution, correlation_id: str | None = None) -> Loaded:
        header = codec.dumps(execution.header_json())
        conn.execute(executions.insert().values(correlation_id=correlation_id, header=header, **_indexed(execution)))
        loaded = Loaded(execution, header)
        self._write_stages(conn, loaded)
        return loaded

    def insert_many(self, conn: Connection, batch: list[Execution]) -> None:
        """Store finished executions in bulk (imports and benchmarks), two statements in all."""
        conn.execute(executions.insert(), [{"header": codec.dumps(e.header_json()), **_indexed(e)} for e in batch])
        conn.execute(
            stages.insert(),
            [
                {
                    "id": s.id,
                    "execution_id": e.id,
                    "position": n,
                    "status": s.status.value,
                    "doc": codec.dumps(s.to_json()),
                }
                for e in batch
                for n, s in enumerate(e.stages)
            ],
        )

    def load(self, conn: Connection, execution_id: str, *, for_update: bool = False) -> Loaded | None:
        query = sa.select(executions.c.header).where(executions.c.id == execution_id)
        if for_update and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        header = conn.execute(query).scalar()
        if header is None:
            return None
        rows = conn.execute(
            sa.select(stages.c.id, stages.c.position, stages.c.doc)
            .where(stages.c.execution_id == execution_id)
            .order_by(stages.c.position)
        ).all()
        data = codec.loads(header)
        data["stages"] = [codec.loads(r.doc) for r in rows]
        return Loaded(Execution.from_json(data), header, {r.id: (r.position, r.doc) for r in rows})

    def lock(self, conn: Connection, execution_ids: Collection[str]) -> None:
        """Take row locks on several executions in id order (a fixed order cannot deadlock)."""
        if conn.dialect.name == "postgresql" and execution_ids:
            conn.execute(
                sa.select(executions.c.id)
                .where(executions.c.id.in_(sorted(execution_ids)))
                .order_by(executions.c.id)
                .with_for_update()
            ).all()

    def lock_available(self, conn: Connection, execution_ids: Collection[str]) -> set[str]:
        """Lock those of the executions no other transaction holds; returns the ids this one may handle.

        Ids of executions that do not exist are returned too (their messages are dropped by the handlers).
        """
        ids = set(execution_ids)
        if conn.dialect.name != "postgresql" or not ids:
            return ids
        locked = conn.execute(
            sa.select(executions.c.id)
            .where(executions.c.id.in_(sorted(ids)))
            .order_by(executions.c.id)
            .with_for_update(skip_locked=True)
        ).scalars()
        available = set(locked)
        existing = set(conn.execute(sa.select(executions.c.id).where(executions.c.id.in_(sorted(ids)))).scalars())
        return available | (ids - existing)

    def lock_config(self, conn: Connection, pipeline_config_id: str) -> None:
        """Serialise concurrency decisions for one pipeline config (a transaction-scoped advisory lock)."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": pipeline_config_id})

    def save(self, conn: Connection, loaded: Loaded) -> bool:
        """Write what changed since loading; returns whether anything did."""
        execution = loaded.execution
        header = codec.dumps(execution.header_json())
        changed = header != loaded.header
        if changed:
            conn.execute(
                executions.update().where(executions.c.id == execution.id).values(header=header, **_indexed(execution))
            )
            loaded.header = header
        return self._write_stages(conn, loaded) or changed

    def _write_stages(self, conn: Connection, loaded: Loaded) -> bool:
        execution = loaded.execution
        current_ids = set()
        inserts, updates = [], []
        for position, stage in enumerate(execution.stages):
            current_ids.add(stage.id)
            doc = codec.dumps(stage.to_json())
            previous = loaded.stage_docs.get(stage.id)
            if previous == (position, doc):
                continue
            row = {"position": position, "status": stage.status.value, "doc": doc}
            if previous is None:
                inserts.append({"id": stage.id, "execution_id": execution.id, **row})
            else:
                updates.append({"b_id": stage.id, **row})
            loaded.stage_docs[stage.id] = (position, doc)
        if inserts:
            conn.execute(stages.insert(), inserts)
        if updates:
            conn.execute(
                stages.update()
                .where(stages.c.id == sa.bindparam("b_id"))
                .values(position=sa.bindparam("position"), status=sa.bindparam("status"), doc=sa.bindparam("doc")),
                updates,
            )
        removed = [stage_id for stage_id in loaded.stage_docs if stage_id not in current_ids]
        if removed:
            conn.execute(stages.delete().where(stages.c.id.in_(removed)))
            for stage_id in removed:
                del loaded.stage_docs[stage_id]
        return bool(inserts or updates or removed)

    # -- reads for the API and CLI --------------------------------------------------------------
    def get_json(self, conn: Connection, execution_id: str) -> dict[str, Any] | None:
        loaded = self.load(conn, execution_id)
        return loaded.execution.to_json() if loaded else None

    def list_json(
        self,
        conn: Connection,
        application: str,
        *,
        statuses: Collection[str] = (),
        pipeline_config_ids: Collection[str] = (),
        limit: int = 50,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """An application's newest executions, stages included, newest first."""
        query = _filtered(sa.select(executions.c.id, executions.c.header), application, statuses, since_ms, until_ms)
        if pipeline_config_ids:
            query = query.where(executions.c.pipeline_config_id.in_(list(pipeline_config_ids)))
        rows = conn.execute(query.order_by(executions.c.build_time.desc(), executions.c.id.desc()).limit(limit)).all()
        return self.with_stages(conn, [codec.loads(r.header) for r in rows])

    def headers(
        self,
        conn: Connection,
        application: str | None,
        *,
        statuses: Collection[str] = (),
        since_ms: int | None = None,
        until_ms: int | None = None,
        chunk: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Execution headers (no stages), newest first, read in chunks; `application=None` means every one."""
        columns = sa.select(executions.c.id, executions.c.build_time, executions.c.header)
        query = _filtered(columns, application, statuses, since_ms, until_ms)
        cursor: tuple[int, str] | None = None
        while True:
            page = query
            if cursor is not None:
                page = page.where(
                    (executions.c.build_time < cursor[0])
                    | ((executions.c.build_time == cursor[0]) & (executions.c.id < cursor[1]))
                )
            newest_first = page.order_by(executions.c.build_time.desc(), executions.c.id.desc())
            rows = conn.execute(newest_first.limit(chunk)).all()
            for row in rows:
                yield codec.loads(row.header)
            if len(rows) < chunk:
                return
            cursor = (rows[-1].build_time, rows[-1].id)

    def with_stages(self, conn: Connection, headers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Full execution JSON for headers read without their stages."""
        if not headers:
            return []
        by_execution: dict[str, list[Any]] = {h["id"]: [] for h in headers}
        stage_rows = conn.execute(
            sa.select(stages.c.execution_id, stages.c.doc)
            .where(stages.c.execution_id.in_(list(by_execution)))
            .order_by(stages.c.execution_id, stages.c.position)
        )
        for stage_row in stage_rows:
            by_execution[stage_row.execution_id].append(codec.loads(stage_row.doc))
        return [{**h, "stages": by_execution[h["id"]]} for h in headers]

    def count_active(self, conn: Connection, pipeline_config_id: str, exclude_id: str) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(executions)
                .where(
                    (executions.c.pipeline_config_id == pipeline_config_id)
                    & executions.c.status.in_(ACTIVE)
                    & (executions.c.id != exclude_id)
                )
            ).scalar_one()
        )

    def find_by_correlation(self, conn: Connection, correlation_id: str) -> str | None:
        return conn.execute(sa.select(executions.c.id).where(executions.c.correlation_id == correlation_id)).scalar()

    def ids_with_status(self, conn: Connection, statuses: Collection[str]) -> list[str]:
        return list(conn.execute(sa.select(executions.c.id).where(executions.c.status.in_(list(statuses)))).scalars())

    def status_counts(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(sa.select(executions.c.status, sa.func.count()).group_by(executions.c.status))
        return {status: count for status, count in rows}

    # -- the event journal (one row per state transition) ----------------------------------------
    def record_events(self, conn: Connection, events: list[dict[str, Any]]) -> None:
        if events:
            conn.execute(execution_events.insert(), events)

    def events(self, conn: Connection, execution_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            sa.select(execution_events)
            .where(execution_events.c.execution_id == execution_id)
            .order_by(execution_events.c.id)
        )
        return [dict(r._mapping) for r in rows]


def _indexed(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "application": execution.application.lower(),
        "pipeline_config_id": execution.pipeline_config_id,
        "name": execution.name,
        "status": execution.status.value,
        "build_time": execution.build_time,
        "start_time": execution.start_time,
        "end_time": execution.end_time,
    }


def stage_event(
    execution: Execution, stage: Stage | None, kind: str, status: Status, task_id: str | None = None
) -> dict[str, Any]:
    return {
        "execution_id": execution.id,
        "stage_id": stage.id if stage else None,
        "task_id": task_id,
        "type": kind,
        "status": status.value,
        "at": now_ms(),
    }


def _filtered(
    query: sa.Select[Any],
    application: str | None,
    statuses: Collection[str],
    since_ms: int | None,
    until_ms: int | None,
) -> sa.Select[Any]:
    """Executions of one application (or all), with the given statuses, built within the time bounds."""
    if application is not None:
        query = query.where(executions.c.application == application.lower())
    if statuses:
        query = query.where(executions.c.status.in_(list(statuses)))
    if since_ms is not None:
        query = query.where(executions.c.build_time >= since_ms)
    if until_ms is not None:
        query = query.where(executions.c.build_time <= until_ms)
    return query
