"""User messages staff have not read yet; the slots the assistant filled (handoff summary).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 07:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.add_column(sa.Column("unread", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("slots", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.drop_column("slots")
        batch.drop_column("unread")
