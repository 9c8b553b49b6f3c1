"""The team a conversation waits for (assignment rules and transfers).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 07:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.add_column(sa.Column("team", sa.String(32)))
    with op.batch_alter_table("handoff_requests") as batch:
        batch.add_column(sa.Column("team", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("handoff_requests") as batch:
        batch.drop_column("team")
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.drop_column("team")
