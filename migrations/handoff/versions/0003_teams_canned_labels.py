"""Staff teams, canned responses, conversation labels.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:25:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_staff") as batch:
        batch.add_column(sa.Column("teams", sa.String(255), nullable=False, server_default=""))
    op.create_table(
        "handoff_canned_responses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("shortcut", sa.String(32), nullable=False, unique=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "handoff_labels",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("label", sa.String(32), primary_key=True),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    op.create_index("ix_handoff_labels_label", "handoff_labels", ["label"])


def downgrade() -> None:
    op.drop_index("ix_handoff_labels_label", "handoff_labels")
    op.drop_table("handoff_labels")
    op.drop_table("handoff_canned_responses")
    with op.batch_alter_table("handoff_staff") as batch:
        batch.drop_column("teams")
