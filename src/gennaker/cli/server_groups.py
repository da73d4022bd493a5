"""`gennaker server-group …`: see what runs and act on it (scale, undo rollout, enable/disable, pause,
resume, restart, delete). Each action is a task running the same stage code as pipelines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from gennaker.cli.common import backend, console, fail, print_json, reports_errors
from gennaker.cli.live import failure_reason, follow
from gennaker.providers.kubernetes.jobs import ACTIONS, BadValue, change_job, replace_job

app = typer.Typer(help="Server groups and other live Kubernetes objects.", no_args_is_help=True)
ACCOUNT = typer.Option(..., "--account", "-a", help="Kubernetes account")
NAMESPACE = typer.Option("default", "--namespace", "-n", help="Namespace (Spinnaker's location)")
TARGET = typer.Argument(..., help="The object as KIND/NAME or 'KIND NAME', e.g. deployment/web")


@app.command("list")
@reports_errors
def list_server_groups(application: str, output: str = typer.Option("table", "-o", "--output")) -> None:
    """Server groups of an application in every account you may read."""
    groups = backend().server_groups(application)
    if output == "json":
        print_json(groups)
        return
    table = Table("ACCOUNT", "NAMESPACE", "CLUSTER", "SERVER GROUP", "IMAGES", "UP/TOTAL", "TRAFFIC")
    for group in groups:
        counts = group["instanceCounts"]
        table.add_row(
            group["account"],
            group["region"],
            group["cluster"],
            group["displayName"],
            ", ".join(group["buildInfo"]["images"]),
            f"{counts['up']}/{counts['total']}",
            "disabled" if group["disabled"] else "enabled",
        )
    console.print(table)


def manifest_name(target: str) -> str:
    kind, separator, name = target.replace(" ", "/", 1).partition("/")
    if not separator or not kind or not name:
        raise fail(f"target must be KIND/NAME, e.g. deployment/web; got '{target}'")
    return f"{kind} {name}"


def _run(application: str, stage_type: str, account: str, namespace: str, target: str, **extra: Any) -> None:
    name = manifest_name(target)
    _run_job(application, stage_type, name, {**change_job(stage_type, account, namespace, name, application), **extra})


def _run_job(application: str, stage_type: str, name: str, job: dict[str, Any]) -> None:
    """Run one job as a task, following it live; fails with the task's reason."""
    where = backend()
    task_id = where.run_task(application, f"{stage_type} {name}", job)
    final = follow(where, task_id)
    if final["status"] != "SUCCEEDED":
        raise fail(failure_reason(final))
    console.print(f"{stage_type} {name}: done (task {task_id})")


@app.command("scale")
@reports_errors
def scale(
    application: str,
    target: str = TARGET,
    replicas: int = typer.Option(..., "--replicas", min=0),
    account: str = ACCOUNT,
    namespace: str = NAMESPACE,
) -> None:
    """Set the number of replicas and wait until stable."""
    _run(application, ACTIONS["scale"], account, namespace, target, replicas=replicas)


@app.command("undo")
@reports_errors
def undo(
    application: str,
    target: str = TARGET,
    account: str = ACCOUNT,
    namespace: str = NAMESPACE,
    revision: int | None = typer.Option(None, "--revision", help="Revision to roll back to"),
    revisions_back: int = typer.Option(1, "--revisions-back", min=1),
) -> None:
    """Roll a Deployment back to an earlier revision."""
    extra: dict[str, Any] = {"revision": revision} if revision is not None else {"numRevisionsBack": revisions_back}
    _run(application, ACTIONS["undo"], account, namespace, target, **extra)


def _plain_action(stage_type: str) -> Callable[..., None]:
    """A command that runs `stage_type` on one object and takes nothing more than the target."""

    @reports_errors
    def command(application: str, target: str = TARGET, account: str = ACCOUNT, namespace: str = NAMESPACE) -> None:
        _run(application, stage_type, account, namespace, target)

    return command


# Command → help: actions that need nothing but their target (their stage types are `jobs.ACTIONS`).
PLAIN_ACTIONS = {
    "enable": "Send traffic from its load balancers to this server group.",
    "disable": "Take this server group out of its load balancers (pods keep running).",
    "pause": "Pause a rollout.",
    "resume": "Resume a paused rollout and wait until stable.",
    "restart": "Restart every pod with a rolling update.",
}
for _name, _help in PLAIN_ACTIONS.items():
    app.command(_name, help=_help)(_plain_action(ACTIONS[_name]))


@app.command("delete")
@reports_errors
def delete(
    application: str,
    target: str = TARGET,
    account: str = ACCOUNT,
    namespace: str = NAMESPACE,
    cascade: bool = typer.Option(True, "--cascade/--orphan", help="Delete dependents (pods) too"),
    grace_period: int | None = typer.Option(None, "--grace-period", min=0),
) -> None:
    """Delete the object."""
    options: dict[str, Any] = {"cascading": cascade}
    if grace_period is not None:
        options["gracePeriodSeconds"] = grace_period
    _run(application, ACTIONS["delete"], account, namespace, target, options=options)


@app.command("edit")
@reports_errors
def edit(
    application: str,
    target: str = TARGET,
    account: str = ACCOUNT,
    namespace: str = NAMESPACE,
    file: Path = typer.Option(..., "-f", "--file", exists=True, dir_okay=False, help="The edited manifest (YAML)"),
) -> None:
    """Deploy an edited manifest of this object (Deploy (Manifest) as a task; kind and name must stay)."""
    name = manifest_name(target)
    try:
        job = replace_job(account, namespace, name, application, yaml.safe_load(file.read_text()))
    except yaml.YAMLError as error:
        raise fail(f"{file} is not a manifest: {str(error).splitlines()[0]}") from None
    except BadValue as error:  # kind and name cannot change
        raise fail(f"{file} must hold {name}: {str(error).removeprefix('manifest: ')}") from None
    _run_job(application, "deployManifest", name, job)
