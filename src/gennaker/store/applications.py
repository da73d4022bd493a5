"""Applications: the unit of ownership. Stored as their attribute map plus indexed name and email."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.model.execution import now_ms
from gennaker.model.names import application_name_problem
from gennaker.store import codec
from gennaker.store.tables import applications, pipeline_config_versions, pipeline_configs


class ApplicationStore:
    def save(self, conn: Connection, name: str, attributes: dict[str, Any], user: str | None) -> dict[str, Any]:
        """Create or update; attributes given are merged over the stored ones."""
        name = name.lower()
        existing = self.get(conn, name)
        problem = application_name_problem(name) if existing is None else None
        if problem:  # every front end checks first; this keeps a missed path from storing a bad name
            raise ValueError(f"application name {name!r} {problem}")
        merged = {**(existing or {}), **attributes, "name": name}
        now = now_ms()
        merged.setdefault("createTs", now)
        merged["updateTs"] = now
        merged["lastModifiedBy"] = user
        row = {
            "email": merged.get("email"),
            "attributes": codec.dumps(merged),
            "updated_at": now,
            "updated_by": user,
        }
        if existing is None:
            conn.execute(applications.insert().values(name=name, created_at=now, **row))
        else:
            conn.execute(applications.update().where(applications.c.name == name).values(**row))
        return merged

    def get(self, conn: Connection, name: str) -> dict[str, Any] | None:
        text = conn.execute(sa.select(applications.c.attributes).where(applications.c.name == name.lower())).scalar()
        return codec.loads(text) if text is not None else None

    def all(self, conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(sa.select(applications.c.attributes).order_by(applications.c.name)).scalars()
        return [codec.loads(text) for text in rows]

    def delete(self, conn: Connection, name: str) -> bool:
        """Delete an application with its pipeline configs; executions are kept as history."""
        name = name.lower()
        ids = conn.execute(sa.select(pipeline_configs.c.id).where(pipeline_configs.c.application == name)).scalars()
        id_list = list(ids)
        if id_list:
            conn.execute(pipeline_config_versions.delete().where(pipeline_config_versions.c.pipeline_id.in_(id_list)))
            conn.execute(pipeline_configs.delete().where(pipeline_configs.c.id.in_(id_list)))
        return conn.execute(applications.delete().where(applications.c.name == name)).rowcount > 0
