"""The database schema. Alembic migrations under `migrations/` create exactly these tables."""

import sqlalchemy as sa

metadata = sa.MetaData()

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("email", sa.String(255)),
    sa.Column("attributes", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(255)),
)

pipeline_configs = sa.Table(
    "pipeline_configs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(255)),
    sa.UniqueConstraint("application", "name", name="uq_pipeline_configs_app_name"),
)

pipeline_config_versions = sa.Table(
    "pipeline_config_versions",
    metadata,
    sa.Column("pipeline_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(255)),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("pipeline_config_id", sa.String(64)),
    sa.Column("name", sa.String(255)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("build_time", sa.BigInteger, nullable=False),
    sa.Column("start_time", sa.BigInteger),
    sa.Column("end_time", sa.BigInteger),
    sa.Column("correlation_id", sa.String(255), unique=True),
    sa.Column("header", sa.Text, nullable=False),
    sa.Index("ix_executions_app_build", "application", "build_time"),
    sa.Index("ix_executions_config_status", "pipeline_config_id", "status"),
    sa.Index("ix_executions_status", "status"),
)

stages = sa.Table(
    "stages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("execution_id", sa.String(32), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
)

queue = sa.Table(
    "queue",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("external", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("deliver_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("claim_token", sa.String(40)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

pending_executions = sa.Table(
    "pending_executions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("pipeline_config_id", sa.String(64), nullable=False, index=True),
    sa.Column("execution_id", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

execution_events = sa.Table(
    "execution_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(32), nullable=False, index=True),
    sa.Column("stage_id", sa.String(32)),
    sa.Column("task_id", sa.String(16)),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20)),
    sa.Column("at", sa.BigInteger, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(255), primary_key=True),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("username", sa.String(255), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="api"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False, index=True),
    sa.Column("username", sa.String(255)),
    sa.Column("action", sa.String(255), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("remote", sa.String(255)),
)

# Managed pipeline templates v2, one row per stored copy as Front50 keeps them: `<id>`, `<id>:<tag>` and the
# immutable `<id>@sha256:<digest>` of every content ever saved.
pipeline_templates = sa.Table(
    "pipeline_templates",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("template_id", sa.String(255), nullable=False, index=True),
    sa.Column("tag", sa.String(32)),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(255)),
)

# One row per event a pipeline's trigger saw (fired or skipped); the unique event key makes an event start
# at most one execution however many scheduler processes see it (store/triggers.py).
trigger_events = sa.Table(
    "trigger_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("event_key", sa.String(400), nullable=False, unique=True),
    sa.Column("pipeline_id", sa.String(64), nullable=False, index=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("trigger_type", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("execution_id", sa.String(32)),
    sa.Column("details", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# Each poller's cursor (null before its first poll) and the lease that lets one process poll it at a time.
poller_state = sa.Table(
    "poller_state",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("state", sa.Text),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# The notification outbox (store/notifications.py): rows written in the engine transaction that records the
# event, sent later by the outbox loop under a lease; the idempotency key makes one event one notification.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(1000), nullable=False, unique=True),
    sa.Column("execution_id", sa.String(32), nullable=False, index=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.BigInteger),
    sa.Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
)

# Canary configs (store/canary.py): the newest version of each, in Kayenta's JSON, with what listing and
# name lookups need as columns; every saved version is also kept in `canary_config_versions`.
canary_configs = sa.Table(
    "canary_configs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, index=True),
    sa.Column("applications", sa.Text, nullable=False),
    sa.Column("judge_name", sa.String(256)),
    sa.Column("config_version", sa.String(256)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(255)),
)

canary_config_versions = sa.Table(
    "canary_config_versions",
    metadata,
    sa.Column("config_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(255)),
)

# One row per canary judgment (one `runCanary` run), with its result, series and config snapshot in `body`.
canary_judgments = sa.Table(
    "canary_judgments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("execution_id", sa.String(64), nullable=False, index=True),
    sa.Column("stage_id", sa.String(64), nullable=False),
    sa.Column("config_id", sa.String(64)),
    sa.Column("run_number", sa.Integer),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("body", sa.Text, nullable=False),
)
