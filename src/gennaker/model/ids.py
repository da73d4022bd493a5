"""Identifiers of executions and stages: ULIDs, as Orca gives them (sortable by creation time)."""

from ulid import ULID


def new_id() -> str:
    return str(ULID())
