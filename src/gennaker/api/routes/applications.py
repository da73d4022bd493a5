"""Applications (gate.md §1.2): reads here; changes go through tasks (`routes/tasks.py`). Adapters over
`gennaker.service`: the service checks READ and reads; these shape Gate's answers."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Query

from gennaker.api.deps import ActorDep, RuntimeDep, csv_values
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.search import trigger_matches
from gennaker.service.executions import MAX_TIME_MS, Search

router = APIRouter(responses=ERROR_RESPONSES, tags=["applications"])


@router.get("/applications")
def list_applications(
    rt: RuntimeDep, who: ActorDep, owner: str | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    return rt.service.applications.visible(who, owner, account)


@router.get("/applications/{application}")
def get_application(application: str, rt: RuntimeDep, who: ActorDep, expand: bool = True) -> dict[str, Any]:
    """The application's attributes and, with `expand`, its clusters per account (Gate's shape)."""
    attributes = rt.service.applications.get(application, who)
    clusters: dict[str, list[dict[str, Any]]] = {}
    if expand:
        view = rt.service.infrastructure.view(application.lower(), who).clusters()
        clusters = {
            account: [
                {
                    "name": c["name"],
                    "provider": c["provider"],
                    "loadBalancers": c["loadBalancers"],
                    "serverGroups": [g["name"] for g in c["serverGroups"]],
                }
                for c in found
            ]
            for account, found in view.items()
        }
    return {"name": attributes["name"], "attributes": attributes, "clusters": clusters}


@router.get("/applications/{application}/pipelineConfigs")
def list_pipeline_configs(application: str, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    return rt.service.pipelines.configs(application, who)


@router.get("/applications/{application}/pipelineConfigs/{name_or_id}")
def get_pipeline_config(application: str, name_or_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    return rt.service.pipelines.config(application, name_or_id, who)


@router.get("/applications/{application}/pipelines")
def list_executions(
    application: str,
    rt: RuntimeDep,
    who: ActorDep,
    limit: int = Query(10, ge=1, le=1000, description="Executions per pipeline config"),
    statuses: str | None = Query(None, description="Comma-separated statuses"),
) -> list[dict[str, Any]]:
    """The newest executions of each of the application's pipelines (Gate's limit is per config)."""
    return rt.service.executions.per_pipeline(application, who, csv_values(statuses, upper=True), limit)


@router.get("/applications/{application}/executions/search")
def search_executions(
    application: str,
    rt: RuntimeDep,
    who: ActorDep,
    triggerTypes: str | None = Query(None, description="Comma-separated trigger types"),
    pipelineName: str | None = None,
    eventId: str | None = None,
    trigger: str | None = Query(None, description="Base64 of a JSON partial trigger the execution's must match"),
    triggerTimeStartBoundary: int = Query(0, ge=0, le=MAX_TIME_MS),
    triggerTimeEndBoundary: int = Query(MAX_TIME_MS, ge=0, le=MAX_TIME_MS),
    statuses: str | None = Query(None, description="Comma-separated statuses"),
    startIndex: int = Query(0, ge=0),
    size: int = Query(10, ge=1, le=1000),
    reverse: bool = False,
    expand: bool = False,
) -> list[dict[str, Any]]:
    """Gate's execution search: newest first (oldest first with `reverse`); `*` searches every application
    the caller may read. Without `expand`, stages carry no context or outputs."""
    wanted_trigger = _decoded_trigger(trigger)
    types = set(csv_values(triggerTypes))

    def matches(header: dict[str, Any]) -> bool:
        found = header.get("trigger") or {}
        return (
            (not types or found.get("type") in types)
            and (not pipelineName or header.get("name") == pipelineName)
            and (not eventId or found.get("eventId") == eventId)
            and (wanted_trigger is None or trigger_matches(wanted_trigger, found))
        )

    search = Search(
        matches,
        csv_values(statuses, upper=True),
        triggerTimeStartBoundary,
        triggerTimeEndBoundary,
        startIndex,
        size,
        reverse,
    )
    page = rt.service.executions.search(None if application == "*" else application, who, search)
    if not expand:
        for execution in page:
            execution["stages"] = [
                {k: v for k, v in stage.items() if k not in ("context", "outputs")} for stage in execution["stages"]
            ]
    return page


def _decoded_trigger(encoded: str | None) -> Any:
    if not encoded:
        return None
    try:
        return json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "trigger must be base64 of a JSON object", [{"field": "trigger", "problem": "not base64 JSON"}]
        ) from None
