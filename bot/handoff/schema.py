"""The handoff database's tables (one SQLAlchemy ``MetaData``) and its migrations.

The schema has its own Alembic history in ``migrations/handoff/`` (version table
``handoff_alembic_version``, so it can share a PostgreSQL database with the platform
data). :func:`upgrade_to_head` brings any database to the newest revision; a database
created before the history existed (tables, no version table) is stamped at the first
revision, which is exactly that schema, and migrated from there.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations" / "handoff"
VERSION_TABLE = "handoff_alembic_version"
#: The revision whose schema databases made before the migrations already have.
BASELINE_REVISION = "0001"
#: Serialises concurrent upgrades on PostgreSQL (the action server and the gateway start together).
_PG_LOCK_ID = 0x68616E64

metadata = sa.MetaData()

conversations = sa.Table(
    "handoff_conversations",
    metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("channel", sa.String(64)),
    sa.Column("company", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False, default="bot"),
    sa.Column("assigned_to", sa.String(64)),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_text", sa.Text),
    sa.Column("last_kind", sa.String(16)),
    sa.Column("last_at", sa.Float),
    #: When the user last wrote while waiting for / held by staff (waiting time).
    sa.Column("waiting_since", sa.Float),
    sa.Column("current_handoff_id", sa.Integer),
    sa.Column("waiting_notice_sent", sa.Boolean, nullable=False, default=False),
    sa.Column("message_count", sa.Integer, nullable=False, default=0),
    #: The team it waits for or is held by (assignment rules, transfers).
    sa.Column("team", sa.String(32)),
    #: When the user last rated the service (their next message may be a comment).
    sa.Column("rated_at", sa.Float),
    #: User messages since staff last replied or opened the conversation.
    sa.Column("unread", sa.Integer, nullable=False, default=0, server_default="0"),
    #: The slots the assistant filled that staff care about (JSON object; handoff summary).
    sa.Column("slots", sa.Text),
)

messages = sa.Table(
    "handoff_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    #: user / bot / staff / note / system
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False, default=""),
    sa.Column("intent", sa.String(128)),
    sa.Column("confidence", sa.Float),
    #: For user messages: the first action the assistant ran in answer.
    sa.Column("next_action", sa.String(128)),
    sa.Column("author", sa.String(64)),
    #: Identifies the broker event, so a redelivered event is stored once.
    sa.Column("event_key", sa.String(255), unique=True),
    #: For user messages the assistant could not answer: why (see bot.handoff.unanswered).
    sa.Column("unanswered", sa.String(16), index=True),
)

handoffs = sa.Table(
    "handoff_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.Column("in_office_hours", sa.Boolean, nullable=False, default=True),
    #: waiting / active / ended
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("taken_by", sa.String(64)),
    sa.Column("taken_at", sa.Float),
    sa.Column("first_reply_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("ended_by", sa.String(64)),
    sa.Column("end_kind", sa.String(16)),
    sa.Column("team", sa.String(32)),
)

staff = sa.Table(
    "handoff_staff",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    #: What users see as the staff member's name ("小王"); the login name otherwise stays internal.
    sa.Column("display_name", sa.String(32)),
    #: Comma-separated teams (desks such as 四川 / 重庆, topics such as 政策 / 供需 / 专家).
    sa.Column("teams", sa.String(255), nullable=False, default="", server_default=""),
)

staff_sessions = sa.Table(
    "handoff_staff_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("staff_id", sa.Integer, nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

login_attempts = sa.Table(
    "handoff_login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("address", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
)

audit_log = sa.Table(
    "handoff_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("staff", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("detail", sa.Text),
)

task_status = sa.Table(
    "handoff_task_status",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("item_id", sa.String(64), primary_key=True),
    sa.Column("done_at", sa.Float, nullable=False),
    sa.Column("done_by", sa.String(64), nullable=False),
)

canned_responses = sa.Table(
    "handoff_canned_responses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    #: What staff type after "/" to pick it.
    sa.Column("shortcut", sa.String(32), nullable=False, unique=True),
    #: May hold variables such as {company} (see bot.handoff.canned).
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

labels = sa.Table(
    "handoff_labels",
    metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("label", sa.String(32), primary_key=True, index=True),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
)

ratings = sa.Table(
    "handoff_ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    #: The handoff rated (one rating each; a second one replaces nothing).
    sa.Column("handoff_id", sa.Integer, index=True, unique=True),
    #: Who held the conversation at its end.
    sa.Column("staff", sa.String(64)),
    #: 5 非常满意, 4 满意, 3 一般, 2 不满意, 1 非常不满意.
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
)

broker_offsets = sa.Table(
    "handoff_broker_offsets",
    metadata,
    sa.Column("source", sa.String(255), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)


def alembic_config():
    """The Alembic configuration of the handoff history."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Create or migrate the handoff schema to the newest revision (idempotent; safe
    when two processes start at once)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        config.attributes["connection"] = connection
        names = set(sa.inspect(connection).get_table_names())
        if "handoff_conversations" in names and VERSION_TABLE not in names:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, "head")
