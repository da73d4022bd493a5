"""Ad-hoc operations (gate.md §1.6): `POST /tasks` with a list of jobs, recorded as ORCHESTRATION executions.

Adapters over `gennaker.service.tasks`: application jobs run at once, each one stage of the recorded task, so
`GET /tasks/{id}` shows what was done, by whom, and why a job failed; manifest jobs start a task the workers run.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.names import APPLICATION_NAME, APPLICATION_NAME_RULE
from gennaker.service.tasks import ApplicationChange

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


TASK_LINKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Recorded; `ref` is Gate's reference, `id` the task id",
        "links": {"GetTask": {"operationId": "getTask", "parameters": {"task_id": "$response.body#/id"}}},
    }
}


@router.post("/tasks", operation_id="createTask", responses=TASK_LINKS)
def create_task(body: TaskRequest, rt: RuntimeDep, who: ActorDep) -> dict[str, str]:
    manifest_jobs = [job for job in body.job if isinstance(job, ManifestJob)]
    if manifest_jobs:
        if len(manifest_jobs) != len(body.job):
            raise ApiError(400, "job: application and manifest jobs cannot be mixed in one task")
        application = (body.application or str(getattr(manifest_jobs[0], "app", "") or "")).lower()
        jobs = [job.model_dump() for job in manifest_jobs]
        task_id = rt.service.tasks.start_infrastructure(application, body.description, jobs, who)
    else:
        changes = [
            ApplicationChange(
                job.type, job.application.name, job.application.model_dump(exclude={"name"}, exclude_unset=True)
            )
            for job in body.job
            if isinstance(job, ApplicationJob)
        ]
        task_id = rt.service.tasks.change_applications(body.application, body.description, changes, who)
    return {"ref": f"/tasks/{task_id}", "id": task_id}


@router.get("/tasks/{task_id}", operation_id="getTask")
def get_task(task_id: str, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    return rt.service.executions.task(task_id, who)
