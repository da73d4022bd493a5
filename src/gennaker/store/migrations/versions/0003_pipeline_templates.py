"""Managed pipeline templates v2: one row per stored copy (`<id>`, `<id>:<tag>`, `<id>@sha256:<digest>`).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "pipeline_templates",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("template_id", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(32)),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_index("ix_pipeline_templates_template_id", "pipeline_templates", ["template_id"])


def downgrade() -> None:
    op.drop_table("pipeline_templates")
