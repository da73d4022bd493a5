"""Pipeline configs: reading, saving (with the runtime's validation), deleting, their version history and
trigger history, restoring an old version, and starting one by hand.

Reading needs READ on the config's application, saving, deleting and restoring WRITE (a config of an
application that does not exist yet may be saved by anyone signed in: saving creates it), starting EXECUTE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from gennaker.model.compatibility import FieldWarning
from gennaker.model.pipeline import FieldError, PipelineValidationError
from gennaker.service.access import Access, Actor, Who
from gennaker.service.errors import Invalid, NotFound
from gennaker.store.database import Database
from gennaker.store.pipelines import PipelineStore
from gennaker.store.triggers import TriggerStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from gennaker.service.starts import Starts
    from gennaker.triggers.scheduler import CronTrigger


class PipelineRules(Protocol):
    """What decides whether a config may be saved and what it will do (the runtime's validation, which
    knows the registered stage types)."""

    def save_pipeline(
        self, config: dict[str, Any], user: str | None, *, allow_unknown: bool = False
    ) -> dict[str, Any]: ...

    def pipeline_problems(self, config: dict[str, Any], *, allow_unknown: bool = False) -> list[FieldError]: ...

    def pipeline_warnings(self, config: Mapping[str, Any]) -> list[FieldWarning]: ...

    def next_fire_times(
        self, config: Mapping[str, Any], count: int = 3
    ) -> list[tuple[int, CronTrigger, list[datetime]]]: ...


class Pipelines:
    def __init__(
        self,
        db: Database,
        store: PipelineStore,
        access: Access,
        rules: Callable[[], PipelineRules],
        starts: Callable[[], Starts],
        triggers: TriggerStore | None = None,
    ):
        """`rules` and `starts` are asked for when first needed: reading a config needs only the database."""
        self.db = db
        self.store = store
        self.access = access
        self.rules = rules
        self.starts = starts
        self.triggers = triggers or TriggerStore()

    # -- reading -------------------------------------------------------------------------------------------
    def configs(self, application: str, who: Who) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            self.access.require(conn, self.access.actor(who), application, "READ")
            return self.store.for_application(conn, application)

    def config(self, application: str, name_or_id: str, who: Who, permission: str = "READ") -> dict[str, Any]:
        """The application's config of that name (or id), if `who` has `permission` on the application."""
        with self.db.read() as conn:
            self.access.require(conn, self.access.actor(who), application, permission)
            return self._named(conn, application, name_or_id)

    def history(self, pipeline_id: str, who: Who, limit: int | None = None) -> list[dict[str, Any]]:
        """Past versions, newest first: `{version, createdAt, createdBy, config}`."""
        with self.db.read() as conn:
            self._stored(conn, pipeline_id, self.access.actor(who), "READ")
            return self.store.history(conn, pipeline_id)[:limit]

    def trigger_history(self, pipeline_id: str, who: Who, limit: int = 100) -> list[dict[str, Any]]:
        """What the config's triggers saw, newest first: started (`executionId`) or skipped (`reason`)."""
        with self.db.read() as conn:
            self._stored(conn, pipeline_id, self.access.actor(who), "READ")
            return self.triggers.history(conn, pipeline_id, limit)

    # -- what a config will do (no database) -----------------------------------------------------------------
    def problems(self, config: dict[str, Any]) -> list[FieldError]:
        """What stops `config` from being saved (shape, stage graph, types, stage contexts)."""
        return self.rules().pipeline_problems(config)

    def warnings(self, config: Mapping[str, Any]) -> list[FieldWarning]:
        """What `config` names that will not act (stages that fail if run, triggers that do not fire, …)."""
        return self.rules().pipeline_warnings(config)

    def next_fire_times(self, config: Mapping[str, Any]) -> list[tuple[int, CronTrigger, list[datetime]]]:
        return self.rules().next_fire_times(config)

    # -- changing -----------------------------------------------------------------------------------------
    def save(self, config: dict[str, Any], who: Who, *, allow_unknown: bool = False) -> dict[str, Any]:
        """Validate and store a config, creating its application; returns the stored config. Needs WRITE on
        an application that exists."""
        actor = self.access.actor(who)
        application = config.get("application")
        if isinstance(application, str) and application:
            with self.db.read() as conn:
                if self.access.applications.get(conn, application) is not None:
                    self.access.require(conn, actor, application, "WRITE")
        return self._validated(config, actor, allow_unknown)

    def update(
        self, pipeline_id: str, config: dict[str, Any], who: Who, *, allow_unknown: bool = False
    ) -> dict[str, Any]:
        """Replace a stored config (it keeps its id and application); needs WRITE."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            existing = self._stored(conn, pipeline_id, actor, "WRITE")
        return self._validated(
            {**config, "id": pipeline_id, "application": existing["application"]}, actor, allow_unknown
        )

    def delete(self, application: str, name: str, who: Who) -> bool:
        """Delete the application's config of that name with its history; False if there is none."""
        with self.db.transaction() as conn:
            self.access.require(conn, self.access.actor(who), application, "WRITE")
            return self.store.delete(conn, application, name.strip())

    def restore(self, pipeline_id: str, version: int, who: Who) -> dict[str, Any]:
        """Save an older version again as the newest one (history is never rewritten)."""
        actor = self.access.actor(who)
        with self.db.transaction() as conn:
            self._stored(conn, pipeline_id, actor, "WRITE")
            restored = self.store.restore(conn, pipeline_id, version, actor.name)
        if restored is None:
            raise NotFound(f"pipeline {pipeline_id} has no version {version}")
        return restored

    # -- starting -----------------------------------------------------------------------------------------
    def start(self, application: str, name_or_id: str, trigger: Mapping[str, Any], who: Who) -> str:
        """Start the config by hand as `who` (needs EXECUTE); returns the execution id."""
        from gennaker.engine.launcher import LaunchError

        actor = self.access.actor(who)
        config = self.config(application, name_or_id, actor, "EXECUTE")
        try:
            return self.starts().manual(config, trigger, actor.name)
        except LaunchError as error:
            raise Invalid(str(error), [(e.field, e.problem) for e in error.errors]) from None

    # -- helpers ------------------------------------------------------------------------------------------
    def _named(self, conn: Connection, application: str, name_or_id: str) -> dict[str, Any]:
        config = self.store.get_by_name(conn, application, name_or_id) or self.store.get(conn, name_or_id)
        if config is None or config["application"] != application.lower():
            raise NotFound(f"pipeline '{name_or_id}' not found in application '{application.lower()}'")
        return config

    def _stored(self, conn: Connection, pipeline_id: str, actor: Actor, permission: str) -> dict[str, Any]:
        config = self.store.get(conn, pipeline_id)
        if config is None:
            raise NotFound(f"pipeline {pipeline_id} not found")
        self.access.require(conn, actor, config["application"], permission)
        return config

    def _validated(self, config: dict[str, Any], actor: Actor, allow_unknown: bool) -> dict[str, Any]:
        try:
            return self.rules().save_pipeline(config, actor.name, allow_unknown=allow_unknown)
        except PipelineValidationError as error:
            raise Invalid(f"invalid pipeline: {error}", [(e.field, e.problem) for e in error.errors]) from None
