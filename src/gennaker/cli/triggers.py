"""`gennaker trigger test`: would this event start this pipeline? A dry run of the trigger matching, nothing
is started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from gennaker.cli.common import backend, console, fail, reports_errors
from gennaker.triggers import git
from gennaker.triggers.webhook import webhook_matches

app = typer.Typer(help="Triggers: try an event against a pipeline's triggers.", no_args_is_help=True)


@app.command("test")
@reports_errors
def test(
    application: str,
    name: str,
    kind: str = typer.Option(..., "--type", help="git or webhook"),
    file: Path = typer.Option(..., "-f", "--file", exists=True, dir_okay=False, help="the event's JSON body"),
    source: str | None = typer.Option(
        None, "--source", help="webhook source, or git provider (default: the trigger's)"
    ),
    header: list[str] = typer.Option([], "--header", "-H", help="a delivery header, 'Name: value' (signatures)"),
) -> None:
    """Say, for each trigger of that type, whether the event would start the pipeline, and if not why."""
    config = backend().pipeline(application, name)
    if config is None:
        raise fail(f"pipeline '{name}' not found in application '{application}'")
    body = file.read_bytes()
    headers = _headers(header)
    triggers = [
        (i, t) for i, t in enumerate(config.get("triggers") or []) if isinstance(t, dict) and t.get("type") == kind
    ]
    if not triggers:
        raise fail(f"{application}/{name} has no {kind} trigger")
    for index, trigger in triggers:
        problem = _problem(kind, trigger, source, headers, body)
        verdict = "would start the pipeline" if problem is None else f"would not start it: {problem}"
        console.print(f"triggers[{index}] ({kind}): {verdict}", highlight=False, soft_wrap=True)


def _headers(lines: list[str]) -> dict[str, str]:
    headers = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            raise fail(f"--header {line!r} is not 'Name: value'")
        headers[key.strip().lower()] = value.strip()
    return headers


def _problem(
    kind: str, trigger: dict[str, Any], source: str | None, headers: dict[str, str], body: bytes
) -> str | None:
    try:
        payload = json.loads(body or b"null")
    except ValueError as error:
        return f"the file is not JSON: {error}"
    if trigger.get("enabled") is False:
        return "the trigger is disabled"
    if kind == "webhook":
        wanted = source or str(trigger.get("source") or "")
        if not isinstance(payload, dict) or not webhook_matches(trigger, wanted, payload):
            return f"the source is not {trigger.get('source')!r} or payloadConstraints do not hold"
        return None
    if kind != "git":
        return f"only git and webhook events can be tried, not {kind}"
    try:
        event = git.read_event(source or str(trigger.get("source") or ""), headers, payload)
    except git.GitEventError as error:
        return str(error)
    if event is None:
        return "the delivery is not an event (a ping, or a deleted branch)"
    return git.trigger_problem(trigger, event) or git.signature_problem(trigger.get("secret"), headers, body)
