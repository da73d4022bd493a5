"""`gennaker pipeline …`: save, list, show, delete, history and execute pipeline configs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gennaker.cli.backend import Backend, BackendError
from gennaker.cli.common import backend, console, current_user, errors, fail, load_document, print_json, reports_errors
from gennaker.cli.live import failure_reason, follow
from gennaker.model.pipeline import PipelineValidationError
from gennaker.model.status import Status
from gennaker.model.summaries import awaiting_judgment
from gennaker.runtime import Settings
from gennaker.triggers.scheduler import SchedulerSettings, next_fire_times

app = typer.Typer(help="Pipeline configs, in Spinnaker's JSON shape.", no_args_is_help=True)


@app.command("save")
@reports_errors
def save(
    file: Path = typer.Option(..., "-f", "--file", exists=True, help="a JSON or YAML file, or a folder of them"),
    allow_unknown: bool = typer.Option(
        False, "--allow-unknown", help="keep stage and trigger types Spinnaker does not define (with warnings)"
    ),
) -> None:
    """Validate and save a pipeline (creates its application if missing), or every pipeline of a folder.

    Each file is reported as saved, saved with warnings (what will not act, and why) or refused (why)."""
    if not file.is_dir():
        _report_saved(backend().save_pipeline(load_document(file, "pipeline"), allow_unknown))
        return
    files = sorted(p for p in file.iterdir() if p.suffix in (".json", ".yaml", ".yml") and p.is_file())
    if not files:
        raise fail(f"{file} holds no .json, .yaml or .yml files")
    where, refused = backend(), 0
    for path in files:
        try:
            saved = where.save_pipeline(load_document(path, "pipeline"), allow_unknown)
        except (BackendError, ValueError) as exc:
            refused += 1
            console.print(f"[red]refused[/red] {path.name}: {_reason(exc)}", highlight=False, soft_wrap=True)
            continue
        _report_saved(saved, path.name)
    if refused:
        raise fail(f"{refused} of {len(files)} files refused")


def _report_saved(saved: dict[str, Any], source: str | None = None) -> None:
    what = f"[bold]{saved['application']}/{saved['name']}[/bold] ({saved['id']})"
    prefix = f"{source}: " if source else ""
    warnings = saved.get("warnings") or []
    if not warnings:
        console.print(f"{prefix}saved pipeline {what}", highlight=False, soft_wrap=True)
        return
    count = f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}"
    console.print(f"{prefix}saved pipeline {what} [yellow]with {count}[/yellow]", highlight=False, soft_wrap=True)
    for warning in warnings:
        console.print(
            f"  [yellow]warning[/yellow] {warning['path']}: {warning['reason']}", highlight=False, soft_wrap=True
        )


def _reason(error: Exception) -> str:
    return f"invalid pipeline: {error}" if isinstance(error, PipelineValidationError) else str(error)


def _config(where: Backend, application: str, name: str) -> dict[str, Any]:
    config = where.pipeline(application, name)
    if config is None:
        raise fail(f"pipeline '{name}' not found in application '{application}'")
    return config


@app.command("list")
@reports_errors
def list_pipelines(application: str, output: str = typer.Option("table", "-o", "--output")) -> None:
    """List an application's pipelines."""
    configs = backend().pipelines(application)
    if output == "json":
        print_json(configs)
        return
    table = Table("NAME", "ID", "STAGES", "TRIGGERS", "UPDATED BY")
    for config in configs:
        table.add_row(
            config["name"],
            config["id"],
            str(len(config.get("stages") or [])),
            str(len(config.get("triggers") or [])),
            config.get("lastModifiedBy") or "",
        )
    console.print(table)


@app.command("get")
@reports_errors
def get(application: str, name: str) -> None:
    """Print a pipeline config as JSON; the next fire times of its cron triggers go to standard error."""
    config = _config(backend(), application, name)
    print_json(config)
    zone_name = SchedulerSettings.from_config(Settings.from_env().config.get("scheduler")).timezone
    for index, cron, times in next_fire_times(config, zone_name, datetime.now(UTC)):
        shown = ", ".join(t.strftime("%Y-%m-%d %H:%M:%S %Z") for t in times) or "never"
        errors.print(f"triggers[{index}] cron {cron.trigger.get('cronExpression')}: next {shown}", highlight=False)


@app.command("delete")
@reports_errors
def delete(application: str, name: str) -> None:
    """Delete a pipeline config and its history."""
    if not backend().delete_pipeline(application, name):
        raise fail(f"pipeline '{name}' not found in application '{application}'")
    console.print(f"deleted pipeline {application}/{name}")


@app.command("history")
@reports_errors
def history(application: str, name: str, output: str = typer.Option("table", "-o", "--output")) -> None:
    """Every saved version of a pipeline, newest first."""
    where = backend()
    versions = where.history(_config(where, application, name)["id"])
    if output == "json":
        print_json(versions)
        return
    table = Table("VERSION", "SAVED AT", "BY", "STAGES")
    for v in versions:
        saved_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v["createdAt"] / 1000))
        table.add_row(str(v["version"]), saved_at, v["createdBy"] or "", str(len(v["config"].get("stages") or [])))
    console.print(table)


@app.command("triggers")
@reports_errors
def trigger_history(application: str, name: str, output: str = typer.Option("table", "-o", "--output")) -> None:
    """What the pipeline's triggers saw, newest first: started (with the execution) or skipped (with why)."""
    where = backend()
    events = where.trigger_history(_config(where, application, name)["id"])
    if output == "json":
        print_json(events)
        return
    table = Table("TIME", "TYPE", "OUTCOME", "EXECUTION OR REASON")
    for event in events:
        seen_at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["time"] / 1000))
        table.add_row(seen_at, event["type"], event["outcome"], event["executionId"] or event["reason"] or "")
    console.print(table)


@app.command("restore")
@reports_errors
def restore(application: str, name: str, version: int) -> None:
    """Save an older version again as the newest one."""
    where = backend()
    if not where.restore(_config(where, application, name)["id"], version):
        raise fail(f"pipeline {application}/{name} has no version {version}")
    console.print(f"restored version {version} of {application}/{name}")


def parse_parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"parameter '{pair}' must look like KEY=VALUE")
        parameters[key] = value
    return parameters


@app.command("execute")
@reports_errors
def execute(
    application: str,
    name: str,
    parameter: list[str] = typer.Option([], "-p", "--parameter", help="KEY=VALUE, repeatable"),
    wait: bool = typer.Option(False, "--wait", help="Show the stages live until it ends or awaits a judgment"),
    output: str = typer.Option("id", "-o", "--output", help="id or json"),
) -> None:
    """Start a pipeline; prints the execution id."""
    where = backend()
    trigger = {"type": "manual", "user": current_user(), "parameters": parse_parameters(parameter)}
    execution_id = where.execute(application, name, trigger)
    final = follow(where, execution_id, errors if output == "json" else console) if wait else None
    if output == "json":
        print_json(final or where.execution(execution_id))
    else:
        console.print(execution_id)
    if final is None:
        return
    if Status(final["status"]).is_halt:
        raise fail(failure_reason(final))
    judgment = awaiting_judgment(final)
    if judgment is not None:
        hint = f"gennaker execution judge {execution_id} {judgment['refId']} --judgment continue"
        errors.print(f"waiting for manual judgment at stage '{judgment['name']}': {hint}")
