"""The handoff tables exactly as ``metadata.create_all`` made them before the Alembic history
(a database of that time must be stamped and migrated, keeping its data)."""
import sqlalchemy as sa

STATUS_BOT = "bot"

metadata = sa.MetaData()

conversations = sa.Table(
    "handoff_conversations",
    metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("channel", sa.String(64)),
    sa.Column("company", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False, default=STATUS_BOT),
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

broker_offsets = sa.Table(
    "handoff_broker_offsets",
    metadata,
    sa.Column("source", sa.String(255), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)
