"""Entry point of the `gennaker` command: one sub-command group per resource, imported only when used.

Each group is a Typer app in its own module; importing all of them (and through them the API, the engine and
the providers) took over a second, on every call. `Commands` lists them with their one-line help, so
`gennaker --help` imports nothing of the product and `gennaker execution get` imports only what that
command needs.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.core
import typer.main

# name -> (module, attribute, one-line help). A module attribute is a Typer app or a command function.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("gennaker.cli.server", "up", "Run Gennaker: API, UI, engine workers and the scheduler."),
    "worker": ("gennaker.cli.server", "worker", "Run engine workers only (scale-out on PostgreSQL)."),
    "scheduler": ("gennaker.cli.server", "scheduler", "Run the scheduler only: cron triggers and pollers."),
    "login": ("gennaker.cli.login", "login", "Sign in to a Gennaker server and keep a token for the CLI."),
    "logout": ("gennaker.cli.login", "logout", "Forget the server and token of `gennaker login`."),
    "application": ("gennaker.cli.applications", "app", "Applications: the unit of ownership."),
    "account": ("gennaker.cli.accounts", "app", "Provider accounts (Kubernetes clusters)."),
    "server-group": ("gennaker.cli.server_groups", "app", "Server groups and other live Kubernetes objects."),
    "pipeline": ("gennaker.cli.pipelines", "app", "Pipeline configs, in Spinnaker's JSON shape."),
    "pipeline-template": ("gennaker.cli.pipeline_templates", "app", "Managed pipeline templates (v2)."),
    "execution": ("gennaker.cli.executions", "app", "Executions: runs of pipelines."),
    "canary": ("gennaker.cli.canary", "app", "Canary analysis: canary configs in Kayenta's JSON."),
    "trigger": ("gennaker.cli.triggers", "app", "Triggers: try an event against a pipeline's triggers."),
    "expr": ("gennaker.cli.expr", "app", "Pipeline expressions."),
    "user": ("gennaker.cli.users", "users_app", "Local users and their roles."),
    "token": ("gennaker.cli.users", "tokens_app", "API tokens for the CLI and automation."),
    "audit": ("gennaker.cli.users", "audit_app", "The record of every change."),
}


class Commands(typer.core.TyperGroup):
    """A group whose sub-commands are imported when invoked, and listed from `COMMANDS` without importing.

    Its own help is plain text (`rich_markup_mode=None`): the rich formatter would build every sub-command
    to show its help line."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        target: Any = getattr(importlib.import_module(module), attribute)
        command: Any
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)
        else:  # a command function: an app of that one command gives the command itself
            single = typer.Typer(add_completion=False)
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in COMMANDS.items()])


app = typer.Typer(
    cls=Commands,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main() -> None:
    """Gennaker: continuous delivery in one process."""
