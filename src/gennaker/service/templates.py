"""Managed pipeline templates (v2): reading, planning, saving and deleting them.

Templates are shared by all applications, so anyone signed in may read and plan them. Changing one changes
what its dependent pipelines run: saving or deleting needs WRITE on every application that depends on the
template and on every existing application named in its `metadata.scopes` (those of the stored copies too,
so an update cannot drop a scope to escape the check).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from gennaker.model.pipeline_templates import TEMPLATE_ID, TemplateError, scopes_of, template_key
from gennaker.service.access import Access, Actor, Who
from gennaker.service.errors import Conflict, Invalid, NotFound
from gennaker.store.database import Database
from gennaker.store.templates import TemplateConflict

MAX_SCOPES = 100  # applications a template's metadata.scopes may name

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from gennaker.engine.registry import Registry
    from gennaker.engine.templated import PipelineTemplates


class Templates:
    def __init__(
        self,
        db: Database,
        templates: Callable[[], PipelineTemplates],
        access: Access,
        registry: Callable[[], Registry],
    ):
        """`templates` renders and stores them; `registry` knows the stage types a template's stages may use."""
        self.db = db
        self.templates = templates
        self.access = access
        self.registry = registry

    # -- reading -------------------------------------------------------------------------------------------
    def copies(self, scopes: Collection[str] = ()) -> list[dict[str, Any]]:
        """Every stored copy (`<id>`, `<id>:<tag>`, `<id>@sha256:<digest>`) of the templates in `scopes`."""
        with self.db.read() as conn:
            return self.templates().store.copies(conn, scopes)

    def versions(self, scopes: Collection[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """The v2 templates' stored copies by template id."""
        with self.db.read() as conn:
            return self.templates().store.versions(conn, scopes)

    def get(self, template_id: str, tag: str | None = None, digest: str | None = None) -> dict[str, Any]:
        """One stored copy: the plain id, a tag or a digest (not both)."""
        _one_version(tag, digest)
        with self.db.read() as conn:
            found = self.templates().store.get(conn, template_id, tag or None, digest or None)
        if found is None:
            raise NotFound(f"pipeline template {template_key(template_id, tag, digest)} not found")
        return found

    def dependents(self, template_id: str, who: Who) -> list[dict[str, Any]]:
        """The pipeline configs (of applications `who` may read) whose reference names the template."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            self._existing(conn, template_id)
            found = self.templates().store.dependents(conn, template_id)
            readable = self.access.permitted(conn, actor, (c["application"] for c in found), "READ")
        return [c for c in found if c["application"] in readable]

    def plan(self, config: dict[str, Any], who: Who) -> dict[str, Any]:
        """The plain pipeline a templated config renders to (its `trigger`, if any, is the trigger); needs READ
        on its application if that exists."""
        actor = self.access.actor(who)
        application = config.get("application")
        try:
            with self.db.read() as conn:
                known = isinstance(application, str) and self.access.applications.get(conn, application) is not None
                if known:
                    self.access.require(conn, actor, str(application), "READ")
                return self.templates().plan(conn, config, planning=True)
        except TemplateError as error:
            raise _invalid(error, "the pipeline cannot be planned") from None

    # -- changing -----------------------------------------------------------------------------------------
    def save(
        self,
        template: dict[str, Any],
        tag: str | None,
        who: Who,
        *,
        create: bool,
        plan_dependents: bool = True,
    ) -> dict[str, Any]:
        """Store a new template (`create`: its id and tag must be new) or replace the stored copy; returns the
        copy stored. Unless `plan_dependents` is off, the pipelines using a copy this rewrites must still
        render."""
        actor = self.access.actor(who)
        template_id = template.get("id")
        scopes = {scope.lower() for scope in scopes_of(template)}
        if len(scopes) > MAX_SCOPES:  # each is looked up while the transaction holds the write lock
            raise Invalid.field("metadata.scopes", f"names {len(scopes)} applications, more than {MAX_SCOPES}")
        try:
            with self.db.transaction() as conn:
                if isinstance(template_id, str) and TEMPLATE_ID.match(template_id):
                    self._require_write(conn, actor, template_id, scopes)
                return self.templates().save(
                    conn,
                    template,
                    tag or None,
                    actor.name,
                    create=create,
                    registry=self.registry(),
                    plan_dependents=plan_dependents,
                )
        except TemplateError as error:
            raise _invalid(error, "invalid pipeline template") from None
        except TemplateConflict as error:
            raise Conflict(str(error)) from None

    def update(
        self, template_id: str, template: dict[str, Any], tag: str | None, who: Who, *, plan_dependents: bool = True
    ) -> dict[str, Any]:
        """Replace a stored template (one copy of it must exist); the body's id, if any, must be `template_id`."""
        with self.db.read() as conn:
            self._existing(conn, template_id)
        if template.get("id", template_id) != template_id:
            raise Invalid.field("id", f"must be the id in the path, '{template_id}'")
        body = {**template, "id": template_id}
        return self.save(body, tag, who, create=False, plan_dependents=plan_dependents)

    def delete(self, template_id: str, who: Who, tag: str | None = None, digest: str | None = None) -> None:
        """Delete one stored copy (a tag or digest names it); refused while pipeline configs use it."""
        _one_version(tag, digest)
        actor = self.access.actor(who)
        try:
            with self.db.transaction() as conn:
                self._existing(conn, template_id)
                self._require_write(conn, actor, template_id, set())
                deleted = self.templates().delete(conn, template_id, tag or None, digest or None)
        except TemplateConflict as error:
            raise Conflict(str(error)) from None
        if not deleted:
            raise NotFound(f"pipeline template {template_key(template_id, tag, digest)} not found")

    # -- helpers ------------------------------------------------------------------------------------------
    def _existing(self, conn: Connection, template_id: str) -> None:
        if not self.templates().store.exists(conn, template_id):
            raise NotFound(f"pipeline template {template_id} not found")

    def _require_write(self, conn: Connection, actor: Actor, template_id: str, scopes: set[str]) -> None:
        """WRITE on the applications using the template and on the existing ones its scopes (and those of its
        stored copies, each saved within `MAX_SCOPES`) name."""
        store = self.templates().store
        scopes = scopes | {s.lower() for t in store.copies(conn, template_id=template_id) for s in scopes_of(t)}
        using = {str(c.get("application")) for c in store.dependents(conn, template_id)}
        for application in sorted(using | scopes):
            attributes = self.access.applications.get(conn, application)
            if application in using or attributes is not None:
                self.access.check(actor, application, attributes, "WRITE")


def _one_version(tag: str | None, digest: str | None) -> None:
    if tag and digest:
        problem = "Cannot query pipeline by 'tag' and 'digest' simultaneously. Specify one of 'tag' or 'digest'."
        raise Invalid(problem, [("digest", problem)])


def _invalid(error: TemplateError, what: str) -> Invalid:
    return Invalid(f"{what}: {error}", [(e.field, e.problem) for e in error.errors])
