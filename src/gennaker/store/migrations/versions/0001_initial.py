"""Initial schema: applications, pipeline configs with history, executions, stages, queue, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("email", sa.String(255)),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_table(
        "pipeline_configs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("application", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.UniqueConstraint("application", "name", name="uq_pipeline_configs_app_name"),
    )
    op.create_table(
        "pipeline_config_versions",
        sa.Column("pipeline_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255)),
    )
    op.create_table(
        "executions",
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
    )
    op.create_index("ix_executions_app_build", "executions", ["application", "build_time"])
    op.create_index("ix_executions_config_status", "executions", ["pipeline_config_id", "status"])
    op.create_index("ix_executions_status", "executions", ["status"])
    op.create_table(
        "stages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_stages_execution_id", "stages", ["execution_id"])
    op.create_table(
        "queue",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("external", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("deliver_at", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("claim_token", sa.String(40)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_queue_execution_id", "queue", ["execution_id"])
    op.create_index("ix_queue_deliver_at", "queue", ["deliver_at"])
    op.create_table(
        "pending_executions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("pipeline_config_id", sa.String(64), nullable=False),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_pending_executions_pipeline_config_id", "pending_executions", ["pipeline_config_id"])
    op.create_table(
        "execution_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("stage_id", sa.String(32)),
        sa.Column("task_id", sa.String(16)),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_execution_events_execution_id", "execution_events", ["execution_id"])


def downgrade() -> None:
    for table in (
        "execution_events",
        "pending_executions",
        "queue",
        "stages",
        "executions",
        "pipeline_config_versions",
        "pipeline_configs",
        "applications",
    ):
        op.drop_table(table)
