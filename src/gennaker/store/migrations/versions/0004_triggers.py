"""Trigger events (one row per event a pipeline's trigger saw, unique by event key) and poller state.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "trigger_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(400), nullable=False, unique=True),
        sa.Column("pipeline_id", sa.String(64), nullable=False),
        sa.Column("application", sa.String(255), nullable=False),
        sa.Column("trigger_type", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("execution_id", sa.String(32)),
        sa.Column("details", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_trigger_events_pipeline_id", "trigger_events", ["pipeline_id"])
    op.create_table(
        "poller_state",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("state", sa.Text),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("poller_state")
    op.drop_table("trigger_events")
