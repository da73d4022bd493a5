"""`gennaker canary config …`: canary configs in Kayenta's JSON, as `spin canary canary-config` (gate.md §2.2).

Each command acts on the local database or, after `gennaker login`, on the server.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gennaker.cli.common import backend, console, fail, load_document, print_json, reports_errors

app = typer.Typer(help="Canary analysis: canary configs.", no_args_is_help=True)
configs = typer.Typer(help="Canary configs, in Kayenta's JSON shape.", no_args_is_help=True)
app.add_typer(configs, name="config")


@configs.command("save")
@reports_errors
def save(file: Path = typer.Option(..., "-f", "--file", exists=True, dir_okay=False, help="JSON or YAML")) -> None:
    """Create a canary config, or store the next version of the one with its id; prints the id."""
    typer.echo(backend().save_canary_config(load_document(file, "canary config")))


@configs.command("get")
@reports_errors
def get(config_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Print a canary config's newest version as JSON."""
    found = backend().canary_config(config_id)
    if found is None:
        raise fail(f"canary config {config_id} not found")
    print_json(found)


@configs.command("list")
@reports_errors
def list_configs(
    application: str | None = typer.Option(None, "-a", "--application", help="Only configs shared with it"),
    output: str = typer.Option("table", "-o", "--output", help="table or json"),
) -> None:
    """List the canary configs (of one application); `-o json` adds who updated each, and when."""
    found = backend().canary_configs(application)
    if output == "json":
        print_json(found)
        return
    table = Table("NAME", "APPLICATIONS", "VERSION")
    table.add_column("ID", no_wrap=True)  # whole, to be copied into `get`
    for summary in found:
        table.add_row(
            str(summary["name"]), ", ".join(summary["applications"]), str(summary["version"]), str(summary["id"])
        )
    console.print(table)


@configs.command("delete")
@reports_errors
def delete(config_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Delete a canary config and its versions."""
    if not backend().delete_canary_config(config_id):
        raise fail(f"canary config {config_id} not found")
    console.print(f"deleted canary config {config_id}")
