"""Inbound webhooks (gate.md §1.9). Unlike Gate, callers must authenticate and hold EXECUTE on each
application whose pipeline the event starts; executions run as the saved trigger's `runAsUser` when the
pipeline's last editor may act as that user (`Runtime.trigger_user`), else as the caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from gennaker.api.deps import CallerDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES
from gennaker.engine.launcher import LaunchError
from gennaker.triggers.webhook import match_webhook

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
        if not security.application_allows(who, apps.get(match.config["application"]), "EXECUTE"):
            continue
        try:
            user = rt.trigger_user(match.config, match.trigger, who.username)
            with rt.db.transaction() as conn:
                started.append(rt.launcher.start(conn, match.config, {**match.trigger, "user": user}, user))
        except LaunchError as error:  # e.g. its expected artifacts are not in this payload: the others still start
            skipped.append({"pipeline": f"{match.config['application']}/{match.config['name']}", "reason": str(error)})
    if started:
        rt.wakeup.notify()
    executions = [f"/pipelines/{i}" for i in started]
    return {"eventProcessed": True, "eventId": event_id, "executions": executions, "skipped": skipped}
