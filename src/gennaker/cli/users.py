"""`gennaker user …`, `gennaker token …` and `gennaker audit list`, on the local database (admin's tools)."""

from __future__ import annotations

import sys
import time

import typer
from rich.table import Table

from gennaker.auth.service import AuthError, AuthService
from gennaker.cli.common import console, current_user, errors, fail, print_json, reports_errors, runtime

users_app = typer.Typer(help="Local users and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the CLI and automation.", no_args_is_help=True)
audit_app = typer.Typer(help="The record of every change.", no_args_is_help=True)


def _auth() -> AuthService:
    return AuthService(runtime().db)


@users_app.command("add")
@reports_errors
def add(
    name: str,
    role: list[str] = typer.Option([], "--role", help="Repeatable"),
    admin: bool = typer.Option(False, "--admin"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input"),
) -> None:
    """Create or update a user."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("Password", hide_input=True)
    try:
        _auth().add_user(name, password, role, admin)
    except AuthError as exc:
        raise fail(str(exc)) from None
    console.print(f"saved user {name}")


@users_app.command("list")
@reports_errors
def list_users(output: str = typer.Option("table", "-o", "--output")) -> None:
    found = _auth().list_users()
    if output == "json":
        print_json(found)
        return
    table = Table("USER", "ROLES", "ADMIN", "SOURCE")
    for user in found:
        admin = "yes" if user["admin"] else ""
        table.add_row(user["username"], ", ".join(user["roles"]), admin, user.get("source") or "local")
    console.print(table)


@tokens_app.command("create")
@reports_errors
def create(
    name: str,
    user: str | None = typer.Option(None, "--user", help="Owner (default: you)"),
    expires_days: int | None = typer.Option(None, "--expires-days", min=1),
) -> None:
    """Print a new API token (shown only this once)."""
    try:
        issued = _auth().create_token(user or current_user(), name, expires_days * 86_400_000 if expires_days else None)
    except AuthError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(issued.token + "\n")
    errors.print(f"token {issued.id} created (shown only this once)")


@tokens_app.command("revoke")
@reports_errors
def revoke(token_id: str) -> None:
    if not _auth().revoke_token(token_id):
        raise fail(f"token {token_id} not found")
    console.print(f"revoked {token_id}")


@tokens_app.command("list")
@reports_errors
def list_tokens(user: str | None = typer.Option(None, "--user")) -> None:
    table = Table("ID", "NAME", "USER", "EXPIRES", "REVOKED")
    for token in _auth().list_tokens(user):
        expires = time.strftime("%Y-%m-%d", time.localtime(token["expiresAt"] / 1000)) if token["expiresAt"] else ""
        table.add_row(token["id"], token["name"], token["user"], expires, "yes" if token["revoked"] else "")
    console.print(table)


@audit_app.command("list")
@reports_errors
def audit(
    user: str | None = typer.Option(None, "--user"),
    limit: int = typer.Option(50, "--limit"),
    output: str = typer.Option("table", "-o", "--output"),
) -> None:
    entries = _auth().audit(user, limit)
    if output == "json":
        print_json(entries)
        return
    table = Table("WHEN", "USER", "ACTION", "RESOURCE", "STATUS", "FROM")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"] / 1000))
        table.add_row(
            when, entry["user"] or "-", entry["action"], entry["resource"], str(entry["status"]), entry["remote"] or ""
        )
    console.print(table)
