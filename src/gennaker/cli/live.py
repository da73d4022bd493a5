"""The live view of an execution's stages used by `--wait`."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gennaker.cli.backend import Backend
from gennaker.cli.common import console

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "TERMINAL": "red",
    "CANCELED": "yellow",
    "STOPPED": "red",
    "FAILED_CONTINUE": "yellow",
    "SKIPPED": "dim",
    "NOT_STARTED": "dim",
    "PAUSED": "magenta",
}


def stage_table(execution: dict[str, Any]) -> Table:
    table = Table(title=f"{execution['name']}  {execution['id']}  [{execution['status']}]", title_justify="left")
    table.add_column("REF")
    table.add_column("STAGE")
    table.add_column("TYPE")
    table.add_column("STATUS")
    table.add_column("DURATION", justify="right")
    for stage in execution["stages"]:
        if stage.get("parentStageId"):
            continue
        style = STATUS_STYLE.get(stage["status"], "")
        table.add_row(
            stage["refId"],
            stage["name"],
            stage["type"],
            f"[{style}]{stage['status']}[/{style}]",
            duration(stage),
        )
    return table


def duration(stage: dict[str, Any]) -> str:
    start = stage.get("startTime")
    if not start:
        return ""
    end = stage.get("endTime") or int(time.time() * 1000)
    return f"{(end - start) / 1000:.1f}s"


def failure_reason(execution: dict[str, Any]) -> str:
    """The reason of the first failed stage that carries one."""
    for stage in execution["stages"]:
        if stage["status"] in ("TERMINAL", "STOPPED"):
            details = ((stage.get("context") or {}).get("exception") or {}).get("details") or {}
            if details.get("error"):
                return f"stage {stage['name']}: {details['error']}"
    return f"execution {execution['status']}"


def follow(where: Backend, execution_id: str, screen: Console = console) -> dict[str, Any]:
    """Show the stages live until the execution ends or waits for a judgment; returns its last JSON."""
    with Live(console=screen, auto_refresh=False) as live:
        return where.watch(execution_id, lambda execution: live.update(stage_table(execution), refresh=True))
