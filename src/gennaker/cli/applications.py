"""`gennaker application …`: create, list, show and delete applications."""

from __future__ import annotations

import typer
from rich.table import Table

from gennaker.cli.common import console, current_user, fail, print_json, reports_errors, runtime

app = typer.Typer(help="Applications: the unit of ownership.", no_args_is_help=True)


@app.command("save")
@reports_errors
def save(name: str, email: str | None = typer.Option(None, "--email", help="Owner's email.")) -> None:
    """Create or update an application."""
    rt = runtime()
    with rt.db.transaction() as conn:
        saved = rt.applications.save(conn, name, {"email": email} if email else {}, current_user())
    console.print(f"saved application [bold]{saved['name']}[/bold]")


@app.command("list")
@reports_errors
def list_applications(output: str = typer.Option("table", "-o", "--output", help="table or json")) -> None:
    """List applications."""
    rt = runtime()
    with rt.db.read() as conn:
        apps = rt.applications.all(conn)
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
    rt = runtime()
    with rt.db.read() as conn:
        found = rt.applications.get(conn, name)
    if found is None:
        raise fail(f"application '{name}' not found")
    print_json(found)


@app.command("delete")
@reports_errors
def delete(name: str) -> None:
    """Delete an application and its pipeline configs (executions are kept)."""
    rt = runtime()
    with rt.db.transaction() as conn:
        deleted = rt.applications.delete(conn, name)
    if not deleted:
        raise fail(f"application '{name}' not found")
    console.print(f"deleted application {name}")
