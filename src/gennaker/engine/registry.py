"""Stage types and tasks by name. Stage modules register themselves; the engine looks them up."""

from __future__ import annotations

from gennaker.engine.contracts import StageDefinition, Task
from gennaker.model.compatibility import stage_not_run_reason
from gennaker.model.execution import Stage
from gennaker.model.stage_context import StageContext


class UnknownStageType(LookupError):
    pass


class Registry:
    """Stage definitions by type, and by the other names Deck has saved them under (`aliases`)."""

    def __init__(self) -> None:
        self.stages: dict[str, StageDefinition] = {}
        self.aliases: dict[str, StageDefinition] = {}
        self.tasks: dict[str, Task] = {}

    def add_stage(self, definition: StageDefinition, *tasks: Task) -> None:
        self.stages[definition.type] = definition
        for alias in definition.aliases:
            self.aliases[alias] = definition
        self.add_tasks(*tasks)

    def add_tasks(self, *tasks: Task) -> None:
        """Tasks several stage types share (e.g. binding produced artifacts)."""
        for task in tasks:
            self.tasks[task.name] = task

    def find(self, stage_type: str, alias: str | None = None) -> StageDefinition | None:
        """As Orca resolves a stage: by `type`, then by the stage's `alias`, then by other names."""
        for name in (stage_type, alias):
            if name is not None and name in self.stages:
                return self.stages[name]
        return self.aliases.get(stage_type) or (self.aliases.get(alias) if alias is not None else None)

    def for_stage(self, stage: Stage) -> StageDefinition | None:
        alias = stage.context.get("alias")
        return self.find(stage.type, alias if isinstance(alias, str) else None)

    def stage(self, stage: Stage) -> StageDefinition:
        """The definition that runs `stage`; a stage no definition runs fails with the reason."""
        found = self.for_stage(stage)
        if found is None:
            raise UnknownStageType(stage_not_run_reason(stage.type))
        return found

    def runs(self, stage_type: str, alias: str | None = None) -> bool:
        return self.find(stage_type, alias) is not None

    def task(self, name: str) -> Task:
        return self.tasks[name]

    @property
    def stage_types(self) -> set[str]:
        """The names a stage may be saved under: types and aliases."""
        return set(self.stages) | set(self.aliases)

    def context_schemas(self) -> dict[str, type[StageContext]]:
        """Per name a stage may be saved under (types, then aliases), the schema `validate_pipeline` checks its
        context with; a definition without its own schema gets the keys every stage may carry."""
        named = {**self.aliases, **self.stages}
        return {name: definition.context_schema or StageContext for name, definition in named.items()}
