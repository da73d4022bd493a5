"""A hypothesis state machine over start / pause / resume / cancel / restart / judge (issue 2, item 9).

The engine is driven deterministically: no worker threads; after every step the queue is drained by
calling a worker's `run_once` until nothing is due. Invariants, after every step:
- an execution that was complete stays byte-for-byte the same unless someone restarts or patches it;
- no stage or task is RUNNING or PAUSED under a complete execution;
- a complete stage has no RUNNING or PAUSED task or synthetic child;
- a SUCCEEDED stage's tasks all SUCCEEDED or were SKIPPED.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from gennaker.engine.operations import NotFound, OperationError
from gennaker.model.status import Status
from gennaker.runtime import Runtime
from tests.support import make_runtime

PIPELINES: dict[str, dict[str, Any]] = {
    "linear": {
        "stages": [
            {"refId": "1", "type": "manualJudgment"},
            {"refId": "2", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["1"]},
        ]
    },
    "fan": {
        "stages": [
            {"refId": "1", "type": "wait", "waitTime": 0},
            {"refId": "2", "type": "manualJudgment", "requisiteStageRefIds": ["1"]},
            {"refId": "3", "type": "testFail", "failPipeline": False, "requisiteStageRefIds": ["1"]},
            {"refId": "4", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["2", "3"]},
        ]
    },
    "failing": {
        "stages": [
            {"refId": "1", "type": "wait", "waitTime": 0},
            {"refId": "2", "type": "testFail", "requisiteStageRefIds": ["1"]},
        ]
    },
    "race": {
        "stages": [
            {"refId": "1", "type": "manualJudgment"},
            {"refId": "2", "type": "testFail"},
        ]
    },
    "limited": {
        "limitConcurrent": True,
        "keepWaitingPipelines": True,
        "stages": [
            {"refId": "1", "type": "manualJudgment"},
            {
                "refId": "2",
                "type": "checkPreconditions",
                "requisiteStageRefIds": ["1"],
                "preconditions": [{"type": "expression", "context": {"expression": "true"}}],
            },
        ],
    },
}
ACTIVE = (Status.RUNNING.value, Status.PAUSED.value)


class EngineMachine(RuleBasedStateMachine):
    executions = Bundle("executions")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="gennaker-props-"))
        self.rt: Runtime = make_runtime(self.directory)
        for name, config in PIPELINES.items():
            self.rt.save_pipeline({"application": "props", "name": name, **config}, "t")
        self.worker = self.rt.new_worker()
        self.finished: dict[str, str] = {}  # execution id -> JSON when first seen complete

    def teardown(self) -> None:
        self.rt.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def drain(self) -> None:
        for _ in range(1000):
            if not self.worker.run_once():
                return
        raise AssertionError("the queue never drained")

    def all_executions(self) -> list[dict[str, Any]]:
        with self.rt.db.read() as conn:
            return self.rt.executions.list_json(conn, "props", limit=1000)

    def operate(self, action: Any, *args: Any) -> None:
        with contextlib.suppress(OperationError, NotFound):  # not allowed now: the engine refuses, changes nothing
            action(*args)
        self.drain()

    @rule(target=executions, name=st.sampled_from(sorted(PIPELINES)))
    def start(self, name: str) -> str:
        execution_id = self.rt.start_pipeline("props", name, {}, "t")
        self.drain()
        return execution_id

    @rule(execution_id=executions)
    def pause(self, execution_id: str) -> None:
        self.operate(self.rt.operations.pause, execution_id, "t")

    @rule(execution_id=executions)
    def resume(self, execution_id: str) -> None:
        self.operate(self.rt.operations.resume, execution_id, "t")

    @rule(execution_id=executions)
    def cancel(self, execution_id: str) -> None:
        self.operate(self.rt.operations.cancel, execution_id, "t", "property test")

    @rule(execution_id=executions, judgment=st.sampled_from(["continue", "stop"]))
    def judge(self, execution_id: str, judgment: str) -> None:
        self.operate(self.rt.operations.judge, execution_id, "1", judgment, None, "t")

    @rule(execution_id=consumes(executions), ref=st.sampled_from(["1", "2", "3"]))
    def restart(self, execution_id: str, ref: str) -> None:
        self.finished.pop(execution_id, None)  # a restart is allowed to change a finished execution
        self.operate(self.rt.operations.restart_stage, execution_id, ref, "t")

    @invariant()
    def complete_executions_never_change_by_themselves(self) -> None:
        for execution in self.all_executions():
            if not Status(execution["status"]).is_complete:
                continue
            text = json.dumps(execution, sort_keys=True)
            assert self.finished.setdefault(execution["id"], text) == text, (
                f"{execution['id']} changed after completing"
            )

    @invariant()
    def nothing_runs_under_a_complete_execution(self) -> None:
        for execution in self.all_executions():
            if Status(execution["status"]).is_complete:
                for stage in execution["stages"]:
                    assert stage["status"] not in ACTIVE, (
                        f"stage {stage['refId']} {stage['status']} under a finished run"
                    )
                    assert all(t["status"] not in ACTIVE for t in stage["tasks"])

    @invariant()
    def stage_statuses_agree_with_tasks_and_children(self) -> None:
        for execution in self.all_executions():
            for stage in execution["stages"]:
                children = [s for s in execution["stages"] if s.get("parentStageId") == stage["id"]]
                if Status(stage["status"]).is_complete:
                    assert all(t["status"] not in ACTIVE for t in stage["tasks"])
                    assert all(c["status"] not in ACTIVE for c in children)
                if stage["status"] == Status.SUCCEEDED:
                    assert all(t["status"] in ("SUCCEEDED", "SKIPPED") for t in stage["tasks"])


EngineMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
TestEngineMachine = EngineMachine.TestCase
