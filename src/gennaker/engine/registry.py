"""Stage types and tasks by name. Stage modules register themselves; the engine looks them up."""

from __future__ import annotations

from collections.abc import Mapping

from gennaker.engine.contracts import StageDefinition, Task
from gennaker.model.pipeline import NumericRange

# Fields every stage may carry, and their ranges.
COMMON_NUMERIC_FIELDS: dict[str, NumericRange] = {"stageTimeoutMs": (0, 30 * 24 * 3600 * 1000)}


class UnknownStageType(LookupError):
    pass


class Registry:
    def __init__(self) -> None:
        self.stages: dict[str, StageDefinition] = {}
        self.tasks: dict[str, Task] = {}

    def add_stage(self, definition: StageDefinition, *tasks: Task) -> None:
        self.stages[definition.type] = definition
        self.add_tasks(*tasks)

    def add_tasks(self, *tasks: Task) -> None:
        """Tasks several stage types share (e.g. binding produced artifacts)."""
        for task in tasks:
            self.tasks[task.name] = task

    def stage(self, stage_type: str) -> StageDefinition:
        try:
            return self.stages[stage_type]
        except KeyError:
            raise UnknownStageType(f"unknown stage type '{stage_type}'") from None

    def task(self, name: str) -> Task:
        return self.tasks[name]

    @property
    def stage_types(self) -> set[str]:
        return set(self.stages)

    def numeric_fields(self) -> dict[str, Mapping[str, NumericRange]]:
        """Per stage type, the numeric fields `validate_pipeline` checks."""
        return {name: {**COMMON_NUMERIC_FIELDS, **d.numeric_fields} for name, d in self.stages.items()}
