"""The external path: runs claimed by the transaction that produces them, results applied with what they
lead to, and executions kept decoded between transactions only while nobody else changed them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from gennaker.runtime import Runtime
from tests.support import make_runtime, pipeline, stage_statuses, wait_status


def test_an_external_stage_costs_at_most_one_write_transaction(runtime: Runtime) -> None:
    """Claiming a run and starting it share the transaction that produced it; applying its result starts the
    next stage's run: one write per stage, not a claim and an apply."""
    stages = [
        {"refId": str(n), "type": "testPoll", "polls": 1, "requisiteStageRefIds": [str(n - 1)] if n else []}
        for n in range(6)
    ]
    runtime.save_pipeline(pipeline("chain", stages), "tester")
    writes = []

    def began(conn: Connection) -> None:
        conn.info["changes"] = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]

    def committed(conn: Connection) -> None:
        if conn.connection.dbapi_connection.total_changes != conn.info.pop("changes"):  # type: ignore[union-attr]
            writes.append(conn)

    event.listen(runtime.db.writer, "begin", began)
    event.listen(runtime.db.writer, "commit", committed)
    execution_id = runtime.start_pipeline("demo", "chain", {}, "tester")
    assert wait_status(runtime, execution_id, "SUCCEEDED", "TERMINAL")["status"] == "SUCCEEDED"
    event.remove(runtime.db.writer, "commit", committed)
    event.remove(runtime.db.writer, "begin", began)
    # Storing the execution, starting it (which claims the first run), then one apply per stage that also
    # claims the next run (the last one completes the execution).
    assert len(writes) <= 2 + len(stages), f"{len(writes)} write transactions for {len(stages)} external stages"


def test_a_change_made_elsewhere_is_seen_by_a_worker_that_kept_the_execution(tmp_path: Path) -> None:
    """A second process (here a second runtime on the same database) judges a stage the worker holds decoded:
    the new revision in the header makes the worker read the execution again."""
    worker = make_runtime(tmp_path)
    worker.start_workers(1)
    other = make_runtime(tmp_path)
    try:
        stages = [
            {"refId": "1", "type": "manualJudgment"},
            {"refId": "2", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["1"]},
        ]
        worker.save_pipeline(pipeline("judged", stages), "tester")
        execution_id = worker.start_pipeline("demo", "judged", {}, "tester")
        wait_status(worker, execution_id, "RUNNING")
        other.operations.judge(execution_id, "1", "continue", "fine by me", "judge")
        worker.wakeup.notify()
        done = wait_status(worker, execution_id, "SUCCEEDED", "TERMINAL")
        assert done["status"] == "SUCCEEDED"
        assert stage_statuses(worker, execution_id) == {"1": "SUCCEEDED", "2": "SUCCEEDED"}
        judged = next(s for s in done["stages"] if s["refId"] == "1")
        assert judged["context"]["judgmentInput"] == "fine by me"
        assert "_revision" not in done
    finally:
        other.close()
        worker.close()


def test_a_polling_task_keeps_its_queue_row(runtime: Runtime) -> None:
    """Each poll makes the same row due again rather than deleting it and inserting another."""
    runtime.save_pipeline(pipeline("polling", [{"refId": "1", "type": "testPoll", "polls": 4}]), "tester")
    inserted = []

    def executed(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO QUEUE"):
            inserted.append(statement)

    event.listen(runtime.db.writer, "before_cursor_execute", executed)
    execution_id = runtime.start_pipeline("demo", "polling", {}, "tester")
    done = wait_status(runtime, execution_id, "SUCCEEDED", "TERMINAL")
    event.remove(runtime.db.writer, "before_cursor_execute", executed)
    assert done["status"] == "SUCCEEDED"
    assert done["stages"][0]["context"]["pollsSeen"] == 4
    # The execution's start, then its task's run: four polls, no row for any of them.
    assert len(inserted) == 2, inserted


def test_a_transaction_that_fails_at_its_commit_leaves_nothing_in_the_cache(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a unit changed in memory was never stored when the commit fails: the worker must not keep it (the
    next revision stored by anyone could carry the same header and make the stale copy look current)."""
    runtime.save_pipeline(pipeline("one", [{"refId": "1", "type": "wait", "waitTime": 60}]), "tester")
    runtime.stop_workers()
    execution_id = runtime.start_pipeline("demo", "one", {}, "tester")
    worker = runtime.new_worker()
    committing = runtime.db.transaction

    @contextmanager
    def failing_commit() -> Iterator[Connection]:
        with committing() as conn:
            yield conn
            raise RuntimeError("the commit failed")

    monkeypatch.setattr(runtime.db, "transaction", failing_commit)
    with pytest.raises(RuntimeError, match="the commit failed"), worker._transaction() as (conn, units):
        unit = worker._unit(conn, units, [execution_id], None)
        assert unit.execution(execution_id) is not None
        assert execution_id in worker.cache._entries
    assert execution_id not in worker.cache._entries


def test_after_a_change_elsewhere_only_the_rewritten_stages_are_decoded_again(runtime: Runtime) -> None:
    """An execution another worker moved on is read again, but the stages it did not rewrite are the ones the
    cache already held: only the rewritten stage is a new object, holding what was stored."""
    stages = [{"refId": str(n), "type": "wait", "waitTime": 60} for n in range(3)]
    runtime.save_pipeline(pipeline("three", stages), "tester")
    runtime.stop_workers()
    execution_id = runtime.start_pipeline("demo", "three", {}, "tester")
    cache = runtime.new_worker().cache
    with runtime.db.transaction() as conn:
        kept = cache.load(conn, execution_id)
        elsewhere = runtime.executions.load(conn, execution_id)
    assert kept is not None and elsewhere is not None
    elsewhere.execution.stages[1].context["note"] = "changed elsewhere"
    with runtime.db.transaction() as conn:
        runtime.executions.save_many(conn, [(elsewhere, None)])
    with runtime.db.transaction() as conn:
        fresh = cache.load(conn, execution_id)
    assert fresh is not None and fresh is not kept
    before, after = kept.execution.stages, fresh.execution.stages
    assert [after[0] is before[0], after[1] is before[1], after[2] is before[2]] == [True, False, True]
    assert after[1].context["note"] == "changed elsewhere"
    assert fresh.execution.to_json() == elsewhere.execution.to_json()
