"""A task's `dynamic_backoff_ms` decides when it polls again (the manifest tasks read `manifest_poll_ms`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from gennaker.engine.contracts import StageDefinition, Task, TaskContext, TaskResult
from gennaker.engine.messages import Kind
from gennaker.model.execution import Stage, now_ms
from gennaker.store.tables import queue
from tests.support import make_runtime, pipeline, wait_for

HOUR_MS = 3_600_000


class SlowPollStage(StageDefinition):
    type = "testSlowPoll"

    def tasks(self, stage: Stage) -> list[str]:
        return [SlowPollTask.name]


class SlowPollTask(Task):
    name = "testSlowPoll"

    def execute(self, tc: TaskContext) -> TaskResult:
        return TaskResult.running()

    def dynamic_backoff_ms(self, tc: TaskContext) -> int:
        return int(tc.services.settings["slow_poll_ms"])


def test_the_next_poll_is_scheduled_by_the_tasks_dynamic_backoff(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, engine={"slow_poll_ms": HOUR_MS})
    rt.registry.add_stage(SlowPollStage(), SlowPollTask())
    rt.save_pipeline(pipeline("slow", [{"refId": "1", "type": "testSlowPoll"}]), "tester")
    rt.start_pipeline("demo", "slow", {"type": "manual"}, "tester")
    rt.start_workers(1)
    try:

        def next_poll() -> int | None:
            with rt.db.read() as conn:
                rows = conn.execute(sa.select(queue.c.kind, queue.c.deliver_at)).all()
            polls = [at for kind, at in rows if kind == Kind.RUN_TASK.value]
            return polls[0] if polls else None

        scheduled = wait_for(next_poll, what="the task's next poll")
        assert scheduled - now_ms() > HOUR_MS - 60_000  # an hour away, not the default second
    finally:
        rt.close()
