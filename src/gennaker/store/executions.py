"""Executions and their stages. Each stage is its own row so a handler rewrites only what it changed.

Every save that changes an execution stores its header with a new revision (`_revision`, never shown), so a
process that kept the execution decoded can tell, from the header alone, whether it is still current.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.status import Status
from gennaker.store import codec, dialects
from gennaker.store.tables import execution_events, executions, stages

ACTIVE = (Status.RUNNING.value, Status.PAUSED.value)
REVISION = "_revision"

# Statements of every transition, built once (SQLAlchemy then reuses their compiled form without work).
_HEADER = sa.select(executions.c.header).where(executions.c.id == sa.bindparam("id"))
_STAGES = (
    sa.select(stages.c.id, stages.c.position, stages.c.doc)
    .where(stages.c.execution_id == sa.bindparam("id"))
    .order_by(stages.c.position)
)
_IN = executions.c.id.in_(sa.bindparam("ids", expanding=True))
_IDS = sa.select(executions.c.id).where(_IN)
_HEADERS = sa.select(executions.c.id, executions.c.header).where(_IN).order_by(executions.c.id)
_LOCK = _HEADERS.with_for_update()
_LOCK_FREE = _HEADERS.with_for_update(skip_locked=True)
_UPDATE_HEADER = executions.update().where(executions.c.id == sa.bindparam("b_id"))
_UPDATE_STAGE = (
    stages.update()
    .where(stages.c.id == sa.bindparam("b_id"))
    .values(position=sa.bindparam("position"), status=sa.bindparam("status"), doc=sa.bindparam("doc"))
)
_INSERT_STAGES = stages.insert()
_DELETE_STAGES = stages.delete().where(stages.c.id.in_(sa.bindparam("ids", expanding=True)))
_INSERT_EVENTS = execution_events.insert()
_REVISION_TAIL = re.compile(r',"_revision":(\d+)\}$')


@dataclass(slots=True)
class Loaded:
    """An execution plus the stored text of each part, so `save` can skip what did not change: `header` as
    stored (with its revision), `body` the header without it."""

    execution: Execution
    header: str
    stage_docs: dict[str, tuple[int, str]] = field(default_factory=dict)
    body: str = ""
    revision: int = 0
    # The stage list `stage_docs` was last matched with, and its length: while both hold, no stage was added,
    # removed or moved, and only touched stages need a look.
    shape: tuple[list[Stage], int] | None = None
    # Stages rewritten since `rewritten` was last cleared (by whoever keeps copies of the stored documents).
    rewritten: set[str] = field(default_factory=set)


def stamped(body: str, revision: int) -> str:
    """The stored header: the header's JSON object with its revision as the last key."""
    return f'{body[:-1]},"{REVISION}":{revision}}}'


def split_header(header: str) -> tuple[str, int]:
    """(header without its revision, revision) of a stored header."""
    tail = _REVISION_TAIL.search(header)
    if tail is None:
        return header, 0
    return header[: tail.start()] + "}", int(tail.group(1))


def _kept_or_decoded(previous: Loaded | None, stage_id: str, doc: str) -> Stage:
    """The stage `previous` holds when its stored document is still `doc`, else `doc` decoded."""
    if previous is not None and previous.stage_docs.get(stage_id, (0, None))[1] == doc:
        kept = previous.execution.stage(stage_id)
        if kept is not None:
            return kept
    return Stage.from_json(codec.loads(doc))


def header_data(header: str) -> dict[str, Any]:
    data: dict[str, Any] = codec.loads(header)
    data.pop(REVISION, None)
    return data


class ExecutionStore:
    def insert(self, conn: Connection, execution: Execution, correlation_id: str | None = None) -> Loaded:
        body = codec.dumps(execution.header_json())
        header = stamped(body, 0)
        conn.execute(executions.insert().values(correlation_id=correlation_id, header=header, **_indexed(execution)))
        loaded = Loaded(execution, header, body=body)
        writes = _Writes()
        self._stage_writes(loaded, None, writes)
        writes.run(conn)
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

    def load(self, conn: Connection, execution_id: str) -> Loaded | None:
        header = self.header(conn, execution_id)
        return None if header is None else self.load_stages(conn, execution_id, header)

    def header(self, conn: Connection, execution_id: str) -> str | None:
        """The stored header text (its revision included), or None for an unknown execution."""
        header: str | None = conn.execute(_HEADER, {"id": execution_id}).scalar()
        return header

    def load_stages(self, conn: Connection, execution_id: str, header: str, previous: Loaded | None = None) -> Loaded:
        """The execution whose stored header is `header`, with its stages. A stage whose stored document is
        still the one `previous` (an earlier load or save of this execution that nobody changed in memory
        since) holds is taken from it rather than decoded again: when another worker moved an execution on,
        only the few stages it rewrote are decoded."""
        rows = conn.execute(_STAGES, {"id": execution_id}).all()
        execution = Execution.from_json(header_data(header))
        execution.stages = [_kept_or_decoded(previous, r.id, r.doc) for r in rows]
        body, revision = split_header(header)
        docs = {r.id: (r.position, r.doc) for r in rows}
        return Loaded(execution, header, docs, body, revision, (execution.stages, len(execution.stages)))

    def lock(self, conn: Connection, execution_ids: Collection[str]) -> dict[str, str]:
        """Take row locks on several executions in id order (a fixed order cannot deadlock); returns their
        stored headers (SQLite's single writer needs no row locks: the headers are read)."""
        if not execution_ids:
            return {}
        query = _LOCK if conn.dialect.name == "postgresql" else _HEADERS
        return {row.id: row.header for row in conn.execute(query, {"ids": sorted(execution_ids)})}

    def lock_available(self, conn: Connection, execution_ids: Collection[str]) -> dict[str, str | None]:
        """Lock those of the executions no other transaction holds; returns the ids this one may handle, with
        their stored headers.

        Ids of executions that do not exist are returned too, without a header (their messages are dropped
        by the handlers)."""
        ids = set(execution_ids)
        if not ids:
            return {}
        if conn.dialect.name != "postgresql":
            return {**dict.fromkeys(ids), **self.lock(conn, ids)}
        locked = conn.execute(_LOCK_FREE, {"ids": sorted(ids)})
        available: dict[str, str | None] = {row.id: row.header for row in locked}
        if len(available) < len(ids):
            existing = set(conn.execute(_IDS, {"ids": sorted(ids)}).scalars())
            available.update(dict.fromkeys(ids - existing))
        return available

    def lock_config(self, conn: Connection, pipeline_config_id: str, *, shared: bool = False) -> None:
        """Serialise concurrency decisions for one pipeline config (a transaction-scoped advisory lock). Starts
        that may park take it alone; finishing executions, which only look for parked ones, share it."""
        dialects.advisory_lock(conn, pipeline_config_id, shared=shared)

    def save_many(self, conn: Connection, items: Iterable[tuple[Loaded, Collection[str] | None]]) -> list[str]:
        """Write what changed in each execution since loading, under a new revision, with one statement per kind
        of write; returns the ids that changed. With `touched`, only those stages (and stages added, removed or
        moved) are compared with what was loaded: the caller vouches that no other stage changed."""
        writes = _Writes()
        changed = []
        for loaded, touched in items:
            execution = loaded.execution
            body = codec.dumps(execution.header_json())
            if not self._stage_writes(loaded, touched, writes) and body == loaded.body:
                continue
            loaded.revision += 1
            loaded.header, loaded.body = stamped(body, loaded.revision), body
            values = _indexed(execution)
            writes.headers.append({**values, "b_id": values.pop("id"), "header": loaded.header})
            changed.append(execution.id)
        writes.run(conn)
        return changed

    @staticmethod
    def _stage_writes(loaded: Loaded, touched: Collection[str] | None, writes: _Writes) -> bool:
        """Add the rows of the execution's changed stages to `writes`; returns whether there were any."""
        execution = loaded.execution
        stage_docs = loaded.stage_docs
        before = writes.count()
        shape = loaded.shape
        unmoved = shape is not None and shape[0] is execution.stages and shape[1] == len(execution.stages)
        candidates: Iterable[tuple[int, Stage]] = enumerate(execution.stages)
        if touched is not None and unmoved:
            candidates = [(stage_docs[stage_id][0], execution.index().by_id[stage_id]) for stage_id in touched]
        for position, stage in candidates:
            previous = stage_docs.get(stage.id)
            if touched is not None and previous is not None and previous[0] == position and stage.id not in touched:
                continue
            doc = codec.dumps(stage.to_json())
            if previous == (position, doc):
                continue
            row = {"position": position, "status": stage.status.value, "doc": doc}
            if previous is None:
                writes.inserts.append({"id": stage.id, "execution_id": execution.id, **row})
            else:
                writes.updates.append({"b_id": stage.id, **row})
            stage_docs[stage.id] = (position, doc)
            loaded.rewritten.add(stage.id)
        if len(stage_docs) != len(execution.stages):
            current_ids = {stage.id for stage in execution.stages}
            for stage_id in [stage_id for stage_id in stage_docs if stage_id not in current_ids]:
                writes.removed.append(stage_id)
                del stage_docs[stage_id]
        loaded.shape = (execution.stages, len(execution.stages))
        return writes.count() > before

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
        return self.with_stages(conn, [header_data(r.header) for r in rows])

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
                yield header_data(row.header)
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
            conn.execute(_INSERT_EVENTS, events)

    def events(self, conn: Connection, execution_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            sa.select(execution_events)
            .where(execution_events.c.execution_id == execution_id)
            .order_by(execution_events.c.id)
        )
        return [dict(r._mapping) for r in rows]


@dataclass(slots=True)
class _Writes:
    """Rows to write for one or more executions, sent as one statement per kind."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.removed)

    def run(self, conn: Connection) -> None:
        if self.inserts:
            conn.execute(_INSERT_STAGES, self.inserts)
        if self.updates:
            conn.execute(_UPDATE_STAGE, self.updates)
        if self.removed:
            conn.execute(_DELETE_STAGES, {"ids": self.removed})
        if self.headers:
            conn.execute(_UPDATE_HEADER, self.headers)


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
