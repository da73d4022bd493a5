"""`gennaker login URL [--token T]` and `gennaker logout`: point the CLI at a server, or back at local."""

from __future__ import annotations

import typer

from gennaker.cli import session
from gennaker.cli.backend import BackendError
from gennaker.cli.common import console, fail, reports_errors
from gennaker.cli.remote import RemoteBackend


@reports_errors
def login(
    url: str = typer.Argument(..., help="The server, e.g. http://127.0.0.1:8084"),
    token: str = typer.Option(..., "--token", prompt=True, hide_input=True, help="An API token"),
) -> None:
    """Use this server for every command from now on (checks the token first)."""
    remote = RemoteBackend(url, token)
    try:
        who = remote.whoami()
    except BackendError as exc:
        raise fail(f"login to {url} failed: {exc}") from None
    finally:
        remote.close()
    path = session.save(session.Session(url, token))
    console.print(f"logged in to {url} as {who['username']} (saved in {path})")


def logout() -> None:
    """Forget the server; commands work on the local database again."""
    console.print("logged out" if session.forget() else "not logged in")
