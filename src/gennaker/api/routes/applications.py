"""Applications (gate.md §1.2): reads here; changes go through tasks (`routes/tasks.py`)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Query, Request

from gennaker.api.deps import (
    CallerDep,
    RuntimeDep,
    csv_values,
    existing_application,
    readable_accounts,
    require_application,
)
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.search import trigger_matches

router = APIRouter(responses=ERROR_RESPONSES, tags=["applications"])
MAX_TIME_MS = 2**63 - 1  # epoch milliseconds as the database stores them (a signed 64-bit integer)


@router.get("/applications")
def list_applications(
    request: Request, rt: RuntimeDep, who: CallerDep, owner: str | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    security = request.app.state.security
    with rt.db.read() as conn:
        apps = rt.applications.all(conn)
    visible = [a for a in apps if security.application_allows(who, a, "READ")]
    if owner:
        visible = [a for a in visible if (a.get("email") or "").lower() == owner.lower()]
    if account:
        visible = [a for a in visible if account.lower() in str(a.get("accounts") or "").lower().split(",")]
    return visible


@router.get("/applications/{application}")
def get_application(
    request: Request, application: str, rt: RuntimeDep, who: CallerDep, expand: bool = True
) -> dict[str, Any]:
    """The application's attributes and, with `expand`, its clusters per account (Gate's shape)."""
    attributes = existing_application(request, rt, who, application, "READ")
    clusters: dict[str, list[dict[str, Any]]] = {}
    if expand:
        view = rt.kubernetes.infrastructure.clusters(application.lower(), readable_accounts(rt, who))
        clusters = {
            account: [
                {
                    "name": c["name"],
                    "provider": "kubernetes",
                    "loadBalancers": c["loadBalancers"],
                    "serverGroups": [g["name"] for g in c["serverGroups"]],
                }
                for c in found
            ]
            for account, found in view.items()
        }
    return {"name": attributes["name"], "attributes": attributes, "clusters": clusters}


@router.get("/applications/{application}/pipelineConfigs")
def list_pipeline_configs(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    require_application(request, rt, who, application, "READ")
    with rt.db.read() as conn:
        return rt.pipelines.for_application(conn, application)


@router.get("/applications/{application}/pipelineConfigs/{name_or_id}")
def get_pipeline_config(
    request: Request, application: str, name_or_id: str, rt: RuntimeDep, who: CallerDep
) -> dict[str, Any]:
    require_application(request, rt, who, application, "READ")
    with rt.db.read() as conn:
        config = rt.pipelines.get_by_name(conn, application, name_or_id) or rt.pipelines.get(conn, name_or_id)
    if config is None or config["application"] != application.lower():
        raise ApiError(404, f"pipeline config '{name_or_id}' not found in application '{application.lower()}'")
    return config


@router.get("/applications/{application}/pipelines")
def list_executions(
    request: Request,
    application: str,
    rt: RuntimeDep,
    who: CallerDep,
    limit: int = Query(10, ge=1, le=1000, description="Executions per pipeline config"),
    statuses: str | None = Query(None, description="Comma-separated statuses"),
) -> list[dict[str, Any]]:
    """The newest executions of each of the application's pipelines (Gate's limit is per config)."""
    require_application(request, rt, who, application, "READ")
    wanted = csv_values(statuses, upper=True)
    with rt.db.read() as conn:
        configs = rt.pipelines.for_application(conn, application)
        found: list[dict[str, Any]] = []
        for config in configs:
            found += rt.executions.list_json(
                conn, application, statuses=wanted, pipeline_config_ids=[config["id"]], limit=limit
            )
    return sorted(found, key=lambda e: e["buildTime"], reverse=True)


@router.get("/applications/{application}/executions/search")
def search_executions(
    request: Request,
    application: str,
    rt: RuntimeDep,
    who: CallerDep,
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
    security = request.app.state.security
    if application != "*":
        require_application(request, rt, who, application, "READ")
    types = set(csv_values(triggerTypes))
    wanted = csv_values(statuses, upper=True)

    def matches(header: dict[str, Any]) -> bool:
        found = header.get("trigger") or {}
        return (
            (not types or found.get("type") in types)
            and (not pipelineName or header.get("name") == pipelineName)
            and (not eventId or found.get("eventId") == eventId)
            and (wanted_trigger is None or trigger_matches(wanted_trigger, found))
        )

    with rt.db.read() as conn:
        readable: dict[str, bool] = {}

        def visible(header: dict[str, Any]) -> bool:
            name = header["application"]
            if name not in readable:
                readable[name] = security.application_allows(who, rt.applications.get(conn, name), "READ")
            return readable[name]

        headers = rt.executions.headers(
            conn,
            None if application == "*" else application,
            statuses=wanted,
            since_ms=triggerTimeStartBoundary,
            until_ms=triggerTimeEndBoundary,
        )
        found: list[dict[str, Any]] = []
        for header in headers:
            if header.get("type", "PIPELINE") == "PIPELINE" and matches(header) and visible(header):
                found.append(header)
                if not reverse and len(found) >= startIndex + size:
                    break  # newest first: the page is complete
        if reverse:
            found.reverse()
        page = rt.executions.with_stages(conn, found[startIndex : startIndex + size])
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
