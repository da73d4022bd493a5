"""What a stage type and a task must provide to the engine.

A stage definition says which tasks a stage runs and which synthetic stages it adds before or after
itself; a task does one step and returns a `TaskResult`. Tasks marked `external` talk to other systems
and run outside the database transaction (they must be idempotent, or record what they started in the
stage context before polling it); all others run inside the handler's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from gennaker.model.execution import Execution, Stage
from gennaker.model.stage_context import StageContext
from gennaker.model.status import Status

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(slots=True)
class TaskResult:
    status: Status
    context: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Poll again after this many ms (RUNNING only); None means the task's own backoff.
    backoff_ms: int | None = None

    @classmethod
    def running(cls, backoff_ms: int | None = None, **context: Any) -> TaskResult:
        return cls(Status.RUNNING, context=context, backoff_ms=backoff_ms)

    @classmethod
    def succeeded(cls, context: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None) -> TaskResult:
        return cls(Status.SUCCEEDED, context or {}, outputs or {})

    @classmethod
    def terminal(cls, error: str, **context: Any) -> TaskResult:
        return cls(Status.TERMINAL, {**context, "exception": exception_details(error)})


def exception_details(error: str, errors: list[str] | None = None) -> dict[str, Any]:
    """The `context.exception` shape Deck shows for a failed stage (orca.md §3.13)."""
    return {
        "exceptionType": "TaskFailure",
        "shouldRetry": False,
        "details": {"error": error, "errors": errors or [error]},
    }


class StageFailure(Exception):
    """Raised by a task for an expected failure; the message becomes the stage's error."""


@dataclass(slots=True)
class TaskContext:
    """What a task sees: the execution (read-only by convention), its stage, and engine services."""

    execution: Execution
    stage: Stage
    now: int
    services: EngineServices
    # Only for tasks that run inside the transaction (external = False).
    conn: Connection | None = None

    @property
    def ctx(self) -> dict[str, Any]:
        return self.stage.context


class Task:
    """Base class of all tasks. Subclasses set `name` and implement `execute`."""

    name: ClassVar[str]
    external: ClassVar[bool] = False
    # Polling interval when the task returns RUNNING, and the task's total time limit.
    backoff_ms: ClassVar[int] = 1000
    timeout_ms: ClassVar[int | None] = None
    # Tasks that wait on people or other systems take the stage's stageTimeoutMs as their timeout.
    timeout_overridable: ClassVar[bool] = False

    def execute(self, tc: TaskContext) -> TaskResult:
        raise NotImplementedError

    def on_cancel(self, tc: TaskContext) -> None:
        """Called when the execution is cancelled while this task is running."""

    def dynamic_backoff_ms(self, tc: TaskContext) -> int:
        return self.backoff_ms


@dataclass(slots=True)
class SyntheticStage:
    """A stage a definition adds before or after its parent; `context` becomes its stage context."""

    type: str
    name: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What a cancelled stage asks the engine to do with it, in the same transaction: other executions to
    cancel, and cleanup jobs (stage contexts) started as an ad-hoc task, so the cleanup survives the process."""

    executions: tuple[str, ...] = ()
    reason: str = ""
    cleanup: tuple[dict[str, Any], ...] = ()
    cleanup_description: str = ""


# A stage type's context schema (`type` is taken inside `StageDefinition`).
ContextSchema = type[StageContext]


class StageDefinition:
    """Base class of stage types. `type` is the Spinnaker stage type this definition runs."""

    type: ClassVar[str]
    # Other names Deck or Orca have used for this stage type (Orca's `@Aliases`).
    aliases: ClassVar[tuple[str, ...]] = ()
    # The keys this stage type reads from its context, checked when a pipeline is saved (None: only the keys
    # every stage may carry). The schema validates; the stored config is never rewritten by it.
    context_schema: ClassVar[ContextSchema | None] = None

    def tasks(self, stage: Stage) -> list[str]:
        """Names of the tasks to run, in order."""
        return []

    def before_stages(self, stage: Stage) -> list[SyntheticStage]:
        """Synthetic stages that run in parallel before the tasks."""
        return []

    def after_stages(self, stage: Stage) -> list[SyntheticStage]:
        """Synthetic stages that run in sequence after the tasks succeed."""
        return []

    def on_failure_stages(self, stage: Stage) -> list[SyntheticStage]:
        return []

    def can_manually_skip(self, stage: Stage) -> bool:
        return False

    def prepare_for_restart(self, stage: Stage) -> None:
        """Drop runtime keys before a restart (e.g. a judgment already given)."""

    def cancel(self, execution: Execution, stage: Stage, services: EngineServices) -> Cancellation:
        """Clean up after a cancelled stage; what else the engine must cancel with it (a child pipeline)."""
        return Cancellation()


class ExpressionEvaluator:
    """How the engine evaluates `${…}` in stage contexts. This base takes every expression literally."""

    def evaluate_stage(self, execution: Execution, stage: Stage) -> None:
        """Replace the stage context with its evaluated form (orca.md §4.1)."""

    def stage_enabled(self, execution: Execution, stage: Stage, expression: str) -> bool:
        """`stageEnabled.expression` without `${}`; anything that is not literally `true` skips the stage."""
        return expression.strip().lower() == "true"

    def evaluate(self, execution: Execution, stage: Stage, expression: str) -> Any:
        """One expression (without `${}`) in the stage's evaluation root (used by preconditions)."""
        return expression

    def evaluate_value(self, execution: Execution, stage: Stage, value: Any) -> tuple[Any, dict[str, Any]]:
        """Every `${…}` in `value` (e.g. manifests fetched from an artifact) and the summary of failures."""
        return value, {}


class ExecutionLister(Protocol):
    """`ExecutionStore.list_json`'s shape: empty `statuses` or `pipeline_config_ids` filter nothing out."""

    def __call__(
        self,
        conn: Connection,
        application: str,
        *,
        statuses: Collection[str] = (),
        pipeline_config_ids: Collection[str] = (),
        limit: int = 50,
    ) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class EngineServices:
    """Everything outside the engine that tasks may use, wired by the runtime."""

    expressions: ExpressionEvaluator
    # Starts a child pipeline inside the current transaction; returns the child execution id.
    start_child: Callable[[Connection, Execution, Stage, Mapping[str, Any]], str] | None = None
    # Starts an ad-hoc task (application, description, jobs, user) inside the current transaction; returns its id.
    start_task: Callable[[Connection, str, str, list[dict[str, Any]], str], str] | None = None
    # Reads an execution's JSON (without locking it).
    read_execution: Callable[[Connection, str], dict[str, Any] | None] | None = None
    # An application's newest executions (JSON, newest first), optionally of given pipeline configs and statuses.
    list_executions: ExecutionLister | None = None
    # Whether a user may READ/WRITE/EXECUTE an application (always true where permissions are not enforced).
    application_allows: Callable[[Connection, str | None, str, str], bool] | None = None
    # Whether a user passes a configured resource's READ/WRITE permissions (an account, a preconfigured webhook);
    # None where permissions are not enforced.
    resource_allows: Callable[[str | None, Mapping[str, Any] | None, str], bool] | None = None
    # Called in the transaction that ends a PIPELINE execution (dependent pipelines start here).
    on_execution_complete: Callable[[Connection, Execution], None] | None = None
    # Called with a unit's engine events (kind, status, stage) per execution, in the transaction that records them.
    on_events: Callable[[Connection, Execution, list[tuple[str, Status, Stage | None]]], None] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
