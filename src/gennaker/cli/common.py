"""What every command shares: the runtime from the environment, the caller's name, errors and output."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
import typer
from rich.console import Console

from gennaker.cli import session
from gennaker.cli.backend import Backend, BackendError
from gennaker.settings import Settings

if TYPE_CHECKING:
    from gennaker.runtime import Runtime

console = Console()
errors = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def runtime(*, serving: bool = False) -> Runtime:
    """The runtime from the environment; `serving` (up, worker) checks what each execution's user may do."""
    from gennaker.runtime import Runtime

    settings = Settings.from_env()
    settings.enforce_permissions = serving
    return Runtime(settings)


def backend() -> Backend:
    """The server from `gennaker login` (or GENNAKER_URL/GENNAKER_TOKEN), else the local database; closed when
    the command ends (a local runtime may have started account watches and other threads)."""
    logged_in = session.current()
    where: Backend
    if logged_in is not None:
        from gennaker.cli.remote import RemoteBackend

        where = RemoteBackend(logged_in.url, logged_in.token)
    else:
        from gennaker.cli.local import LocalBackend

        where = LocalBackend(Settings.from_env(), current_user())
    command = click.get_current_context(silent=True)
    if command is not None:
        command.call_on_close(where.close)
    return where


def current_user() -> str:
    return os.environ.get("GENNAKER_USER") or getpass.getuser()


def fail(message: str) -> typer.Exit:
    """Print a one-line reason on stderr; the caller raises the returned Exit."""
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's expected errors into a one-line message and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            expected = _expected_errors()
            if not isinstance(exc, expected):
                raise
            prefix = "invalid pipeline: " if isinstance(exc, expected[0]) else ""
            raise fail(f"{prefix}{exc}") from None

    return wrapper


def _expected_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports in one line, invalid pipelines first; imported only when one is raised."""
    from gennaker.engine.launcher import LaunchError
    from gennaker.engine.operations import NotFound, OperationError
    from gennaker.model.pipeline import PipelineValidationError

    return (PipelineValidationError, BackendError, LaunchError, OperationError, NotFound, FileNotFoundError, ValueError)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def load_document(path: Path, what: str) -> dict[str, Any]:
    """One JSON or YAML object (a pipeline, a template, variables) from a file."""
    import yaml  # here: only commands that read a file pay for it

    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not valid JSON or YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold one {what} object")
    return data
