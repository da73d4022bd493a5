"""Canary configs with every saved version, and canary judgments (one per `runCanary` run).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "canary_configs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("applications", sa.Text, nullable=False),
        sa.Column("judge_name", sa.String(256)),
        sa.Column("config_version", sa.String(256)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_index("ix_canary_configs_name", "canary_configs", ["name"])
    op.create_table(
        "canary_config_versions",
        sa.Column("config_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_table(
        "canary_judgments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("application", sa.String(255), nullable=False),
        sa.Column("execution_id", sa.String(64), nullable=False),
        sa.Column("stage_id", sa.String(64), nullable=False),
        sa.Column("config_id", sa.String(64)),
        sa.Column("run_number", sa.Integer),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_canary_judgments_execution_id", "canary_judgments", ["execution_id"])


def downgrade() -> None:
    op.drop_table("canary_judgments")
    op.drop_table("canary_config_versions")
    op.drop_table("canary_configs")
