"""Shared test helpers: a runtime on a temporary database, test-only stage types, waiting for states."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gennaker.engine.contracts import StageDefinition, StageFailure, Task, TaskContext, TaskResult
from gennaker.engine.registry import Registry
from gennaker.model.execution import Stage
from gennaker.model.status import Status
from gennaker.runtime import Runtime, Settings
from gennaker.stages import core_registry

DATA_DIR = Path(__file__).resolve().parent / "data"  # conformance cases, kept in the repository


class FailStage(StageDefinition):
    """`testFail`: fails with `reason` (or succeeds when `succeed` is true)."""

    type = "testFail"

    def tasks(self, stage: Stage) -> list[str]:
        return [FailTask.name]


class FailTask(Task):
    name = "testFail"

    def execute(self, tc: TaskContext) -> TaskResult:
        if tc.ctx.get("succeed"):
            return TaskResult.succeeded(outputs={"result": "ok"})
        raise StageFailure(str(tc.ctx.get("reason") or "told to fail"))


class PollStage(StageDefinition):
    """`testPoll`: an external task that polls `polls` times, then records its side effect once."""

    type = "testPoll"

    def tasks(self, stage: Stage) -> list[str]:
        return [PollTask.name]


class PollTask(Task):
    name = "testPoll"
    external = True
    backoff_ms = 10
    cancelled: list[str] = []
    side_effects: Callable[[str], None] | None = None

    def execute(self, tc: TaskContext) -> TaskResult:
        seen = int(tc.ctx.get("pollsSeen", 0)) + 1
        if seen < int(tc.ctx.get("polls", 1)):
            return TaskResult.running(pollsSeen=seen)
        if PollTask.side_effects is not None:
            PollTask.side_effects(f"{tc.execution.id}/{tc.stage.id}")
        return TaskResult.succeeded(context={"pollsSeen": seen}, outputs={f"done_{tc.stage.ref_id}": True})

    def on_cancel(self, tc: TaskContext) -> None:
        PollTask.cancelled.append(tc.stage.id)


def test_registry() -> Registry:
    registry = core_registry()
    registry.add_stage(FailStage(), FailTask())
    registry.add_stage(PollStage(), PollTask())
    return registry


def make_runtime(
    tmp_path: Path,
    database_url: str | None = None,
    config: dict[str, Any] | None = None,
    engine: dict[str, Any] | None = None,
    enforce_permissions: bool = False,
) -> Runtime:
    url = database_url or f"sqlite:///{tmp_path / 'gennaker.db'}"
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        config=config or {},
        engine=engine or {},
        enforce_permissions=enforce_permissions,
    )
    return Runtime(settings, registry=test_registry())


def pipeline(name: str, stages: list[dict[str, Any]], app: str = "demo", **extra: Any) -> dict[str, Any]:
    return {"application": app, "name": name, "stages": stages, **extra}


def execution(rt: Runtime, execution_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        found = rt.executions.get_json(conn, execution_id)
    assert found is not None
    return found


def stage_statuses(rt: Runtime, execution_id: str) -> dict[str, str]:
    return {s["refId"]: s["status"] for s in execution(rt, execution_id)["stages"]}


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_status(rt: Runtime, execution_id: str, *statuses: str, timeout: float = 15.0) -> dict[str, Any]:
    wanted = set(statuses)
    return wait_for(
        lambda: (lambda e: e if e["status"] in wanted else None)(execution(rt, execution_id)),
        timeout,
        f"execution {execution_id} to reach {sorted(wanted)}",
    )


def complete(status: str) -> bool:
    return Status(status).is_complete
