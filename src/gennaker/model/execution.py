"""Executions, stages and tasks as the engine holds them, in Spinnaker's execution JSON (orca.md §2.1).

Fields Spinnaker does not have (bookkeeping such as `pausedMs`) are kept in the same JSON so a stored
execution is always exactly what the API shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gennaker.model.status import CONTINUABLE, Status

STAGE_BEFORE = "STAGE_BEFORE"
STAGE_AFTER = "STAGE_AFTER"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Task:
    id: str
    name: str
    implementing_class: str
    status: Status = Status.NOT_STARTED
    start_time: int | None = None
    end_time: int | None = None
    stage_start: bool = False
    stage_end: bool = False
    loop_start: bool = False
    loop_end: bool = False
    task_exception_details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "implementingClass": self.implementing_class,
            "status": self.status.value,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "stageStart": self.stage_start,
            "stageEnd": self.stage_end,
            "loopStart": self.loop_start,
            "loopEnd": self.loop_end,
            "taskExceptionDetails": self.task_exception_details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=str(data["id"]),
            name=data["name"],
            implementing_class=data.get("implementingClass", data["name"]),
            status=Status(data.get("status", "NOT_STARTED")),
            start_time=data.get("startTime"),
            end_time=data.get("endTime"),
            stage_start=bool(data.get("stageStart")),
            stage_end=bool(data.get("stageEnd")),
            loop_start=bool(data.get("loopStart")),
            loop_end=bool(data.get("loopEnd")),
            task_exception_details=data.get("taskExceptionDetails") or {},
        )


@dataclass(slots=True)
class Stage:
    id: str
    ref_id: str
    type: str
    name: str
    status: Status = Status.NOT_STARTED
    context: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)
    requisite_stage_ref_ids: list[str] = field(default_factory=list)
    parent_stage_id: str | None = None
    synthetic_stage_owner: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    start_time_expiry: int | None = None
    scheduled_time: int | None = None
    last_modified: dict[str, Any] | None = None
    # Engine bookkeeping: milliseconds spent paused while this stage ran; after-stages planned.
    paused_ms: int = 0
    after_stages_planned: bool = False

    @property
    def is_synthetic(self) -> bool:
        return self.parent_stage_id is not None

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.id == task_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "refId": self.ref_id,
            "type": self.type,
            "name": self.name,
            "status": self.status.value,
            "context": self.context,
            "outputs": self.outputs,
            "tasks": [t.to_json() for t in self.tasks],
            "requisiteStageRefIds": self.requisite_stage_ref_ids,
            "parentStageId": self.parent_stage_id,
            "syntheticStageOwner": self.synthetic_stage_owner,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "startTimeExpiry": self.start_time_expiry,
            "scheduledTime": self.scheduled_time,
            "lastModified": self.last_modified,
            "pausedMs": self.paused_ms,
            "afterStagesPlanned": self.after_stages_planned,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stage:
        return cls(
            id=data["id"],
            ref_id=str(data.get("refId")),
            type=data["type"],
            name=data.get("name") or data["type"],
            status=Status(data.get("status", "NOT_STARTED")),
            context=data.get("context") or {},
            outputs=data.get("outputs") or {},
            tasks=[Task.from_json(t) for t in data.get("tasks") or []],
            requisite_stage_ref_ids=[str(r) for r in data.get("requisiteStageRefIds") or []],
            parent_stage_id=data.get("parentStageId"),
            synthetic_stage_owner=data.get("syntheticStageOwner"),
            start_time=data.get("startTime"),
            end_time=data.get("endTime"),
            start_time_expiry=data.get("startTimeExpiry"),
            scheduled_time=data.get("scheduledTime"),
            last_modified=data.get("lastModified"),
            paused_ms=data.get("pausedMs") or 0,
            after_stages_planned=bool(data.get("afterStagesPlanned")),
        )


class StageIndex:
    """Lookups over an execution's stages by id, parent and requisite, so finding a stage's children,
    upstream or downstream stages does not scan the whole list. Built for one list of stages of a given
    length: appending to the list or replacing it makes a new index (stages never change their place in
    the graph once created)."""

    __slots__ = ("by_id", "by_ref", "children", "graphs", "length", "needed_by", "position", "source")

    def __init__(self, stages: list[Stage]):
        self.source, self.length = stages, len(stages)
        self.by_id: dict[str, Stage] = {}
        self.children: dict[str | None, list[Stage]] = {}  # parent id (None: top level) -> stages, in order
        self.graphs: dict[tuple[str | None, str | None], list[Stage]] = {}  # (parent id, owner) -> stages
        self.needed_by: dict[tuple[str | None, str], list[Stage]] = {}  # (parent id, requisite ref) -> stages
        self.by_ref: dict[tuple[str | None, str], list[Stage]] = {}  # (parent id, ref id) -> stages
        self.position: dict[str, int] = {}  # stage id -> its place in the list
        for place, stage in enumerate(stages):
            self.by_id.setdefault(stage.id, stage)
            self.position.setdefault(stage.id, place)
            self.children.setdefault(stage.parent_stage_id, []).append(stage)
            self.graphs.setdefault((stage.parent_stage_id, stage.synthetic_stage_owner), []).append(stage)
            self.by_ref.setdefault((stage.parent_stage_id, stage.ref_id), []).append(stage)
            for ref in stage.requisite_stage_ref_ids:
                self.needed_by.setdefault((stage.parent_stage_id, ref), []).append(stage)


@dataclass(slots=True)
class Execution:
    id: str
    application: str
    name: str
    type: str = "PIPELINE"
    pipeline_config_id: str | None = None
    status: Status = Status.NOT_STARTED
    build_time: int = field(default_factory=now_ms)
    start_time: int | None = None
    end_time: int | None = None
    start_time_expiry: int | None = None
    canceled: bool = False
    canceled_by: str | None = None
    cancellation_reason: str | None = None
    limit_concurrent: bool = False
    max_concurrent_executions: int = 0
    keep_waiting_pipelines: bool = False
    spel_evaluator: str | None = None
    authentication: dict[str, Any] = field(default_factory=dict)
    paused: dict[str, Any] | None = None
    trigger: dict[str, Any] = field(default_factory=dict)
    notifications: list[Any] = field(default_factory=list)
    initial_config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    _index: StageIndex | None = field(default=None, init=False, repr=False, compare=False)

    # -- lookups -------------------------------------------------------------------------------
    def index(self) -> StageIndex:
        """The lookup index of the current stage list (rebuilt after stages are added or removed)."""
        index = self._index
        if index is None or index.source is not self.stages or index.length != len(self.stages):
            index = self._index = StageIndex(self.stages)
        return index

    def stage(self, stage_id: str) -> Stage | None:
        return self.index().by_id.get(stage_id)

    def stage_by_ref(self, ref_id: str) -> Stage | None:
        return next((s for s in self.index().children.get(None, []) if s.ref_id == ref_id), None)

    def top_level_stages(self) -> list[Stage]:
        return list(self.index().children.get(None, []))

    def children(self, parent: Stage, owner: str | None = None) -> list[Stage]:
        index = self.index()
        if owner is None:
            return list(index.children.get(parent.id, []))
        return list(index.graphs.get((parent.id, owner), []))

    def siblings(self, stage: Stage) -> list[Stage]:
        """Stages in the same graph as `stage`: top-level ones, or the same parent's same-owner children."""
        if stage.parent_stage_id is None:
            return self.top_level_stages()
        if stage.synthetic_stage_owner is None:
            return list(self.index().children.get(stage.parent_stage_id, []))
        return list(self.index().graphs.get((stage.parent_stage_id, stage.synthetic_stage_owner), []))

    def upstream(self, stage: Stage) -> list[Stage]:
        """The stages `stage` requires, in the order of the stage list (artifact lookups follow it)."""
        wanted = set(stage.requisite_stage_ref_ids)
        if not wanted:
            return []
        index = self.index()
        owner = stage.synthetic_stage_owner if stage.parent_stage_id is not None else None
        found = [s for ref in wanted for s in index.by_ref.get((stage.parent_stage_id, ref), [])]
        return sorted(
            (s for s in found if owner is None or s.synthetic_stage_owner == owner), key=lambda s: index.position[s.id]
        )

    def downstream(self, stage: Stage) -> list[Stage]:
        needing = self.index().needed_by.get((stage.parent_stage_id, stage.ref_id), [])
        owner = stage.synthetic_stage_owner if stage.parent_stage_id is not None else None
        return [s for s in needing if owner is None or s.synthetic_stage_owner == owner]

    def ancestors_of_parent(self, stage: Stage) -> Iterator[Stage]:
        current = stage
        while current.parent_stage_id is not None:
            parent = self.stage(current.parent_stage_id)
            if parent is None:
                return
            yield parent
            current = parent

    def top_level_ancestor(self, stage: Stage) -> Stage:
        ancestors = list(self.ancestors_of_parent(stage))
        return ancestors[-1] if ancestors else stage

    def all_downstream(self, stage: Stage) -> list[Stage]:
        """Every stage reachable downstream of `stage` within its graph, in breadth-first order."""
        seen: dict[str, Stage] = {}
        frontier = [stage]
        while frontier:
            nxt = []
            for s in frontier:
                for d in self.downstream(s):
                    if d.id not in seen:
                        seen[d.id] = d
                        nxt.append(d)
            frontier = nxt
        return list(seen.values())

    def descendants(self, stage: Stage) -> list[Stage]:
        """All synthetic stages under `stage`, at any depth."""
        children = self.index().children
        out: list[Stage] = []
        frontier = [stage.id]
        while frontier:
            kids = [kid for parent in frontier for kid in children.get(parent, [])]
            out.extend(kids)
            frontier = [k.id for k in kids]
        return out

    def upstream_ready(self, stage: Stage) -> bool:
        return all(s.status in CONTINUABLE for s in self.upstream(stage))

    # -- serialisation -------------------------------------------------------------------------
    def header_json(self) -> dict[str, Any]:
        """Everything but the stages (stored in the executions row)."""
        return {
            "type": self.type,
            "id": self.id,
            "application": self.application,
            "name": self.name,
            "pipelineConfigId": self.pipeline_config_id,
            "status": self.status.value,
            "buildTime": self.build_time,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "startTimeExpiry": self.start_time_expiry,
            "canceled": self.canceled,
            "canceledBy": self.canceled_by,
            "cancellationReason": self.cancellation_reason,
            "limitConcurrent": self.limit_concurrent,
            "maxConcurrentExecutions": self.max_concurrent_executions,
            "keepWaitingPipelines": self.keep_waiting_pipelines,
            "spelEvaluator": self.spel_evaluator,
            "authentication": self.authentication,
            "paused": self.paused,
            "trigger": self.trigger,
            "notifications": self.notifications,
            "initialConfig": self.initial_config,
            **self.extra,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.header_json(), "stages": [s.to_json() for s in self.stages]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Execution:
        known = {
            "type",
            "id",
            "application",
            "name",
            "pipelineConfigId",
            "status",
            "buildTime",
            "startTime",
            "endTime",
            "startTimeExpiry",
            "canceled",
            "canceledBy",
            "cancellationReason",
            "limitConcurrent",
            "maxConcurrentExecutions",
            "keepWaitingPipelines",
            "spelEvaluator",
            "authentication",
            "paused",
            "trigger",
            "notifications",
            "initialConfig",
            "stages",
        }
        return cls(
            id=data["id"],
            application=data["application"],
            name=data.get("name") or "",
            type=data.get("type", "PIPELINE"),
            pipeline_config_id=data.get("pipelineConfigId"),
            status=Status(data.get("status", "NOT_STARTED")),
            build_time=data.get("buildTime") or now_ms(),
            start_time=data.get("startTime"),
            end_time=data.get("endTime"),
            start_time_expiry=data.get("startTimeExpiry"),
            canceled=bool(data.get("canceled")),
            canceled_by=data.get("canceledBy"),
            cancellation_reason=data.get("cancellationReason"),
            limit_concurrent=bool(data.get("limitConcurrent")),
            max_concurrent_executions=int(data.get("maxConcurrentExecutions") or 0),
            keep_waiting_pipelines=bool(data.get("keepWaitingPipelines")),
            spel_evaluator=data.get("spelEvaluator"),
            authentication=data.get("authentication") or {},
            paused=data.get("paused"),
            trigger=data.get("trigger") or {},
            notifications=data.get("notifications") or [],
            initial_config=data.get("initialConfig") or {},
            extra={k: v for k, v in data.items() if k not in known},
            stages=[Stage.from_json(s) for s in data.get("stages") or []],
        )
