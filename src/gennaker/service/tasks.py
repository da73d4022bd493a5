"""Ad-hoc tasks (Gate's `POST /tasks`), started through `starts.py` like every execution.

Application changes (create, update, delete) run at once, each job a stage of a task recorded finished, so
the task shows what was done, by whom, and why a job failed. Infrastructure jobs (manifest operations) start
a task the workers run, stage by stage; they need WRITE on the application and on each account they touch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gennaker.engine.contracts import exception_details
from gennaker.model.execution import Stage, now_ms
from gennaker.model.ids import new_id
from gennaker.model.status import Status
from gennaker.service.access import Access, Actor, Who
from gennaker.service.applications import Applications
from gennaker.service.errors import Invalid, NotFound, ServiceError
from gennaker.store.database import Database

if TYPE_CHECKING:
    from gennaker.service.starts import Starts

# An account's permissions by its name; raises LookupError for an account that is not configured.
AccountPermissions = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class ApplicationChange:
    """`createApplication`, `updateApplication` or `deleteApplication` of the application `name`."""

    type: str
    name: str
    attributes: Mapping[str, Any]


class Tasks:
    def __init__(
        self,
        db: Database,
        access: Access,
        applications: Applications,
        starts: Callable[[], Starts],
        account_permissions: AccountPermissions,
    ):
        self.db = db
        self.access = access
        self.applications = applications
        self.starts = starts
        self.account_permissions = account_permissions

    def change_applications(
        self, application: str | None, description: str, jobs: list[ApplicationChange], who: Who
    ) -> str:
        """Run the jobs in order until one fails; returns the recorded task's id."""
        actor = self.access.actor(who)
        started = now_ms()
        stages: list[Stage] = []
        for index, job in enumerate(jobs):
            stage = Stage(id=new_id(), ref_id=str(index), type=job.type, name=job.type, start_time=now_ms())
            try:
                self._run(job, actor)
                stage.context, stage.status = {"application": job.name.lower()}, Status.SUCCEEDED
            except ServiceError as error:
                stage.context, stage.status = {"exception": exception_details(str(error))}, Status.TERMINAL
            stage.end_time = now_ms()
            stages.append(stage)
            if stage.status is Status.TERMINAL:
                break
        owner = (application or jobs[0].name).lower() or "gennaker"
        return self.starts().recorded_task(owner, description or jobs[0].type, stages, actor.name, started)

    def _run(self, job: ApplicationChange, who: Who) -> None:
        if job.type == "createApplication":
            self.applications.create(job.name, dict(job.attributes), who)
        elif job.type == "updateApplication":
            self.applications.update(job.name, dict(job.attributes), who)
        elif job.type == "deleteApplication":
            self.applications.delete(job.name, who)
        else:
            raise Invalid.field("type", f"unknown application job {job.type!r}")

    def start_infrastructure(self, application: str, description: str, jobs: list[dict[str, Any]], who: Who) -> str:
        """Start the jobs (each with its `type` and `account`) as one task the workers run in order."""
        actor = self.access.actor(who)
        if not application:
            problem = "is required for manifest jobs"
            raise Invalid(f"application {problem}", [("application", problem)])
        with self.db.read() as conn:
            self.access.require(conn, actor, application, "WRITE")
        for job in jobs:
            self._require_account(actor, str(job.get("account") or ""))
        return self.start_checked(application, description, jobs, actor)

    def start_checked(self, application: str, description: str, jobs: list[dict[str, Any]], who: Who) -> str:
        """`start_infrastructure` for a caller that has checked WRITE on the application and every job's account
        (the infrastructure service, whose actions name one account)."""
        actor = self.access.actor(who)
        return self.starts().task(application.lower(), description or str(jobs[0].get("type")), jobs, actor.name)

    def _require_account(self, actor: Actor, account: str) -> None:
        if actor.account is None:  # accounts are not checked here: the stages check them as they run
            return
        try:
            permissions = self.account_permissions(account)
        except LookupError:
            raise NotFound(f"account '{account}' not found") from None
        Access.require_account(actor, account, permissions, "WRITE")
