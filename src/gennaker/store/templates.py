"""Managed pipeline templates v2, stored as Front50 stores them (echo-igor.md §6.4).

Every save writes up to three copies of the template: under `<id>` (no tag given) or `<id>:<tag>`, under
`<id>:latest` (unless the tag is `latest` already), and under `<id>@sha256:<digest>`, a copy that is never
rewritten: each content ever saved stays reachable by its digest. Configs name the copy they use with
`spinnaker://<id>[:<tag>|@sha256:<digest>]`. Checking templates is the caller's job (see
`gennaker.model.pipeline_templates`); this module keeps the copies and finds the pipelines using them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import now_ms
from gennaker.model.pipeline_templates import (
    NOT_DIGESTED,
    REFERENCE_PREFIX,
    SCHEMA,
    TemplateReference,
    references,
    scopes_of,
    template_digest,
    template_key,
    uses_copy,
)
from gennaker.store import codec
from gennaker.store.tables import pipeline_configs, pipeline_templates

# Fields a stored copy has beyond the template's content; `get` leaves out the copy's tag and digest.
COPY_FIELDS = ("tag", "digest")


class TemplateConflict(ValueError):
    """A template cannot be created or deleted in the current state (it exists, or pipelines use it)."""


def in_scopes(template: Mapping[str, Any], scopes: Collection[str]) -> bool:
    """Whether a template's `metadata.scopes` names one of `scopes` (case ignored); no scopes asked: all."""
    wanted = {s.lower() for s in scopes}
    return not wanted or any(s.lower() in wanted for s in scopes_of(template))


class TemplateStore:
    def save(
        self, conn: Connection, template: Mapping[str, Any], tag: str | None, user: str | None, *, create: bool
    ) -> dict[str, Any]:
        """Store a checked template under its keys; `create` refuses a key that exists. Returns the copy
        stored under `<id>` or `<id>:<tag>`."""
        template_id = str(template["id"])
        key = template_key(template_id, tag)
        if create and self._has(conn, key):
            raise TemplateConflict(f"A pipeline template with the id {key} already exists")
        content = {k: v for k, v in template.items() if k not in NOT_DIGESTED}
        digest = template_digest(content)
        now = now_ms()
        stored = {**content, "lastModified": now, "lastModifiedBy": user, "digest": digest}
        main = {**stored, "tag": tag} if tag else stored
        self._put(conn, key, template_id, tag, main, now, user)
        if tag != "latest":
            latest = {**stored, "tag": "latest"}
            self._put(conn, template_key(template_id, "latest"), template_id, "latest", latest, now, user)
        digest_key = template_key(template_id, digest=digest)
        if not self._has(conn, digest_key):
            self._put(conn, digest_key, template_id, None, stored, now, user)
        return main

    def _put(
        self,
        conn: Connection,
        key: str,
        template_id: str,
        tag: str | None,
        document: dict[str, Any],
        now: int,
        user: str | None,
    ) -> None:
        values = {
            "template_id": template_id,
            "tag": tag,
            "digest": document["digest"],
            "template": codec.dumps(document),
            "updated_at": now,
            "updated_by": user,
        }
        if not self._has(conn, key):
            conn.execute(pipeline_templates.insert().values(key=key, **values))
        else:
            conn.execute(pipeline_templates.update().where(pipeline_templates.c.key == key).values(**values))

    def _has(self, conn: Connection, key: str) -> bool:
        """Whether a copy is stored under `key` (without reading and decoding it)."""
        query = sa.select(pipeline_templates.c.key).where(pipeline_templates.c.key == key)
        return conn.execute(query).first() is not None

    def _row(self, conn: Connection, key: str) -> dict[str, Any] | None:
        text = conn.execute(sa.select(pipeline_templates.c.template).where(pipeline_templates.c.key == key)).scalar()
        return codec.loads(text) if text is not None else None

    def get(
        self, conn: Connection, template_id: str, tag: str | None = None, digest: str | None = None
    ) -> dict[str, Any] | None:
        """One copy, without the copy's own `tag` and `digest`."""
        found = self._row(conn, template_key(template_id, tag, digest))
        return {k: v for k, v in found.items() if k not in COPY_FIELDS} if found is not None else None

    def resolve(self, conn: Connection, reference: TemplateReference) -> dict[str, Any] | None:
        """The copy a config's reference names."""
        return self.get(conn, reference.id, reference.tag, reference.digest)

    def exists(self, conn: Connection, template_id: str) -> bool:
        """Whether any copy of the template is stored."""
        query = sa.select(pipeline_templates.c.key).where(pipeline_templates.c.template_id == template_id).limit(1)
        return conn.execute(query).first() is not None

    def copies(
        self, conn: Connection, scopes: Collection[str] = (), template_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every stored copy (each with its `tag` and `digest`) of the templates in `scopes` (of the one
        template `template_id`, if given)."""
        query = sa.select(pipeline_templates.c.template)
        if template_id is not None:
            query = query.where(pipeline_templates.c.template_id == template_id)
        rows = conn.execute(query.order_by(pipeline_templates.c.template_id, pipeline_templates.c.key)).scalars()
        return [t for t in (codec.loads(text) for text in rows) if in_scopes(t, scopes)]

    def versions(self, conn: Connection, scopes: Collection[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """The v2 templates' copies by template id."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for template in self.copies(conn, scopes):
            if template.get("schema") == SCHEMA:
                grouped.setdefault(str(template.get("id")), []).append(template)
        return grouped

    def delete(self, conn: Connection, template_id: str, tag: str | None = None, digest: str | None = None) -> bool:
        """Delete one copy; the others stay (delete them by tag or digest)."""
        key = template_key(template_id, tag, digest)
        return conn.execute(pipeline_templates.delete().where(pipeline_templates.c.key == key)).rowcount > 0

    def dependents(self, conn: Connection, template_id: str, key: str | None = None) -> list[dict[str, Any]]:
        """Pipeline configs whose template reference names the template (or, with `key`, uses that copy)."""
        needle = REFERENCE_PREFIX + template_id
        rows = conn.execute(
            sa.select(pipeline_configs.c.config)
            .where(pipeline_configs.c.config.contains(needle, autoescape=True))
            .order_by(pipeline_configs.c.application, pipeline_configs.c.name)
        ).scalars()
        found = []
        for text in rows:
            config = codec.loads(text)
            reference = references(config)
            if reference is not None and uses_copy(reference, key or template_id):
                found.append(config)
        return found
