"""Commands on the local database (no `gennaker login`): `LocalBackend`, a thin shell over the application
service (`gennaker.service`) acting as the local user, whose refusals become one-line `BackendError`s.

The local user is trusted (permissions are enforced by server processes, not on one's own database). Reads
(an execution, the executions of an application, pipelines, applications) use services over the database
alone; everything else uses the whole runtime's, built on first use. The runtime and the modules only some
commands need are imported where they are used, so that `gennaker execution get` stays fast.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from gennaker.cli.backend import BackendError, Watcher, stops_waiting
from gennaker.service.access import Access
from gennaker.service.errors import NotFound, ServiceError
from gennaker.service.executions import Executions
from gennaker.settings import Settings
from gennaker.store.applications import ApplicationStore
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.notifications import NotificationStore
from gennaker.store.pipelines import PipelineStore

if TYPE_CHECKING:
    from gennaker.runtime import Runtime
    from gennaker.service.applications import Applications
    from gennaker.service.pipelines import Pipelines
    from gennaker.service.wiring import Services

R = TypeVar("R")


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as the CLI's one-line errors."""
    try:
        yield
    except ServiceError as error:
        raise BackendError(str(error)) from None


def _or_none(read: Callable[[], R]) -> R | None:
    """What `read` finds, or None for what does not exist."""
    try:
        return read()
    except NotFound:
        return None


def _found(action: Callable[[], object]) -> bool:
    """Whether what `action` acts on exists (it was done), or not (nothing was done)."""
    try:
        action()
    except NotFound:
        return False
    return True


class LocalBackend:
    """Commands on the local database, as the local user."""

    def __init__(self, settings: Settings, user: str):
        self.settings = settings
        self.user = user

    @functools.cached_property
    def rt(self) -> Runtime:
        """The whole runtime, built on first use: reading an execution needs only the database."""
        from gennaker.runtime import Runtime

        return Runtime(self.settings)

    @property
    def service(self) -> Services:
        """The runtime's services: what changes something, or needs the engine."""
        return self.rt.service

    @functools.cached_property
    def db(self) -> Database:
        """The database for reads, without migrating it (a database not yet made falls back to the runtime)."""
        if "rt" in self.__dict__:
            return self.rt.db
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)  # a first command on a new machine
        database = Database(self.settings.database_url)
        if not database.has_schema():
            database.dispose()
            return self.rt.db
        return database

    # -- reads over the database alone ---------------------------------------------------------------------
    @functools.cached_property
    def _access(self) -> Access:
        return Access(ApplicationStore(), None)  # the local user is trusted

    @functools.cached_property
    def _applications(self) -> Applications:
        from gennaker.service.applications import Applications

        return Applications(self.db, ApplicationStore(), self._access)

    @functools.cached_property
    def _pipelines(self) -> Pipelines:
        from gennaker.service.pipelines import Pipelines

        return Pipelines(self.db, PipelineStore(), self._access, lambda: self.rt, lambda: self.rt.starts)

    @functools.cached_property
    def _executions(self) -> Executions:
        return Executions(
            self.db,
            ExecutionStore(),
            PipelineStore(),
            NotificationStore(),
            self._access,
            lambda: self.rt.operations,
            lambda: self.rt.wakeup,
            lambda: self.rt.expressions,
        )

    # -- applications --------------------------------------------------------------------------------------
    def save_application(self, name: str, email: str | None) -> dict[str, Any]:
        with _refusals():
            return self.service.applications.save(name, {"email": email} if email else {}, self.user)

    def applications(self) -> list[dict[str, Any]]:
        return self._applications.visible(self.user)

    def application(self, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: self._applications.get(name, self.user))

    def delete_application(self, name: str) -> bool:
        with _refusals():
            return _found(lambda: self.service.applications.delete(name, self.user))

    # -- pipelines -----------------------------------------------------------------------------------------
    def save_pipeline(self, config: dict[str, Any], allow_unknown: bool = False) -> dict[str, Any]:
        with _refusals():
            saved = self.service.pipelines.save(config, self.user, allow_unknown=allow_unknown)
        warnings = [w.to_json() for w in self.service.pipelines.warnings(saved)]
        return {"id": saved["id"], "application": saved["application"], "name": saved["name"], "warnings": warnings}

    def pipelines(self, application: str) -> list[dict[str, Any]]:
        return self._pipelines.configs(application, self.user)

    def pipeline(self, application: str, name: str) -> dict[str, Any] | None:
        return _or_none(lambda: self._pipelines.config(application, name, self.user))

    def delete_pipeline(self, application: str, name: str) -> bool:
        with _refusals():
            return self.service.pipelines.delete(application, name, self.user)

    def history(self, pipeline_id: str) -> list[dict[str, Any]]:
        with _refusals():
            return self._pipelines.history(pipeline_id, self.user)

    def trigger_history(self, pipeline_id: str) -> list[dict[str, Any]]:
        with _refusals():
            return self._pipelines.trigger_history(pipeline_id, self.user)

    def restore(self, pipeline_id: str, version: int) -> bool:
        with _refusals():
            return _found(lambda: self.service.pipelines.restore(pipeline_id, version, self.user))

    def execute(self, application: str, name: str, trigger: dict[str, Any]) -> str:
        with _refusals():
            return self.service.pipelines.start(application, name, trigger, self.user)

    # -- executions ----------------------------------------------------------------------------------------
    def execution(self, execution_id: str) -> dict[str, Any] | None:
        return _or_none(lambda: self._executions.get(execution_id, self.user))

    def executions(self, application: str, statuses: list[str], limit: int) -> list[dict[str, Any]]:
        return self._executions.newest(application, self.user, statuses, limit)

    def cancel(self, execution_id: str, reason: str | None) -> None:
        with _refusals():
            self.service.executions.cancel(execution_id, self.user, reason)

    def pause(self, execution_id: str) -> None:
        with _refusals():
            self.service.executions.pause(execution_id, self.user)

    def resume(self, execution_id: str) -> None:
        with _refusals():
            self.service.executions.resume(execution_id, self.user)

    def restart(self, execution_id: str, stage: str) -> None:
        with _refusals():
            self.service.executions.restart_stage(execution_id, stage, self.user)

    def judge(self, execution_id: str, stage: str, judgment: str, judgment_input: str | None) -> None:
        with _refusals():
            self.service.executions.judge(execution_id, stage, judgment, judgment_input, self.user)

    def watch(self, execution_id: str, on_update: Watcher) -> dict[str, Any]:
        """Follow an execution here; runs the engine in this process when no other process would."""
        if not self.rt.wakeup.workers_elsewhere():
            self.rt.start_workers(1)
        while True:
            execution = self.execution(execution_id)
            if execution is None:
                raise BackendError(f"execution {execution_id} not found")
            on_update(execution)
            if stops_waiting(execution):
                return execution
            time.sleep(0.25)

    # -- infrastructure ------------------------------------------------------------------------------------
    def accounts(self) -> list[dict[str, Any]]:
        from gennaker.stages.jenkins import jenkins_access

        jenkins = jenkins_access(self.rt.registry)  # Jenkins masters too (issue 13)
        masters = [master.public() for master in jenkins.masters] if jenkins else []
        return [account.public() for account in self.service.infrastructure.accounts(self.user)] + masters

    def server_groups(self, application: str) -> list[dict[str, Any]]:
        with _refusals():
            return self.service.infrastructure.view(application, self.user).server_groups()

    def run_task(self, application: str, description: str, job: dict[str, Any]) -> str:
        with _refusals():
            return self.service.tasks.start_infrastructure(application, description, [job], self.user)

    def close(self) -> None:
        if "db" in self.__dict__ and ("rt" not in self.__dict__ or self.db is not self.rt.db):
            self.db.dispose()
        if "rt" in self.__dict__:
            self.rt.close()

    # -- pipeline templates (v2) -------------------------------------------------------------------
    def save_template(self, template: dict[str, Any], tag: str | None) -> dict[str, Any]:
        """Create the template, or replace the stored one (as `spin pipeline-template save`)."""
        with _refusals():
            return self.service.templates.save(template, tag, self.user, create=False)

    def template(self, template_id: str, tag: str | None, digest: str | None) -> dict[str, Any] | None:
        with _refusals():
            return _or_none(lambda: self.service.templates.get(template_id, tag, digest))

    def templates(self, scopes: list[str]) -> list[dict[str, Any]]:
        return self.service.templates.copies(scopes)

    def delete_template(self, template_id: str, tag: str | None, digest: str | None) -> bool:
        with _refusals():
            return _found(lambda: self.service.templates.delete(template_id, self.user, tag, digest))

    def plan_pipeline(self, config: dict[str, Any]) -> dict[str, Any]:
        with _refusals():
            return self.service.templates.plan(config, self.user)

    # -- canary configs ----------------------------------------------------------------------------
    def save_canary_config(self, config: dict[str, Any]) -> str:
        with _refusals():
            return str(self.rt.canary_configs.save(config, self.user)["id"])

    def canary_config(self, config_id: str) -> dict[str, Any] | None:
        return _or_none(lambda: self.rt.canary_configs.config(config_id, self.user))

    def canary_configs(self, application: str | None) -> list[dict[str, Any]]:
        return self.rt.canary_configs.configs(self.user, application)

    def delete_canary_config(self, config_id: str) -> bool:
        return _found(lambda: self.rt.canary_configs.delete(config_id, self.user))
