"""Staff display names toward users; why the assistant could not answer a message.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 07:12:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_staff") as batch:
        batch.add_column(sa.Column("display_name", sa.String(32)))
    with op.batch_alter_table("handoff_messages") as batch:
        batch.add_column(sa.Column("unanswered", sa.String(16)))
    op.create_index("ix_handoff_messages_unanswered", "handoff_messages", ["unanswered"])


def downgrade() -> None:
    op.drop_index("ix_handoff_messages_unanswered", "handoff_messages")
    with op.batch_alter_table("handoff_messages") as batch:
        batch.drop_column("unanswered")
    with op.batch_alter_table("handoff_staff") as batch:
        batch.drop_column("display_name")
