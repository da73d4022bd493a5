"""Applications (gate.md §1.2): reads here; changes go through tasks (`routes/tasks.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from gennaker.api.deps import CallerDep, RuntimeDep, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError

router = APIRouter(responses=ERROR_RESPONSES, tags=["applications"])


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
def get_application(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    require_application(request, rt, who, application, "READ")
    with rt.db.read() as conn:
        attributes = rt.applications.get(conn, application)
    if attributes is None:
        raise ApiError(404, f"application '{application.lower()}' not found")
    return {"name": attributes["name"], "attributes": attributes, "clusters": {}}


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
    wanted = [s.strip().upper() for s in statuses.split(",") if s.strip()] if statuses else []
    with rt.db.read() as conn:
        configs = rt.pipelines.for_application(conn, application)
        found: list[dict[str, Any]] = []
        for config in configs:
            found += rt.executions.list_json(
                conn, application, statuses=wanted, pipeline_config_ids=[config["id"]], limit=limit
            )
    return sorted(found, key=lambda e: e["buildTime"], reverse=True)
