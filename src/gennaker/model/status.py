"""Execution, stage and task statuses with Orca's complete/halt/successful sets (spec orca.md §2.2)."""

from enum import StrEnum


class Status(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUSPENDED = "SUSPENDED"
    SUCCEEDED = "SUCCEEDED"
    FAILED_CONTINUE = "FAILED_CONTINUE"
    TERMINAL = "TERMINAL"
    CANCELED = "CANCELED"
    REDIRECT = "REDIRECT"
    STOPPED = "STOPPED"
    SKIPPED = "SKIPPED"
    BUFFERED = "BUFFERED"

    @property
    def is_complete(self) -> bool:
        return self in COMPLETED

    @property
    def is_halt(self) -> bool:
        return self in HALTED


COMPLETED = frozenset(
    {
        Status.CANCELED,
        Status.SUCCEEDED,
        Status.STOPPED,
        Status.SKIPPED,
        Status.TERMINAL,
        Status.FAILED_CONTINUE,
    }
)
HALTED = frozenset({Status.TERMINAL, Status.CANCELED, Status.STOPPED})
# Statuses after which downstream stages may start.
CONTINUABLE = frozenset({Status.SUCCEEDED, Status.FAILED_CONTINUE, Status.SKIPPED})
