"""Entry point of the `gennaker` command: one sub-command group per resource."""

import typer

app = typer.Typer(no_args_is_help=True, help="Gennaker: continuous delivery in one process.")
