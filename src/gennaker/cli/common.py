"""What every command shares: the runtime from the environment, the caller's name, errors and output."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
import yaml
from rich.console import Console

from gennaker.cli import session
from gennaker.cli.backend import Backend, BackendError, LocalBackend, RemoteBackend
from gennaker.engine.launcher import LaunchError
from gennaker.engine.operations import NotFound, OperationError
from gennaker.model.pipeline import PipelineValidationError
from gennaker.runtime import Runtime, Settings

console = Console()
errors = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")


def runtime(*, serving: bool = False) -> Runtime:
    """The runtime from the environment; `serving` (up, worker) checks what each execution's user may do."""
    settings = Settings.from_env()
    settings.enforce_permissions = serving
    return Runtime(settings)


def backend() -> Backend:
    """The server from `gennaker login` (or GENNAKER_URL/GENNAKER_TOKEN), else the local database."""
    logged_in = session.current()
    if logged_in is not None:
        return RemoteBackend(logged_in.url, logged_in.token)
    return LocalBackend(runtime(), current_user())


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
        except PipelineValidationError as exc:
            raise fail("invalid pipeline: " + "; ".join(f"{e.field}: {e.problem}" for e in exc.errors)) from None
        except (BackendError, LaunchError, OperationError, NotFound, FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from None

    return wrapper


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def load_document(path: Path, what: str) -> dict[str, Any]:
    """One JSON or YAML object (a pipeline, a template, variables) from a file."""
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not valid JSON or YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold one {what} object")
    return data
