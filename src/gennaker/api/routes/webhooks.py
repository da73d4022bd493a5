"""Inbound webhooks (gate.md §1.9). Unlike Gate, callers must authenticate and hold EXECUTE on each
application whose pipeline the event starts; executions run as the saved trigger's `runAsUser` when the
pipeline's last editor may act as that user, else as the caller (`service/starts.py`). Every pipeline the
event matched gets an entry in its trigger history: started, or skipped with the reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from gennaker.api.deps import CallerDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES
from gennaker.model.execution import now_ms
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
