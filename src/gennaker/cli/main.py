"""Entry point of the `gennaker` command: one sub-command group per resource."""

import typer

from gennaker.cli import accounts, applications, executions, expr, login, pipelines, server, server_groups, users

app = typer.Typer(no_args_is_help=True, help="Gennaker: continuous delivery in one process.")
app.command("up")(server.up)
app.command("worker")(server.worker)
app.command("login")(login.login)
app.command("logout")(login.logout)
app.add_typer(applications.app, name="application")
app.add_typer(accounts.app, name="account")
app.add_typer(server_groups.app, name="server-group")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(executions.app, name="execution")
app.add_typer(expr.app, name="expr")
app.add_typer(users.users_app, name="user")
app.add_typer(users.tokens_app, name="token")
app.add_typer(users.audit_app, name="audit")
