"""Stage types and tasks by name. Stage modules register themselves; the engine looks them up."""

from __future__ import annotations

from gennaker.engine.contracts import StageDefinition, Task


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
