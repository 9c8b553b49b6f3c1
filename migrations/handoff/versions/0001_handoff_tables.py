"""Handoff tables as they were before the history existed (such databases are stamped here).

Revision ID: 0001
Revises:
Create Date: 2026-11-29 07:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_conversations",
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(64)),
        sa.Column("company", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False, server_default="bot"),
        sa.Column("assigned_to", sa.String(64)),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("last_text", sa.Text),
        sa.Column("last_kind", sa.String(16)),
        sa.Column("last_at", sa.Float),
        sa.Column("waiting_since", sa.Float),
        sa.Column("current_handoff_id", sa.Integer),
        sa.Column("waiting_notice_sent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("intent", sa.String(128)),
        sa.Column("confidence", sa.Float),
        sa.Column("next_action", sa.String(128)),
        sa.Column("author", sa.String(64)),
        sa.Column("event_key", sa.String(255), unique=True),
    )
    op.create_table(
        "handoff_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("requested_at", sa.Float, nullable=False),
        sa.Column("in_office_hours", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("taken_by", sa.String(64)),
        sa.Column("taken_at", sa.Float),
        sa.Column("first_reply_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("ended_by", sa.String(64)),
        sa.Column("end_kind", sa.String(16)),
    )
    op.create_table(
        "handoff_staff",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "handoff_staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "handoff_login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
    )
    op.create_table(
        "handoff_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("staff", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("sender_id", sa.String(255)),
        sa.Column("detail", sa.Text),
    )
    op.create_table(
        "handoff_task_status",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("item_id", sa.String(64), primary_key=True),
        sa.Column("done_at", sa.Float, nullable=False),
        sa.Column("done_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "handoff_broker_offsets",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )

    op.create_index("ix_handoff_messages_sender_id", "handoff_messages", ["sender_id"])
    op.create_index("ix_handoff_requests_sender_id", "handoff_requests", ["sender_id"])
    op.create_index("ix_handoff_login_attempts_username", "handoff_login_attempts", ["username"])
    op.create_index("ix_handoff_login_attempts_address", "handoff_login_attempts", ["address"])


def downgrade() -> None:
    op.drop_table("handoff_broker_offsets")
    op.drop_table("handoff_task_status")
    op.drop_table("handoff_audit_log")
    op.drop_table("handoff_login_attempts")
    op.drop_table("handoff_staff_sessions")
    op.drop_table("handoff_staff")
    op.drop_table("handoff_requests")
    op.drop_table("handoff_messages")
    op.drop_table("handoff_conversations")
