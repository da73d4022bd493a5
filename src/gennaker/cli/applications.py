"""`gennaker application …`: create, list, show and delete applications."""

from __future__ import annotations

import typer
from rich.table import Table

from gennaker.cli.common import backend, console, fail, print_json, reports_errors

app = typer.Typer(help="Applications: the unit of ownership.", no_args_is_help=True)


@app.command("save")
@reports_errors
def save(name: str, email: str | None = typer.Option(None, "--email", help="Owner's email.")) -> None:
    """Create or update an application."""
    saved = backend().save_application(name, email)
    console.print(f"saved application [bold]{saved['name']}[/bold]")


@app.command("list")
@reports_errors
def list_applications(output: str = typer.Option("table", "-o", "--output", help="table or json")) -> None:
    """List applications."""
    apps = backend().applications()
    if output == "json":
        print_json(apps)
        return
    table = Table("NAME", "EMAIL", "UPDATED BY")
    for item in apps:
        table.add_row(item["name"], item.get("email") or "", item.get("lastModifiedBy") or "")
    console.print(table)


@app.command("get")
@reports_errors
def get(name: str) -> None:
    """Show one application as JSON."""
    found = backend().application(name)
    if found is None:
        raise fail(f"application '{name}' not found")
    print_json(found)


@app.command("delete")
@reports_errors
def delete(name: str) -> None:
    """Delete an application and its pipeline configs (executions are kept)."""
    if not backend().delete_application(name):
        raise fail(f"application '{name}' not found")
    console.print(f"deleted application {name}")
