"""Server-sent events: an execution, or an application's executions, as they change.

Workers publish the ids of executions each commit changed (in-process, or through NOTIFY on PostgreSQL);
each stream re-reads those it follows and sends their JSON. Nothing polls the database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from gennaker.api.deps import CallerDep, RuntimeDep, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.status import Status
from gennaker.runtime import Runtime
from gennaker.service.live import changes

router = APIRouter(responses=ERROR_RESPONSES, tags=["live"])


def _event(execution: dict[str, Any]) -> str:
    return f"event: execution\nid: {execution['id']}\ndata: {json.dumps(execution, default=str)}\n\n"


def _read(rt: Runtime, execution_id: str) -> dict[str, Any] | None:
    with rt.db.read() as conn:
        return rt.executions.get_json(conn, execution_id)


@router.get("/pipelines/{execution_id}/events", response_class=StreamingResponse)
def execution_events(execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """The execution now, then again after every change, until it completes."""
    first = _read(rt, execution_id)
    if first is None:
        raise ApiError(404, f"execution {execution_id} not found")
    require_application(request, rt, who, first["application"], "READ")

    async def stream() -> AsyncIterator[str]:
        async for ids in changes(rt.wakeup.subscribe, request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
                continue
            if ids and execution_id not in ids:
                continue
            current = _read(rt, execution_id)
            if current is None:
                return
            yield _event(current)
            if Status(current["status"]).is_complete:
                return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/applications/{application}/executions/events", response_class=StreamingResponse)
def application_events(application: str, request: Request, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """Every change to any execution of the application, as it happens."""
    require_application(request, rt, who, application, "READ")
    wanted = application.lower()

    async def stream() -> AsyncIterator[str]:
        async for ids in changes(rt.wakeup.subscribe, request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
                continue
            if not ids:
                yield ": connected\n\n"
            for execution_id in sorted(ids):
                current = _read(rt, execution_id)
                if current is not None and current["application"] == wanted:
                    yield _event(current)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
