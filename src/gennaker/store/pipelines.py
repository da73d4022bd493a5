"""Pipeline configs with full version history: every save is a new version; any version can be restored."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import now_ms
from gennaker.store import codec
from gennaker.store.tables import pipeline_config_versions, pipeline_configs


class PipelineStore:
    def save(self, conn: Connection, config: dict[str, Any], user: str | None) -> dict[str, Any]:
        """Store a validated config as the newest version. Keeps its id, or the id of the same-named one."""
        application, name = config["application"].lower(), config["name"]
        current = conn.execute(
            sa.select(pipeline_configs.c.id, pipeline_configs.c.version).where(
                (pipeline_configs.c.application == application) & (pipeline_configs.c.name == name)
            )
        ).first()
        if current is None and config.get("id"):
            current = conn.execute(
                sa.select(pipeline_configs.c.id, pipeline_configs.c.version).where(
                    pipeline_configs.c.id == config["id"]
                )
            ).first()
        pipeline_id = current.id if current else (config.get("id") or str(uuid.uuid4()))
        version = current.version + 1 if current else 1
        now = now_ms()
        stored = {
            **config,
            "id": pipeline_id,
            "application": application,
            "updateTs": str(now),
            "lastModifiedBy": user,
        }
        text = codec.dumps(stored)
        values = {
            "application": application,
            "name": name,
            "config": text,
            "version": version,
            "updated_at": now,
            "updated_by": user,
        }
        if current:
            conn.execute(pipeline_configs.update().where(pipeline_configs.c.id == pipeline_id).values(**values))
        else:
            conn.execute(pipeline_configs.insert().values(id=pipeline_id, **values))
        conn.execute(
            pipeline_config_versions.insert().values(
                pipeline_id=pipeline_id, version=version, config=text, created_at=now, created_by=user
            )
        )
        return stored

    def get(self, conn: Connection, pipeline_id: str) -> dict[str, Any] | None:
        text = conn.execute(sa.select(pipeline_configs.c.config).where(pipeline_configs.c.id == pipeline_id)).scalar()
        return codec.loads(text) if text is not None else None

    def get_by_name(self, conn: Connection, application: str, name: str) -> dict[str, Any] | None:
        text = conn.execute(
            sa.select(pipeline_configs.c.config).where(
                (pipeline_configs.c.application == application.lower()) & (pipeline_configs.c.name == name)
            )
        ).scalar()
        return codec.loads(text) if text is not None else None

    def for_application(self, conn: Connection, application: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            sa.select(pipeline_configs.c.config)
            .where(pipeline_configs.c.application == application.lower())
            .order_by(pipeline_configs.c.name)
        ).scalars()
        return [codec.loads(text) for text in rows]

    def all(self, conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(sa.select(pipeline_configs.c.config).order_by(pipeline_configs.c.application)).scalars()
        return [codec.loads(text) for text in rows]

    def mentioning(self, conn: Connection, text: str) -> list[dict[str, Any]]:
        """The configs whose JSON holds `text` (e.g. a pipeline id its `pipeline` triggers wait for): a cheap
        filter in the database, so finding dependents does not parse every config."""
        stored = codec.dumps(text)[1:-1]  # as the text appears inside the stored JSON (escapes included)
        escaped = stored.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = conn.execute(
            sa.select(pipeline_configs.c.config).where(pipeline_configs.c.config.like(f"%{escaped}%", escape="\\"))
        ).scalars()
        return [codec.loads(row) for row in rows]

    def delete(self, conn: Connection, application: str, name: str) -> bool:
        config = self.get_by_name(conn, application, name)
        if config is None:
            return False
        conn.execute(pipeline_config_versions.delete().where(pipeline_config_versions.c.pipeline_id == config["id"]))
        conn.execute(pipeline_configs.delete().where(pipeline_configs.c.id == config["id"]))
        return True

    def history(self, conn: Connection, pipeline_id: str) -> list[dict[str, Any]]:
        """Every stored version, newest first: `{version, createdAt, createdBy, config}`."""
        rows = conn.execute(
            sa.select(pipeline_config_versions)
            .where(pipeline_config_versions.c.pipeline_id == pipeline_id)
            .order_by(pipeline_config_versions.c.version.desc())
        )
        return [
            {
                "version": r.version,
                "createdAt": r.created_at,
                "createdBy": r.created_by,
                "config": codec.loads(r.config),
            }
            for r in rows
        ]

    def restore(self, conn: Connection, pipeline_id: str, version: int, user: str | None) -> dict[str, Any] | None:
        """Save an older version again as the newest one (history is never rewritten)."""
        text = conn.execute(
            sa.select(pipeline_config_versions.c.config).where(
                (pipeline_config_versions.c.pipeline_id == pipeline_id)
                & (pipeline_config_versions.c.version == version)
            )
        ).scalar()
        if text is None:
            return None
        return self.save(conn, codec.loads(text), user)
