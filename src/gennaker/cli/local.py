"""Commands on the local database (no `gennaker login`): `LocalBackend`.

Reads (an execution, the executions of an application, pipelines, applications) use the database alone;
everything else builds the whole runtime on first use. The runtime and the modules only some commands need
are imported where they are used, so that `gennaker execution get` stays fast.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gennaker.cli.backend import BackendError, Watcher, stops_waiting
from gennaker.settings import Settings
from gennaker.store.applications import ApplicationStore
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.pipelines import PipelineStore

if TYPE_CHECKING:
    from gennaker.runtime import Runtime


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

    @functools.cached_property
    def db(self) -> Database:
        """The database for reads, without migrating it (a database not yet made falls back to the runtime)."""
        if "rt" in self.__dict__:
            return self.rt.db
        database = Database(self.settings.database_url)
        if not database.has_schema():
            database.dispose()
            return self.rt.db
        return database

    def _guarded(self, action: Callable[[], Any]) -> Any:
        from gennaker.engine.launcher import LaunchError
        from gennaker.engine.operations import NotFound, OperationError
        from gennaker.model.pipeline import PipelineValidationError

        try:
            return action()
        except PipelineValidationError as exc:
            raise BackendError(f"invalid pipeline: {exc}") from None
        except (LaunchError, OperationError, NotFound) as exc:
            raise BackendError(str(exc)) from None

    def save_application(self, name: str, email: str | None) -> dict[str, Any]:
        from gennaker.model.pipeline import application_name_problem

        problem = application_name_problem(name)
        if problem:
            raise BackendError(f"application name {name!r} {problem}")
        with self.rt.db.transaction() as conn:
            return self.rt.applications.save(conn, name, {"email": email} if email else {}, self.user)

    def applications(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return ApplicationStore().all(conn)

    def application(self, name: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return ApplicationStore().get(conn, name)

    def delete_application(self, name: str) -> bool:
        with self.rt.db.transaction() as conn:
            return self.rt.applications.delete(conn, name)

    def save_pipeline(self, config: dict[str, Any], allow_unknown: bool = False) -> dict[str, Any]:
        saved: dict[str, Any] = self._guarded(
            lambda: self.rt.save_pipeline(config, self.user, allow_unknown=allow_unknown)
        )
        warnings = [w.to_json() for w in self.rt.pipeline_warnings(saved)]
        return {"id": saved["id"], "application": saved["application"], "name": saved["name"], "warnings": warnings}

    def pipelines(self, application: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return PipelineStore().for_application(conn, application)

    def pipeline(self, application: str, name: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return PipelineStore().get_by_name(conn, application, name)

    def delete_pipeline(self, application: str, name: str) -> bool:
        with self.rt.db.transaction() as conn:
            return self.rt.pipelines.delete(conn, application, name)

    def history(self, pipeline_id: str) -> list[dict[str, Any]]:
        with self.rt.db.read() as conn:
            return self.rt.pipelines.history(conn, pipeline_id)

    def trigger_history(self, pipeline_id: str) -> list[dict[str, Any]]:
        with self.rt.db.read() as conn:
            return self.rt.starts.triggers.history(conn, pipeline_id)

    def restore(self, pipeline_id: str, version: int) -> bool:
        with self.rt.db.transaction() as conn:
            return self.rt.pipelines.restore(conn, pipeline_id, version, self.user) is not None

    def execute(self, application: str, name: str, trigger: dict[str, Any]) -> str:
        execution_id: str = self._guarded(lambda: self.rt.start_pipeline(application, name, trigger, self.user))
        return execution_id

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return ExecutionStore().get_json(conn, execution_id)

    def executions(self, application: str, statuses: list[str], limit: int) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return ExecutionStore().list_json(conn, application, statuses=statuses, limit=limit)

    def cancel(self, execution_id: str, reason: str | None) -> None:
        self._guarded(lambda: self.rt.operations.cancel(execution_id, self.user, reason))

    def pause(self, execution_id: str) -> None:
        self._guarded(lambda: self.rt.operations.pause(execution_id, self.user))

    def resume(self, execution_id: str) -> None:
        self._guarded(lambda: self.rt.operations.resume(execution_id, self.user))

    def restart(self, execution_id: str, stage: str) -> None:
        self._guarded(lambda: self.rt.operations.restart_stage(execution_id, stage, self.user))

    def judge(self, execution_id: str, stage: str, judgment: str, judgment_input: str | None) -> None:
        self._guarded(lambda: self.rt.operations.judge(execution_id, stage, judgment, judgment_input, self.user))

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

    def accounts(self) -> list[dict[str, Any]]:
        from gennaker.stages.jenkins import jenkins_access

        jenkins = jenkins_access(self.rt.registry)  # Jenkins masters too (issue 13)
        masters = [master.public() for master in jenkins.masters] if jenkins else []
        return [account.public() for account in self.rt.kubernetes.accounts] + masters

    def server_groups(self, application: str) -> list[dict[str, Any]]:
        return self.rt.kubernetes.infrastructure.server_groups(application)

    def run_task(self, application: str, description: str, job: dict[str, Any]) -> str:
        return self.rt.start_task(application, description, [job], self.user)

    def close(self) -> None:
        if "rt" in self.__dict__:
            self.rt.close()
        elif "db" in self.__dict__:
            self.db.dispose()

    # -- pipeline templates (v2) -------------------------------------------------------------------
    def save_template(self, template: dict[str, Any], tag: str | None) -> dict[str, Any]:
        """Create the template, or replace the stored one (as `spin pipeline-template save`)."""
        from gennaker.model.pipeline_templates import TemplateError

        try:
            with self.rt.db.transaction() as conn:
                return self.rt.launcher.templates.save(
                    conn, template, tag, self.user, create=False, registry=self.rt.registry
                )
        except TemplateError as exc:
            raise BackendError(f"invalid pipeline template: {exc}") from None

    def template(self, template_id: str, tag: str | None, digest: str | None) -> dict[str, Any] | None:
        with self.rt.db.read() as conn:
            return self.rt.launcher.templates.store.get(conn, template_id, tag, digest)

    def templates(self, scopes: list[str]) -> list[dict[str, Any]]:
        with self.rt.db.read() as conn:
            return self.rt.launcher.templates.store.copies(conn, scopes)

    def delete_template(self, template_id: str, tag: str | None, digest: str | None) -> bool:
        from gennaker.store.templates import TemplateConflict

        try:
            with self.rt.db.transaction() as conn:
                return self.rt.launcher.templates.delete(conn, template_id, tag, digest)
        except TemplateConflict as exc:
            raise BackendError(str(exc)) from None

    def plan_pipeline(self, config: dict[str, Any]) -> dict[str, Any]:
        from gennaker.model.pipeline_templates import TemplateError

        try:
            with self.rt.db.read() as conn:
                return self.rt.launcher.templates.plan(conn, config, planning=True)
        except TemplateError as exc:
            raise BackendError(f"the pipeline cannot be planned: {exc}") from None

    # -- canary configs ----------------------------------------------------------------------------
    def save_canary_config(self, config: dict[str, Any]) -> str:
        from gennaker.service.canary import CanaryError

        try:
            return str(self.rt.canary_configs.save(config, self.user)["id"])
        except CanaryError as exc:
            raise BackendError(str(exc)) from None

    def canary_config(self, config_id: str) -> dict[str, Any] | None:
        from gennaker.service.canary import CanaryNotFound

        try:
            return self.rt.canary_configs.config(config_id, self.user)
        except CanaryNotFound:
            return None

    def canary_configs(self, application: str | None) -> list[dict[str, Any]]:
        return self.rt.canary_configs.configs(self.user, application)

    def delete_canary_config(self, config_id: str) -> bool:
        from gennaker.service.canary import CanaryNotFound

        try:
            self.rt.canary_configs.delete(config_id, self.user)
        except CanaryNotFound:
            return False
        return True
