"""Server-sent events: an execution, or an application's executions, as they change.

Workers publish the ids of executions each commit changed (in-process, or through NOTIFY on PostgreSQL);
each stream re-reads those it follows through the service (which checks READ again) and sends their JSON.
Nothing polls the database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES
from gennaker.model.status import Status
from gennaker.service.errors import NotFound

router = APIRouter(responses=ERROR_RESPONSES, tags=["live"])


def _event(execution: dict[str, Any]) -> str:
    return f"event: execution\nid: {execution['id']}\ndata: {json.dumps(execution, default=str)}\n\n"


@router.get("/pipelines/{execution_id}/events", response_class=StreamingResponse)
def execution_events(execution_id: str, request: Request, rt: RuntimeDep, who: ActorDep) -> StreamingResponse:
    """The execution now, then again after every change, until it completes."""
    executions = rt.service.executions
    executions.get(execution_id, who)

    async def stream() -> AsyncIterator[str]:
        async for ids in executions.changes(request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
                continue
            if ids and execution_id not in ids:
                continue
            try:
                current = executions.get(execution_id, who)
            except NotFound:
                return
            yield _event(current)
            if Status(current["status"]).is_complete:
                return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/applications/{application}/executions/events", response_class=StreamingResponse)
def application_events(application: str, request: Request, rt: RuntimeDep, who: ActorDep) -> StreamingResponse:
    """Every change to any execution of the application, as it happens."""
    rt.service.applications.require(application, who, "READ")
    executions = rt.service.executions

    async def stream() -> AsyncIterator[str]:
        async for ids in executions.changes(request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
            elif not ids:
                yield ": connected\n\n"
            else:
                try:
                    changed = executions.of_application(ids, application, who)
                except NotFound:
                    return
                for current in changed:
                    yield _event(current)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
