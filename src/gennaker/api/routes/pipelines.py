"""Pipeline configs, triggering, and executions (gate.md §1.3-§1.5)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from gennaker.api.deps import CallerDep, RuntimeDep, csv_values, execution_for, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.pipeline import PipelineConfig
from gennaker.runtime import Runtime
from gennaker.service.evaluation import evaluate_in

router = APIRouter(responses=ERROR_RESPONSES, tags=["pipelines"])
NO_BODY: dict[int | str, dict[str, Any]] = {200: {"description": "Done; the response has no body (as Gate)"}}
EXECUTION_LINKS: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Started; `ref` is Gate's reference, `id` the execution id",
        "links": {
            name: {"operationId": operation, "parameters": {"execution_id": "$response.body#/id"}}
            for name, operation in (
                ("GetExecution", "getExecution"),
                ("CancelExecution", "cancelExecution"),
                ("PauseExecution", "pauseExecution"),
                ("ResumeExecution", "resumeExecution"),
            )
        },
    }
}


def _config_of(rt: Runtime, application: str, name_or_id: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        config = rt.pipelines.get_by_name(conn, application, name_or_id) or rt.pipelines.get(conn, name_or_id)
    if config is None or config["application"] != application.lower():
        raise ApiError(404, f"pipeline '{name_or_id}' not found in application '{application.lower()}'")
    return config


# -- configs ---------------------------------------------------------------------------------------
@router.post("/pipelines", status_code=200)
def save_pipeline(
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: PipelineConfig = Body(...),
    staleCheck: bool = False,
    allowUnknown: bool = False,
) -> dict[str, Any]:
    """Save a config, creating its application; 400 names every invalid field. The answer names the saved
    pipeline and lists `warnings` (path, reason) for what it stores but will not act on."""
    config = body.model_dump(exclude_unset=True)
    application = config.get("application")
    if isinstance(application, str) and application:
        with rt.db.read() as conn:
            exists = rt.applications.get(conn, application) is not None
        if exists:
            require_application(request, rt, who, application, "WRITE")
    saved = rt.save_pipeline(config, who.username, allow_unknown=allowUnknown)
    return {
        "id": saved["id"],
        "application": saved["application"],
        "name": saved["name"],
        "warnings": [w.to_json() for w in rt.pipeline_warnings(saved)],
    }


@router.put("/pipelines/{pipeline_id}")
def update_pipeline(
    pipeline_id: str,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: PipelineConfig = Body(...),
    allowUnknown: bool = False,
) -> dict[str, Any]:
    """Replace a config; the answer is the stored config (Front50's), with `warnings` beside it."""
    config = body.model_dump(exclude_unset=True)
    with rt.db.read() as conn:
        existing = rt.pipelines.get(conn, pipeline_id)
    if existing is None:
        raise ApiError(404, f"pipeline {pipeline_id} not found")
    require_application(request, rt, who, existing["application"], "WRITE")
    saved = rt.save_pipeline(
        {**config, "id": pipeline_id, "application": existing["application"]},
        who.username,
        allow_unknown=allowUnknown,
    )
    return {**saved, "warnings": [w.to_json() for w in rt.pipeline_warnings(saved)]}


@router.delete("/pipelines/{application}/{pipeline_name}", response_class=Response, responses=NO_BODY)
def delete_pipeline(application: str, pipeline_name: str, request: Request, rt: RuntimeDep, who: CallerDep) -> Response:
    require_application(request, rt, who, application, "WRITE")
    with rt.db.transaction() as conn:
        rt.pipelines.delete(conn, application, pipeline_name.strip())
    return Response(status_code=200)


@router.get("/pipelineConfigs/{pipeline_id}/history")
def pipeline_history(
    pipeline_id: str, request: Request, rt: RuntimeDep, who: CallerDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Full past versions, newest first, each with `version`, `createdAt` and `createdBy` added."""
    with rt.db.read() as conn:
        current = rt.pipelines.get(conn, pipeline_id)
        if current is None:
            raise ApiError(404, f"pipeline {pipeline_id} not found")
        require_application(request, rt, who, current["application"], "READ")
        versions = rt.pipelines.history(conn, pipeline_id)[:limit]
    return [
        {**v["config"], "version": v["version"], "createdAt": v["createdAt"], "createdBy": v["createdBy"]}
        for v in versions
    ]


@router.get("/pipelineConfigs/{pipeline_id}/triggers/history")
def trigger_history(
    pipeline_id: str, request: Request, rt: RuntimeDep, who: CallerDep, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """What the pipeline's triggers saw, newest first: each event started (with `executionId`) or was skipped
    (with `reason`)."""
    with rt.db.read() as conn:
        current = rt.pipelines.get(conn, pipeline_id)
        if current is None:
            raise ApiError(404, f"pipeline {pipeline_id} not found")
        require_application(request, rt, who, current["application"], "READ")
        return rt.starts.triggers.history(conn, pipeline_id, limit)


@router.post("/pipelineConfigs/{pipeline_id}/history/{version}/restore")
def restore_pipeline(
    pipeline_id: str, version: int, request: Request, rt: RuntimeDep, who: CallerDep
) -> dict[str, Any]:
    """Save an older version again as the newest one (history itself is never rewritten)."""
    with rt.db.read() as conn:
        current = rt.pipelines.get(conn, pipeline_id)
    if current is None:
        raise ApiError(404, f"pipeline {pipeline_id} not found")
    require_application(request, rt, who, current["application"], "WRITE")
    with rt.db.transaction() as conn:
        restored = rt.pipelines.restore(conn, pipeline_id, version, who.username)
    if restored is None:
        raise ApiError(404, f"pipeline {pipeline_id} has no version {version}")
    return restored


# -- triggering --------------------------------------------------------------------------------------
def _trigger(
    rt: Runtime, request: Request, who: Any, application: str, name_or_id: str, body: dict[str, Any] | None
) -> str:
    require_application(request, rt, who, application, "EXECUTE")
    config = _config_of(rt, application, name_or_id)
    trigger = dict(body or {})
    if "trigger" in trigger and isinstance(trigger["trigger"], dict):  # spin sends {"trigger": {...}} too
        trigger = dict(trigger["trigger"])
    return rt.starts.manual(config, trigger, who.username)


@router.post(
    "/pipelines/{application}/{name_or_id}", status_code=202, operation_id="triggerPipeline", responses=EXECUTION_LINKS
)
def trigger_pipeline(
    application: Annotated[str, Path(examples=["shop"])],
    name_or_id: Annotated[str, Path(examples=["release"])],
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: dict[str, Any] | None = Body(None),
) -> dict[str, str]:
    execution_id = _trigger(rt, request, who, application, name_or_id, body)
    return {"ref": f"/pipelines/{execution_id}", "id": execution_id}


@router.post("/pipelines/v2/{application}/{name_or_id}", status_code=202)
def trigger_pipeline_v2(
    application: str,
    name_or_id: str,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: dict[str, Any] | None = Body(None),
) -> dict[str, str]:
    execution_id = _trigger(rt, request, who, application, name_or_id, body)
    return {"eventId": str(uuid.uuid4()), "ref": f"/pipelines/{execution_id}"}


# -- executions --------------------------------------------------------------------------------------
@router.get("/pipelines/{execution_id}", operation_id="getExecution")
def get_execution(execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    return execution_for(request, rt, who, execution_id, "READ")


@router.put(
    "/pipelines/{execution_id}/cancel", response_class=Response, responses=NO_BODY, operation_id="cancelExecution"
)
def cancel(execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep, reason: str | None = None) -> Response:
    execution_for(request, rt, who, execution_id, "EXECUTE")
    rt.operations.cancel(execution_id, who.username, reason)
    return Response(status_code=200)


@router.put(
    "/pipelines/{execution_id}/pause", response_class=Response, responses=NO_BODY, operation_id="pauseExecution"
)
def pause(execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> Response:
    execution_for(request, rt, who, execution_id, "EXECUTE")
    rt.operations.pause(execution_id, who.username)
    return Response(status_code=200)


@router.put(
    "/pipelines/{execution_id}/resume", response_class=Response, responses=NO_BODY, operation_id="resumeExecution"
)
def resume(execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> Response:
    execution_for(request, rt, who, execution_id, "EXECUTE")
    rt.operations.resume(execution_id, who.username)
    return Response(status_code=200)


@router.patch("/pipelines/{execution_id}/stages/{stage_id}")
def patch_stage(
    execution_id: str,
    stage_id: str,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: dict[str, Any] = Body(...),
) -> dict[str, Any]:
    """Merge `body` into the stage context: manual judgment, `skipRemainingWait`, `manualSkip`."""
    execution_for(request, rt, who, execution_id, "EXECUTE")
    if "judgmentStatus" in body and str(body["judgmentStatus"]).lower() not in ("continue", "stop"):
        problem = "must be 'continue' or 'stop'"
        raise ApiError(400, f"judgmentStatus: {problem}", [{"field": "judgmentStatus", "problem": problem}])
    rt.operations.patch_stage(execution_id, stage_id, body, who.username)
    return execution_for(request, rt, who, execution_id, "READ")


@router.put("/pipelines/{execution_id}/stages/{stage_id}/restart")
def restart_stage(execution_id: str, stage_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    execution_for(request, rt, who, execution_id, "EXECUTE")
    rt.operations.restart_stage(execution_id, stage_id, who.username)
    return execution_for(request, rt, who, execution_id, "READ")


@router.get("/pipelines/{execution_id}/notifications")
def execution_notifications(
    execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    """The execution's notifications and how their delivery went (pending, sent, or failed with the error)."""
    execution_for(request, rt, who, execution_id, "READ")
    with rt.db.read() as conn:
        return rt.notifications.for_execution(conn, execution_id)


@router.get("/pipelines/{execution_id}/evaluateExpression")
def evaluate_expression(
    execution_id: str, request: Request, rt: RuntimeDep, who: CallerDep, expression: str = Query(..., max_length=10_000)
) -> dict[str, Any]:
    return evaluate_in(rt.expressions, execution_for(request, rt, who, execution_id, "READ"), None, expression)


@router.get("/pipelines/{execution_id}/{stage_id}/evaluateExpression")
def evaluate_stage_expression(
    execution_id: str,
    stage_id: str,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    expression: str = Query(..., max_length=10_000),
) -> dict[str, Any]:
    return evaluate_in(rt.expressions, execution_for(request, rt, who, execution_id, "READ"), stage_id, expression)


@router.get("/executions")
def list_by_ids(
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    pipelineConfigIds: str | None = None,
    executionIds: str | None = None,
    limit: int = Query(10, ge=1, le=1000),
    statuses: str | None = None,
) -> list[dict[str, Any]]:
    """Executions by config ids (newest `limit` per config) or by execution ids; `[]` without either."""
    wanted = csv_values(statuses, upper=True)
    security = request.app.state.security
    found: list[dict[str, Any]] = []
    with rt.db.read() as conn:
        if executionIds:
            for execution_id in [i for i in executionIds.split(",") if i][:limit]:
                execution = rt.executions.get_json(conn, execution_id)
                if execution and (not wanted or execution["status"] in wanted):
                    found.append(execution)
        elif pipelineConfigIds:
            for config_id in [i for i in pipelineConfigIds.split(",") if i]:
                config = rt.pipelines.get(conn, config_id)
                if config:
                    found += rt.executions.list_json(
                        conn, config["application"], statuses=wanted, pipeline_config_ids=[config_id], limit=limit
                    )
        apps = {e["application"]: rt.applications.get(conn, e["application"]) for e in found}
    return [e for e in found if security.application_allows(who, apps[e["application"]], "READ")]
