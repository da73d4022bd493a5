"""Ad-hoc operations (gate.md §1.6): `POST /tasks` with a list of jobs, recorded as ORCHESTRATION executions.

Each job runs in the request's transaction and becomes one stage of the recorded task, so `GET /tasks/{id}`
shows what was done, by whom, and why a job failed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, require_account, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.engine.contracts import exception_details
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.ids import new_id
from gennaker.model.pipeline import APPLICATION_NAME, APPLICATION_NAME_RULE
from gennaker.model.status import Status
from gennaker.runtime import Runtime

router = APIRouter(responses=ERROR_RESPONSES, tags=["tasks"])


class ApplicationAttributes(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=APPLICATION_NAME, description=APPLICATION_NAME_RULE)
    email: str | None = None


class ApplicationJob(BaseModel):
    type: Literal["createApplication", "updateApplication", "deleteApplication"]
    application: ApplicationAttributes


class ManifestJob(BaseModel):
    """An infrastructure action on a Kubernetes account; runs through the same stage code as pipelines."""

    model_config = ConfigDict(extra="allow")
    type: Literal[
        "deployManifest",
        "deleteManifest",
        "scaleManifest",
        "patchManifest",
        "undoRolloutManifest",
        "pauseRolloutManifest",
        "resumeRolloutManifest",
        "rollingRestartManifest",
        "enableManifest",
        "disableManifest",
    ]
    account: str = Field(min_length=1, description="The Kubernetes account to act on")
    cloudProvider: str = "kubernetes"


Job = ApplicationJob | ManifestJob


class TaskRequest(BaseModel):
    application: str | None = None
    description: str = ""
    job: list[Job] = Field(min_length=1)


def _application_job(rt: Runtime, request: Request, who: Caller, job: ApplicationJob) -> dict[str, Any]:
    """Run one application job; returns the stage context to record (raises ApiError when refused)."""
    name = job.application.name
    with rt.db.read() as conn:
        exists = rt.applications.get(conn, name) is not None
    if job.type == "createApplication" and exists:
        raise ApiError(409, f"application '{name.lower()}' already exists")
    if job.type in ("updateApplication", "deleteApplication"):
        if not exists:
            raise ApiError(404, f"application '{name.lower()}' not found")
        require_application(request, rt, who, name, "WRITE")
    with rt.db.transaction() as conn:
        if job.type == "deleteApplication":
            rt.applications.delete(conn, name)
        else:
            fields = job.application.model_dump(exclude={"name"}, exclude_unset=True)
            rt.applications.save(conn, name, fields, who.username)
    return {"application": name.lower()}


TASK_LINKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Recorded; `ref` is Gate's reference, `id` the task id",
        "links": {"GetTask": {"operationId": "getTask", "parameters": {"task_id": "$response.body#/id"}}},
    }
}


@router.post("/tasks", operation_id="createTask", responses=TASK_LINKS)
def create_task(body: TaskRequest, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, str]:
    manifest_jobs = [job for job in body.job if isinstance(job, ManifestJob)]
    if manifest_jobs:
        return _start_manifest_task(body, manifest_jobs, request, rt, who)
    application_jobs = [job for job in body.job if isinstance(job, ApplicationJob)]
    application = (body.application or application_jobs[0].application.name).lower()
    task = Execution(
        id=new_id(),
        application=application or "gennaker",
        name=body.description or body.job[0].type,
        type="ORCHESTRATION",
        status=Status.RUNNING,
        start_time=now_ms(),
        authentication={"user": who.username, "allowedAccounts": []},
        trigger={"type": "manual", "user": who.username},
    )
    for index, job in enumerate(application_jobs):
        stage = Stage(id=new_id(), ref_id=str(index), type=job.type, name=job.type, start_time=now_ms())
        try:
            stage.context = _application_job(rt, request, who, job)
            stage.status = Status.SUCCEEDED
        except ApiError as exc:
            stage.context = {"exception": exception_details(exc.message)}
            stage.status = Status.TERMINAL
        stage.end_time = now_ms()
        task.stages.append(stage)
        if stage.status is Status.TERMINAL:
            break
    task.status = Status.TERMINAL if any(s.status is Status.TERMINAL for s in task.stages) else Status.SUCCEEDED
    task.end_time = now_ms()
    with rt.db.transaction() as conn:
        rt.executions.insert(conn, task)
    return {"ref": f"/tasks/{task.id}", "id": task.id}


def _start_manifest_task(
    body: TaskRequest, jobs: list[ManifestJob], request: Request, rt: Runtime, who: Caller
) -> dict[str, str]:
    """Queue the jobs as one ORCHESTRATION; the caller needs WRITE on the application and on each account."""
    if len(jobs) != len(body.job):
        raise ApiError(400, "job: application and manifest jobs cannot be mixed in one task")
    application = (body.application or str(getattr(jobs[0], "app", "") or "")).lower()
    if not application:
        problem = [{"field": "application", "problem": "is required for manifest jobs"}]
        raise ApiError(400, "application is required for manifest jobs", problem)
    require_application(request, rt, who, application, "WRITE")
    for job in jobs:
        require_account(rt, who, job.account, "WRITE")
    task_id = rt.start_task(application, body.description or jobs[0].type, [j.model_dump() for j in jobs], who.username)
    return {"ref": f"/tasks/{task_id}", "id": task_id}


@router.get("/tasks/{task_id}", operation_id="getTask")
def get_task(task_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    with rt.db.read() as conn:
        task = rt.executions.get_json(conn, task_id)
    if task is None or task["type"] != "ORCHESTRATION":
        raise ApiError(404, f"task {task_id} not found")
    if task["authentication"].get("user") != who.username:
        require_application(request, rt, who, task["application"], "READ")
    return task
