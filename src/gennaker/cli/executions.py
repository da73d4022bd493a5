"""`gennaker execution …`: inspect and act on executions."""

from __future__ import annotations

import typer
from rich.table import Table

from gennaker.cli.common import backend, console, fail, print_json, reports_errors, runtime
from gennaker.cli.live import duration, failure_reason, stage_table

app = typer.Typer(help="Executions: runs of pipelines.", no_args_is_help=True)


@app.command("get")
@reports_errors
def get(execution_id: str, output: str = typer.Option("table", "-o", "--output", help="table or json")) -> None:
    """Show an execution (Spinnaker's execution JSON with -o json)."""
    execution = backend().execution(execution_id)
    if execution is None:
        raise fail(f"execution {execution_id} not found")
    if output == "json":
        print_json(execution)
        return
    console.print(stage_table(execution))
    if execution["status"] in ("TERMINAL", "STOPPED"):
        console.print(f"[red]{failure_reason(execution)}[/red]")


@app.command("list")
@reports_errors
def list_executions(
    application: str,
    status: list[str] = typer.Option([], "--status", help="Only these statuses (repeatable)"),
    limit: int = typer.Option(25, "--limit"),
    output: str = typer.Option("table", "-o", "--output"),
) -> None:
    """An application's newest executions."""
    found = backend().executions(application, [s.upper() for s in status], limit)
    if output == "json":
        print_json(found)
        return
    table = Table("ID", "PIPELINE", "STATUS", "TRIGGER", "DURATION")
    for execution in found:
        trigger = execution.get("trigger") or {}
        table.add_row(
            execution["id"],
            execution["name"],
            execution["status"],
            f"{trigger.get('type')} by {trigger.get('user')}",
            duration(execution),
        )
    console.print(table)


@app.command("cancel")
@reports_errors
def cancel(execution_id: str, reason: str | None = typer.Option(None, "--reason")) -> None:
    """Cancel an execution."""
    backend().cancel(execution_id, reason)
    console.print(f"canceling {execution_id}")


@app.command("pause")
@reports_errors
def pause(execution_id: str) -> None:
    """Pause a running execution."""
    backend().pause(execution_id)
    console.print(f"paused {execution_id}")


@app.command("resume")
@reports_errors
def resume(execution_id: str) -> None:
    """Resume a paused execution."""
    backend().resume(execution_id)
    console.print(f"resumed {execution_id}")


@app.command("restart")
@reports_errors
def restart(execution_id: str, stage: str = typer.Argument(..., help="refId or name")) -> None:
    """Restart a finished stage and everything downstream of it."""
    backend().restart(execution_id, stage)
    console.print(f"restarting stage {stage} of {execution_id}")


@app.command("judge")
@reports_errors
def judge(
    execution_id: str,
    stage: str = typer.Argument(..., help="refId or name of the manual judgment stage"),
    judgment: str = typer.Option(..., "--judgment", help="continue or stop"),
    judgment_input: str | None = typer.Option(None, "--input", help="The chosen judgment input"),
) -> None:
    """Answer a manual judgment."""
    backend().judge(execution_id, stage, judgment, judgment_input)
    console.print(f"{judgment.lower()} given at stage {stage} of {execution_id}")


@app.command("zombies")
@reports_errors
def zombies(repair: bool = typer.Option(False, "--repair", help="Rebuild their missing messages")) -> None:
    """Executions that are active but have nothing queued to move them (on the local database)."""
    rt = runtime()
    found = rt.find_zombies()
    for execution_id in found:
        console.print(execution_id)
    if repair and found:
        queued = rt.repair_zombies(found)
        console.print(f"repaired {len(found)} executions ({queued} messages queued)")
    elif not found:
        console.print("no zombie executions")
