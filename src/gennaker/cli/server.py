"""`gennaker up` and `gennaker worker`: the long-running processes."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import typer
import uvicorn

from gennaker import logs
from gennaker.api.app import create_app
from gennaker.api.security import local_security
from gennaker.auth.config import auth_service
from gennaker.auth.service import AuthService
from gennaker.cli.common import console, current_user, load_document, reports_errors, runtime
from gennaker.notifications.outbox import Outbox
from gennaker.runtime import Runtime
from gennaker.triggers.scheduler import Scheduler

log = logging.getLogger("gennaker")
LOG_FORMAT = typer.Option(
    "text", "--log-format", envvar="GENNAKER_LOG_FORMAT", help="text, or json (one object per line)"
)


def _report_zombies(rt: Runtime) -> None:
    zombies = rt.find_zombies()
    if zombies:
        log.warning("%d zombie executions found; run `gennaker execution zombies --repair`", len(zombies))


def _serve(rt: Runtime, threads: int, scheduler: bool) -> None:
    """Run workers (and the scheduler) until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _report_zombies(rt)
    if threads:
        rt.start_workers(threads)
    loops: list[Scheduler | Outbox] = [rt.new_scheduler(), rt.new_outbox()] if scheduler else []
    for loop in loops:
        loop.start()
    stop.wait()
    console.print("stopping…")
    for loop in loops:
        loop.stop()
    rt.close()


def _serve_http(rt: Runtime, auth: AuthService, threads: int, host: str, port: int) -> None:
    """Workers in threads, the API and UI in the foreground until SIGINT or SIGTERM."""
    generated = auth.ensure_admin(os.environ.get("GENNAKER_ADMIN_PASSWORD"))
    if generated:
        console.print(f"Created user [bold]admin[/bold] with password [bold]{generated}[/bold] (shown only this once)")
    app = create_app(rt, local_security(auth, rt.permissions.default), auth=auth)
    _report_zombies(rt)
    rt.start_workers(threads)
    loops: list[Scheduler | Outbox] = [rt.new_scheduler(), rt.new_outbox()]  # triggers, pollers; notifications
    for loop in loops:
        loop.start()
    console.print(f"UI and API: http://{host}:{port}/   (OpenAPI: http://{host}:{port}/openapi.json)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)  # logs.configure's setup
    finally:
        console.print("stopping…")
        for loop in loops:
            loop.stop()
        rt.close()


def load_examples(rt: Runtime, directory: Path) -> list[str]:
    """Save every pipeline file (JSON or YAML) in `directory`; returns `app/name` of each."""
    loaded = []
    for path in sorted(directory.glob("*")):
        if path.suffix in (".json", ".yaml", ".yml"):
            saved = rt.save_pipeline(load_document(path, "pipeline"), current_user())
            loaded.append(f"{saved['application']}/{saved['name']}")
    return loaded


@reports_errors
def up(
    load_examples_from: Path | None = typer.Option(None, "--load-examples", help="Save the pipelines in this folder"),
    threads: int = typer.Option(1, "--threads", help="Engine worker threads"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the API and UI listen on"),
    port: int = typer.Option(8084, "--port", help="Port of the API and UI (Gate's 8084 by default)"),
    log_format: str = LOG_FORMAT,
) -> None:
    """Run Gennaker: API, UI, engine workers and the scheduler, on SQLite unless GENNAKER_DATABASE_URL is set."""
    logs.configure(log_format)
    rt = runtime(serving=True)
    auth = auth_service(rt.db, rt.settings.config)  # a bad `auth` section stops here, before anything starts
    loaded = load_examples(rt, load_examples_from) if load_examples_from else []
    console.print(f"[bold]Gennaker[/bold] is up. Data: {rt.settings.data_dir}  Database: {rt.db.url}")
    for name in loaded:
        console.print(f"  loaded pipeline {name}")
    if loaded:
        app_name, pipeline_name = loaded[0].split("/", 1)
        console.print(f"Try: gennaker pipeline execute {app_name} '{pipeline_name}' --wait")
    console.print("List executions: gennaker execution list APP    Stop with Ctrl-C.")
    _serve_http(rt, auth, threads, host, port)


@reports_errors
def worker(
    threads: int = typer.Option(2, "--threads", help="Engine worker threads"), log_format: str = LOG_FORMAT
) -> None:
    """Run engine workers only (scale-out on PostgreSQL)."""
    logs.configure(log_format)
    _serve(runtime(serving=True), threads, scheduler=False)


@reports_errors
def scheduler(log_format: str = LOG_FORMAT) -> None:
    """Run the scheduler only: cron triggers, pollers and notifications (any number may run on one database)."""
    logs.configure(log_format)
    _serve(runtime(serving=True), 0, scheduler=True)
