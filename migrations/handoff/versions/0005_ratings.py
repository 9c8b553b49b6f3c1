"""Ratings users give the service after a conversation with staff (五级: 非常满意 … 非常不满意).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("handoff_id", sa.Integer),
        sa.Column("staff", sa.String(64)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_handoff_ratings_sender_id", "handoff_ratings", ["sender_id"])
    op.create_index("ix_handoff_ratings_handoff_id", "handoff_ratings", ["handoff_id"], unique=True)
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.add_column(sa.Column("rated_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.drop_column("rated_at")
    op.drop_index("ix_handoff_ratings_handoff_id", "handoff_ratings")
    op.drop_index("ix_handoff_ratings_sender_id", "handoff_ratings")
    op.drop_table("handoff_ratings")
