"""Canary configs, in Kayenta's JSON with every saved version kept, and canary judgments (kayenta.md §1, §3.3).

A config is stored whole as the newest version (`canary_configs`) and as one row per version
(`canary_config_versions`), so what a judgment was made with can always be read back. Its name, applications,
judge and `configVersion` are columns too, so listing and finding a config by name never parse the bodies.
A judgment is one `runCanary` run: its result, series and config snapshot are kept as saved; saving one id
again replaces it, so a task that runs twice after a crash stores one judgment. Checking configs and
permissions is the service's job (`gennaker.service.canary`); the store only refuses configs over budget.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gennaker.store import codec, dialects
from gennaker.store.tables import canary_config_versions, canary_configs, canary_judgments

MAX_CONFIG_BYTES = 1024 * 1024
MAX_METRICS = 500
# Set by the server on every save: whatever a client sends for them is replaced.
SERVER_FIELDS = ("id", "createdTimestamp", "updatedTimestamp", "createdTimestampIso", "updatedTimestampIso", "version")


class CanaryConfigTooLarge(ValueError):
    """A canary config over the budget of one config (`field` is the part that is too large)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_budget(config: Mapping[str, Any]) -> None:
    """Refuse a config of more than MAX_METRICS metrics or MAX_CONFIG_BYTES of JSON: every judgment and every
    page that shows the config would pay for it."""
    metrics = config.get("metrics")
    if isinstance(metrics, list) and len(metrics) > MAX_METRICS:
        raise CanaryConfigTooLarge(
            "metrics", f"has {len(metrics):,} metrics, more than the {MAX_METRICS} a canary config may have"
        )
    size = len(codec.dumps(config).encode())
    if size > MAX_CONFIG_BYTES:
        raise CanaryConfigTooLarge(
            "body", f"the canary config is {size:,} bytes of JSON, more than the {MAX_CONFIG_BYTES:,} allowed"
        )


def iso(millis: int) -> str:
    """Milliseconds since the epoch as Kayenta's `…TimestampIso` (UTC, millisecond precision)."""
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _applications(config: Mapping[str, Any]) -> list[str]:
    return [str(a).lower() for a in config.get("applications") or []]


def _judge_name(config: Mapping[str, Any]) -> str | None:
    judge = config.get("judge")
    name = judge.get("name") if isinstance(judge, Mapping) else None
    return str(name) if name else None


class CanaryStore:
    # -- configs -------------------------------------------------------------------------------------------
    def list_configs(self, conn: Connection, application: str | None = None) -> list[dict[str, Any]]:
        """Summaries of every config (of those shared with `application`, if given), by name."""
        query = sa.select(
            canary_configs.c.id,
            canary_configs.c.name,
            canary_configs.c.applications,
            canary_configs.c.judge_name,
            canary_configs.c.config_version,
            canary_configs.c.version,
            canary_configs.c.updated_at,
            canary_configs.c.updated_by,
        ).order_by(canary_configs.c.name, canary_configs.c.id)
        wanted = application.lower() if application else None
        if wanted is not None:  # a cheap filter in the database; the list is checked below
            query = query.where(canary_configs.c.applications.contains(codec.dumps(wanted), autoescape=True))
        summaries = []
        for row in conn.execute(query):
            applications = codec.loads(row.applications)
            if wanted is not None and wanted not in applications:
                continue
            summaries.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "applications": applications,
                    "judgeName": row.judge_name,
                    "configVersion": row.config_version,
                    "version": row.version,
                    "updatedTimestamp": row.updated_at,
                    "updatedTimestampIso": iso(row.updated_at),
                    "updatedBy": row.updated_by,
                }
            )
        return summaries

    def get_config(self, conn: Connection, config_id: str) -> dict[str, Any] | None:
        """The newest version: Kayenta's JSON with `id`, the timestamps and Gennaker's integer `version`."""
        text = conn.execute(sa.select(canary_configs.c.body).where(canary_configs.c.id == config_id)).scalar()
        return codec.loads(text) if text is not None else None

    def get_config_version(self, conn: Connection, config_id: str, version: int) -> dict[str, Any] | None:
        text = conn.execute(
            sa.select(canary_config_versions.c.body).where(
                (canary_config_versions.c.config_id == config_id) & (canary_config_versions.c.version == version)
            )
        ).scalar()
        return codec.loads(text) if text is not None else None

    def lock_name(self, conn: Connection, name: str) -> None:
        """Serialise saves of configs named `name` until the transaction ends, so that two saves cannot both
        find the name free for an application (PostgreSQL; SQLite runs one write transaction at a time)."""
        dialects.advisory_lock(conn, f"canary-config:{name}")

    def config_id_by_name(self, conn: Connection, name: str, application: str) -> str | None:
        """The id of a config named `name` shared with `application` (the newest one, should there be two)."""
        wanted = application.lower()
        rows = conn.execute(
            sa.select(canary_configs.c.id, canary_configs.c.applications)
            .where(canary_configs.c.name == name)
            .order_by(canary_configs.c.updated_at.desc(), canary_configs.c.id)
        )
        return next((str(r.id) for r in rows if wanted in codec.loads(r.applications)), None)

    def save_config(self, conn: Connection, config: dict[str, Any], user: str | None, now_ms: int) -> dict[str, Any]:
        """Create the config (under its `id`, or a new uuid4) or, when its id is stored, save it as the next
        version; the versions before stay readable. Returns the config as stored."""
        check_budget(config)
        given = config.get("id")
        current = None
        if given:
            current = conn.execute(
                sa.select(canary_configs.c.version, canary_configs.c.created_at).where(canary_configs.c.id == given)
            ).first()
        config_id = str(given or uuid.uuid4())
        version = current.version + 1 if current else 1
        created = current.created_at if current else now_ms
        stored = {
            "id": config_id,
            **{k: v for k, v in config.items() if k not in SERVER_FIELDS},
            "createdTimestamp": created,
            "updatedTimestamp": now_ms,
            "createdTimestampIso": iso(created),
            "updatedTimestampIso": iso(now_ms),
            "version": version,
        }
        body = codec.dumps(stored)
        config_version = config.get("configVersion")
        values = {
            "name": str(config.get("name") or ""),
            "applications": codec.dumps(_applications(config)),
            "judge_name": _judge_name(config),
            "config_version": str(config_version) if config_version is not None else None,
            "version": version,
            "body": body,
            "updated_at": now_ms,
            "updated_by": user,
        }
        if current:
            conn.execute(canary_configs.update().where(canary_configs.c.id == config_id).values(**values))
        else:
            conn.execute(canary_configs.insert().values(id=config_id, created_at=now_ms, **values))
        conn.execute(
            canary_config_versions.insert().values(
                config_id=config_id, version=version, body=body, updated_at=now_ms, updated_by=user
            )
        )
        return stored

    def delete_config(self, conn: Connection, config_id: str) -> bool:
        """Delete the config and its versions (judgments keep the snapshot they were made with)."""
        conn.execute(canary_config_versions.delete().where(canary_config_versions.c.config_id == config_id))
        return conn.execute(canary_configs.delete().where(canary_configs.c.id == config_id)).rowcount > 0

    # -- judgments -----------------------------------------------------------------------------------------
    def save_judgment(self, conn: Connection, judgment: dict[str, Any]) -> None:
        """Store a judgment (`id`, `application`, `executionId`, `stageId`, `canaryConfigId`, `runNumber`,
        `createdAt`, `status`, `score`, and the rest kept in the body); the same id again replaces it."""
        run_number = judgment.get("runNumber")
        score = judgment.get("score")
        values = {
            "application": str(judgment["application"]),
            "execution_id": str(judgment["executionId"]),
            "stage_id": str(judgment["stageId"]),
            "config_id": str(judgment["canaryConfigId"]) if judgment.get("canaryConfigId") else None,
            "run_number": int(run_number) if run_number is not None else None,
            "created_at": int(judgment["createdAt"]),
            "status": str(judgment["status"]),
            "score": float(score) if score is not None else None,
            "body": codec.dumps(judgment),
        }
        conn.execute(
            dialects.insert(conn, canary_judgments)
            .values(id=str(judgment["id"]), **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )

    def get_judgment(self, conn: Connection, judgment_id: str) -> dict[str, Any] | None:
        text = conn.execute(sa.select(canary_judgments.c.body).where(canary_judgments.c.id == judgment_id)).scalar()
        return codec.loads(text) if text is not None else None

    def judgments(self, conn: Connection, execution_id: str, stage_id: str | None = None) -> list[dict[str, Any]]:
        """An execution's judgments (of one `runCanary` stage, if given), by run number, then time."""
        query = sa.select(canary_judgments.c.body).where(canary_judgments.c.execution_id == execution_id)
        if stage_id is not None:
            query = query.where(canary_judgments.c.stage_id == stage_id)
        query = query.order_by(
            canary_judgments.c.run_number.asc().nulls_last(), canary_judgments.c.created_at, canary_judgments.c.id
        )
        return [codec.loads(text) for text in conn.execute(query).scalars()]
