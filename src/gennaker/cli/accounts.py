"""`gennaker account list`: the provider accounts and Jenkins masters of the configuration file, without their
secrets."""

from __future__ import annotations

import typer
from rich.table import Table

from gennaker.cli.common import backend, console, print_json, reports_errors

app = typer.Typer(help="Provider accounts (Kubernetes clusters) and Jenkins masters.", no_args_is_help=True)


@app.command("list")
@reports_errors
def list_accounts(output: str = typer.Option("table", "-o", "--output", help="table or json")) -> None:
    """List the accounts you may read."""
    accounts = backend().accounts()
    if output == "json":
        print_json(accounts)
        return
    table = Table("NAME", "TYPE", "CONTEXT", "NAMESPACES")
    for account in accounts:
        if account.get("type") == "jenkins":  # a Jenkins master: its address, no namespaces
            table.add_row(account["name"], "jenkins", account.get("address") or "", "")
            continue
        namespaces = ", ".join(account.get("namespaces") or []) or "all"
        table.add_row(account["name"], account["type"], account.get("context") or "", namespaces)
    console.print(table)
