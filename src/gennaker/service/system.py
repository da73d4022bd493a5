"""The state of the system as a whole: whether the database answers, and the engine's figures for metrics
(executions by status, the queue's depth and age), read from the database so every process reports the
shared truth."""

from __future__ import annotations

from dataclasses import dataclass

from gennaker.model.execution import now_ms
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.queue import QueueStore


@dataclass(frozen=True)
class EngineFigures:
    executions_by_status: dict[str, int]
    queue_depth: int
    queue_due: int
    oldest_due_age_ms: int


class System:
    def __init__(self, db: Database, executions: ExecutionStore, queue: QueueStore):
        self.db = db
        self.executions = executions
        self.queue = queue

    def check_database(self) -> None:
        """Raises if the database does not answer."""
        with self.db.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def engine_figures(self) -> EngineFigures:
        with self.db.read() as conn:
            counts = self.executions.status_counts(conn)
            queue = self.queue.stats(conn, now_ms())
        return EngineFigures(counts, queue["depth"], queue["due"], queue["oldest_due_age_ms"])
