"""Ad-hoc operations (gate.md §1.6): `POST /tasks` with a list of jobs, recorded as ORCHESTRATION executions.

Each job runs in the request's transaction and becomes one stage of the recorded task, so `GET /tasks/{id}`
shows what was done, by whom, and why a job failed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, require_application
from gennaker.api.errors import ApiError
from gennaker.engine.contracts import exception_details
from gennaker.engine.handlers import new_id
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.status import Status
from gennaker.runtime import Runtime

router = APIRouter(tags=["tasks"])
APPLICATION_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$")


class TaskRequest(BaseModel):
    application: str | None = None
    description: str = ""
    job: list[dict[str, Any]] = Field(min_length=1)


def _application_job(rt: Runtime, request: Request, who: Caller, job: dict[str, Any]) -> dict[str, Any]:
    """Run one application job; returns the stage context to record (raises ApiError on bad input)."""
    kind = job.get("type")
    attributes = job.get("application")
    if not isinstance(attributes, dict) or not isinstance(attributes.get("name"), str):
        raise ApiError(
            400, "job.application.name is required", [{"field": "job.application.name", "problem": "is required"}]
        )
    name = attributes["name"]
    if not APPLICATION_NAME.match(name):
        problem = "must start with a letter and hold only letters, digits and '-' (at most 63)"
        raise ApiError(400, f"job.application.name: {problem}", [{"field": "job.application.name", "problem": problem}])
    with rt.db.read() as conn:
        exists = rt.applications.get(conn, name) is not None
    if kind == "createApplication" and exists:
        raise ApiError(409, f"application '{name.lower()}' already exists")
    if kind in ("updateApplication", "deleteApplication"):
        if not exists:
            raise ApiError(404, f"application '{name.lower()}' not found")
        require_application(request, rt, who, name, "WRITE")
    with rt.db.transaction() as conn:
        if kind == "deleteApplication":
            rt.applications.delete(conn, name)
        else:
            fields = {k: v for k, v in attributes.items() if k != "name"}
            rt.applications.save(conn, name, fields, who.username)
    return {"application": name.lower()}


JOBS = {"createApplication", "updateApplication", "deleteApplication"}


@router.post("/tasks")
def create_task(body: TaskRequest, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, str]:
    for index, job in enumerate(body.job):
        if job.get("type") not in JOBS:
            problem = f"unsupported job type {job.get('type')!r}; supported: {sorted(JOBS)}"
            raise ApiError(400, f"job[{index}].type: {problem}", [{"field": f"job[{index}].type", "problem": problem}])
    application = (body.application or str((body.job[0].get("application") or {}).get("name") or "")).lower()
    task = Execution(
        id=new_id(), application=application or "gennaker", name=body.description or body.job[0]["type"],
        type="ORCHESTRATION", status=Status.RUNNING, start_time=now_ms(),
        authentication={"user": who.username, "allowedAccounts": []}, trigger={"type": "manual", "user": who.username},
    )  # fmt: skip
    for index, job in enumerate(body.job):
        stage = Stage(id=new_id(), ref_id=str(index), type=job["type"], name=job["type"], start_time=now_ms())
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
    return {"ref": f"/tasks/{task.id}"}


@router.get("/tasks/{task_id}")
def get_task(task_id: str, request: Request, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    with rt.db.read() as conn:
        task = rt.executions.get_json(conn, task_id)
    if task is None or task["type"] != "ORCHESTRATION":
        raise ApiError(404, f"task {task_id} not found")
    if task["authentication"].get("user") != who.username:
        require_application(request, rt, who, task["application"], "READ")
    return task
