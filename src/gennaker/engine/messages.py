"""Engine messages (orca.md §2.4). Each names an execution and, where relevant, a stage and a task."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    START_EXECUTION = "startExecution"
    START_STAGE = "startStage"
    START_TASK = "startTask"
    RUN_TASK = "runTask"
    COMPLETE_TASK = "completeTask"
    COMPLETE_STAGE = "completeStage"
    SKIP_STAGE = "skipStage"
    ABORT_STAGE = "abortStage"
    CANCEL_STAGE = "cancelStage"
    PAUSE_TASK = "pauseTask"
    RESUME_EXECUTION = "resumeExecution"
    RESTART_STAGE = "restartStage"
    CONTINUE_PARENT_STAGE = "continueParentStage"
    COMPLETE_EXECUTION = "completeExecution"
    CANCEL_EXECUTION = "cancelExecution"
    RESCHEDULE_EXECUTION = "rescheduleExecution"
    START_WAITING_EXECUTIONS = "startWaitingExecutions"


@dataclass(slots=True)
class Message:
    kind: Kind
    execution_id: str
    stage_id: str | None = None
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.data)
        if self.stage_id is not None:
            out["stageId"] = self.stage_id
        if self.task_id is not None:
            out["taskId"] = self.task_id
        return out

    @classmethod
    def from_payload(cls, kind: str, execution_id: str, payload: dict[str, Any]) -> Message:
        data = dict(payload)
        stage_id = data.pop("stageId", None)
        task_id = data.pop("taskId", None)
        return cls(Kind(kind), execution_id, stage_id, task_id, data)
