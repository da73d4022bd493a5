"""Inbound webhooks (gate.md §1.9). Unlike Gate, callers must authenticate and hold EXECUTE on each
application whose pipeline the event starts; executions run as the saved trigger's `runAsUser` when the
pipeline's last editor may act as that user, else as the caller (`service/starts.py`). Every pipeline the
event matched gets an entry in its trigger history: started, or skipped with the reason."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Body, Request

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, Security
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.execution import now_ms
from gennaker.runtime import Runtime
from gennaker.triggers import git
from gennaker.triggers.webhook import match_webhook

log = logging.getLogger("gennaker.triggers")

router = APIRouter(responses=ERROR_RESPONSES, tags=["webhooks"])


@router.post("/webhooks/webhook/{source}")
def webhook(source: str, request: Request, rt: RuntimeDep, who: CallerDep, body: Any = Body(None)) -> dict[str, Any]:
    payload = body if isinstance(body, dict) else {}
    security = request.app.state.security
    with rt.db.read() as conn:
        configs = rt.pipelines.all(conn)
        apps = {c["application"]: rt.applications.get(conn, c["application"]) for c in configs}
    started: list[str] = []
    skipped: list[dict[str, str]] = []
    event_id = None
    for match in match_webhook(configs, source, payload):
        event_id = match.trigger["eventId"]
        event_key = f"webhook:{event_id}:{match.config['id']}"
        pipeline = f"{match.config['application']}/{match.config['name']}"
        if not security.application_allows(who, apps.get(match.config["application"]), "EXECUTE"):
            rt.starts.skipped(match.config, "webhook", event_key, f"{who.username} lacks EXECUTE", now_ms())
            continue
        execution_id, refused = rt.starts.event(match.config, match.trigger, who.username, event_key, now_ms())
        if execution_id:
            started.append(execution_id)
        elif refused:  # e.g. its expected artifacts are not in this payload: the others still start
            skipped.append({"pipeline": pipeline, "reason": refused})
    executions = [f"/pipelines/{i}" for i in started]
    return {"eventProcessed": True, "eventId": event_id, "executions": executions, "skipped": skipped}


@router.post("/webhooks/git/{source}")
async def git_webhook(source: str, request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """A push or pull-request event from GitHub, GitLab or Bitbucket (echo-igor.md §2.2, §7.3).

    Providers cannot sign in: a delivery signed with a trigger's `secret` starts that trigger's pipeline as
    its `runAsUser` or the pipeline's last editor. A trigger without a secret fires only for a caller who
    signed in and holds EXECUTE, as that caller."""
    security: Security = request.app.state.security
    who = security.authenticate(request)
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await asyncio.to_thread(_git_event, rt, security, who, source, headers, body)


def _git_event(
    rt: Runtime, security: Security, who: Caller | None, source: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"null")
        event = git.read_event(source, headers, payload)
    except (ValueError, git.GitEventError) as error:
        raise ApiError(400, f"not a {source} event: {error}") from None
    if event is None:
        return {"eventProcessed": False, "executions": [], "skipped": []}
    event_id = event.delivery or str(uuid.uuid4())
    with rt.db.read() as conn:
        configs = [c for c in rt.pipelines.all(conn) if not c.get("disabled")]
    started: list[str] = []
    skipped: list[dict[str, str]] = []
    for config in configs:
        trigger = next(
            (t for t in config.get("triggers") or [] if _git_trigger(t) and git.trigger_problem(t, event) is None),
            None,
        )
        if trigger is None:
            continue
        pipeline = f"{config['application']}/{config['name']}"
        event_key = f"git:{event.source}:{event_id}:{event.hash}:{config['id']}"
        reason = git.signature_problem(trigger.get("secret"), headers, body)
        caller = str(config.get("lastModifiedBy") or "anonymous")
        if reason is None and not trigger.get("secret"):  # unsigned: only a signed-in caller with EXECUTE
            with rt.db.read() as conn:
                attributes = rt.applications.get(conn, config["application"])
            if who is None or not security.application_allows(who, attributes, "EXECUTE"):
                reason = "the event is not signed and the caller may not EXECUTE the pipeline"
            else:
                caller = who.username
        if reason is not None:
            log.warning("git event %s for %s not accepted: %s", event_id, pipeline, reason)  # never the secret
            rt.starts.skipped(config, "git", event_key, reason, now_ms())
            skipped.append({"pipeline": pipeline, "reason": reason})
            continue
        execution_id, refused = rt.starts.event(
            config, git.runtime_trigger(trigger, event, event_id), caller, event_key, now_ms()
        )
        if execution_id:
            started.append(execution_id)
        elif refused:
            skipped.append({"pipeline": pipeline, "reason": refused})
    executions = [f"/pipelines/{i}" for i in started]
    return {"eventProcessed": True, "eventId": event_id, "executions": executions, "skipped": skipped}


def _git_trigger(trigger: Any) -> bool:
    return isinstance(trigger, dict) and trigger.get("type") == "git" and trigger.get("enabled", True) is not False
