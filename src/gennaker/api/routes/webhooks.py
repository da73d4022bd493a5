"""Inbound webhooks (gate.md §1.9). Unlike Gate, callers must authenticate and hold EXECUTE on each
application whose pipeline the event starts; executions run as the saved trigger's `runAsUser` when the
pipeline's last editor may act as that user, else as the caller. Every pipeline the event matched gets an
entry in its trigger history: started, or skipped with the reason. Adapters over `gennaker.service.webhooks`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Request

from gennaker.api.deps import ActorDep, RuntimeDep, Security, actor
from gennaker.api.errors import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES, tags=["webhooks"])


@router.post("/webhooks/webhook/{source}")
def webhook(source: str, rt: RuntimeDep, who: ActorDep, body: Any = Body(None)) -> dict[str, Any]:
    payload = body if isinstance(body, dict) else {}
    return rt.service.webhooks.webhook(source, payload, who).to_json()


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
    caller = actor(request, who) if who is not None else None
    outcome = await asyncio.to_thread(rt.service.webhooks.git, source, headers, body, caller)
    return outcome.to_json()
