"""Pipeline configs, triggering, and executions (gate.md §1.3-§1.5): adapters over `gennaker.service`, which
checks permissions and does the work; these parse Gate's requests and shape its answers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from gennaker.api.deps import ActorDep, RuntimeDep, csv_values
from gennaker.api.errors import ERROR_RESPONSES
from gennaker.model.pipeline import PipelineConfig
from gennaker.runtime import Runtime
from gennaker.service.access import Actor

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


# -- configs ---------------------------------------------------------------------------------------
@router.post("/pipelines", status_code=200)
def save_pipeline(
    rt: RuntimeDep,
    who: ActorDep,
    body: PipelineConfig = Body(...),
    staleCheck: bool = False,
    allowUnknown: bool = False,
) -> dict[str, Any]:
    """Save a config, creating its application; 400 names every invalid field. The answer names the saved
    pipeline and lists `warnings` (path, reason) for what it stores but will not act on."""
    saved = rt.service.pipelines.save(body.model_dump(exclude_unset=True), who, allow_unknown=allowUnknown)
    return {
        "id": saved["id"],
        "application": saved["application"],
        "name": saved["name"],
        "warnings": [w.to_json() for w in rt.service.pipelines.warnings(saved)],
    }


@router.put("/pipelines/{pipeline_id}")
def update_pipeline(
    pipeline_id: str,
    rt: RuntimeDep,
    who: ActorDep,
    body: PipelineConfig = Body(...),
    allowUnknown: bool = False,
) -> dict[str, Any]:
    """Replace a config; the answer is the stored config (Front50's), with `warnings` beside it."""
    config = body.model_dump(exclude_unset=True)
    saved = rt.service.pipelines.update(pipeline_id, config, who, allow_unknown=allowUnknown)
    return {**saved, "warnings": [w.to_json() for w in rt.service.pipelines.warnings(saved)]}


@router.delete("/pipelines/{application}/{pipeline_name}", response_class=Response, responses=NO_BODY)
def delete_pipeline(application: str, pipeline_name: str, rt: RuntimeDep, who: ActorDep) -> Response:
    rt.service.pipelines.delete(application, pipeline_name, who)
    return Response(status_code=200)


@router.get("/pipelineConfigs/{pipeline_id}/history")
def pipeline_history(
    pipeline_id: str, rt: RuntimeDep, who: ActorDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """Full past versions, newest first, each with `version`, `createdAt` and `createdBy` added."""
    return [
        {**v["config"], "version": v["version"], "createdAt": v["createdAt"], "createdBy": v["createdBy"]}
        for v in rt.service.pipelines.history(pipeline_id, who, limit)
    ]


@router.get("/pipelineConfigs/{pipeline_id}/triggers/history")
def trigger_history(
    pipeline_id: str, rt: RuntimeDep, who: ActorDep, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """What the pipeline's triggers saw, newest first: each event started (with `executionId`) or was skipped
    (with `reason`)."""
    return rt.service.pipelines.trigger_history(pipeline_id, who, limit)


@router.post("/pipelineConfigs/{pipeline_id}/history/{version}/restore")
def restore_pipeline(pipeline_id: str, version: int, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """Save an older version again as the newest one (history itself is never rewritten)."""
    return rt.service.pipelines.restore(pipeline_id, version, who)


# -- triggering --------------------------------------------------------------------------------------
def _trigger(rt: Runtime, who: Actor, application: str, name_or_id: str, body: dict[str, Any] | None) -> str:
    trigger = dict(body or {})
    if "trigger" in trigger and isinstance(trigger["trigger"], dict):  # spin sends {"trigger": {...}} too
        trigger = dict(trigger["trigger"])
    return rt.service.pipelines.start(application, name_or_id, trigger, who)


@router.post(
    "/pipelines/{application}/{name_or_id}", status_code=202, operation_id="triggerPipeline", responses=EXECUTION_LINKS
)
def trigger_pipeline(
    application: Annotated[str, Path(examples=["shop"])],
    name_or_id: Annotated[str, Path(examples=["release"])],
    rt: RuntimeDep,
    who: ActorDep,
    body: dict[str, Any] | None = Body(None),
) -> dict[str, str]:
    execution_id = _trigger(rt, who, application, name_or_id, body)
    return {"ref": f"/pipelines/{execution_id}", "id": execution_id}


@router.post("/pipelines/v2/{application}/{name_or_id}", status_code=202)
def trigger_pipeline_v2(
    application: str,
    name_or_id: str,
    rt: RuntimeDep,
    who: ActorDep,
    body: dict[str, Any] | None = Body(None),
) -> dict[str, str]:
    execution_id = _trigger(rt, who, application, name_or_id, body)
    return {"eventId": str(uuid.uuid4()), "ref": f"/pipelines/{execution_id}"}


# -- executions --------------------------------------------------------------------------------------
@router.get("/pipelines/{execution_id}", operation_id="getExecution")
def get_execution(execution_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    return rt.service.executions.get(execution_id, who)


@router.put(
    "/pipelines/{execution_id}/cancel", response_class=Response, responses=NO_BODY, operation_id="cancelExecution"
)
def cancel(execution_id: str, rt: RuntimeDep, who: ActorDep, reason: str | None = None) -> Response:
    rt.service.executions.cancel(execution_id, who, reason)
    return Response(status_code=200)


@router.put(
    "/pipelines/{execution_id}/pause", response_class=Response, responses=NO_BODY, operation_id="pauseExecution"
)
def pause(execution_id: str, rt: RuntimeDep, who: ActorDep) -> Response:
    rt.service.executions.pause(execution_id, who)
    return Response(status_code=200)


@router.put(
    "/pipelines/{execution_id}/resume", response_class=Response, responses=NO_BODY, operation_id="resumeExecution"
)
def resume(execution_id: str, rt: RuntimeDep, who: ActorDep) -> Response:
    rt.service.executions.resume(execution_id, who)
    return Response(status_code=200)


@router.patch("/pipelines/{execution_id}/stages/{stage_id}")
def patch_stage(
    execution_id: str,
    stage_id: str,
    rt: RuntimeDep,
    who: ActorDep,
    body: dict[str, Any] = Body(...),
) -> dict[str, Any]:
    """Merge `body` into the stage context: manual judgment, `skipRemainingWait`, `manualSkip`."""
    rt.service.executions.patch_stage(execution_id, stage_id, body, who)
    return rt.service.executions.get(execution_id, who)


@router.put("/pipelines/{execution_id}/stages/{stage_id}/restart")
def restart_stage(execution_id: str, stage_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    rt.service.executions.restart_stage(execution_id, stage_id, who)
    return rt.service.executions.get(execution_id, who)


@router.get("/pipelines/{execution_id}/notifications")
def execution_notifications(execution_id: str, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    """The execution's notifications and how their delivery went (pending, sent, or failed with the error)."""
    return rt.service.executions.notifications_of(execution_id, who)


@router.get("/pipelines/{execution_id}/evaluateExpression")
def evaluate_expression(
    execution_id: str, rt: RuntimeDep, who: ActorDep, expression: str = Query(..., max_length=10_000)
) -> dict[str, Any]:
    return rt.service.executions.evaluate(execution_id, None, expression, who)


@router.get("/pipelines/{execution_id}/{stage_id}/evaluateExpression")
def evaluate_stage_expression(
    execution_id: str,
    stage_id: str,
    rt: RuntimeDep,
    who: ActorDep,
    expression: str = Query(..., max_length=10_000),
) -> dict[str, Any]:
    return rt.service.executions.evaluate(execution_id, stage_id, expression, who)


@router.get("/executions")
def list_by_ids(
    rt: RuntimeDep,
    who: ActorDep,
    pipelineConfigIds: str | None = None,
    executionIds: str | None = None,
    limit: int = Query(10, ge=1, le=1000),
    statuses: str | None = None,
) -> list[dict[str, Any]]:
    """Executions by config ids (newest `limit` per config) or by execution ids; `[]` without either. The service
    bounds the ids and the answer."""
    ids = {"executionIds": csv_values(executionIds), "pipelineConfigIds": csv_values(pipelineConfigIds)}
    return rt.service.executions.by_ids(
        who,
        execution_ids=ids["executionIds"],
        config_ids=ids["pipelineConfigIds"],
        statuses=csv_values(statuses, upper=True),
        limit=limit,
    )
