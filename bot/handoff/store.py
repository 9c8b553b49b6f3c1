"""The handoff store: conversations as staff see them, handoffs, staff, audit log.

One SQL database (SQLite under ``var/`` by default, PostgreSQL in production through
``HANDOFF_DATABASE_URL``) shared by the action server (which records handoff requests
and reads the queue position) and the web gateway (which ingests broker events and
serves the console). Every write is one short transaction.

Conversation statuses, as the console shows them:

- ``bot``: with the assistant;
- ``waiting``: the user asked for a person, nobody has taken it yet;
- ``staff``: a staff member holds the conversation (the assistant is paused);
- ``closed``: staff closed it (a new user message reopens it with the assistant).
"""
from __future__ import annotations

import hashlib
import secrets
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.db import create_engine
from bot.stats import percentile

STATUS_BOT = "bot"
STATUS_WAITING = "waiting"
STATUS_STAFF = "staff"
STATUS_CLOSED = "closed"
STATUSES = (STATUS_BOT, STATUS_WAITING, STATUS_STAFF, STATUS_CLOSED)

ROLES = ("agent", "supervisor", "admin")

#: Actions whose running means the assistant did not understand the user.
FAILURE_ACTIONS = frozenset({"action_fallback", "action_default_fallback", "utter_default"})
FAILURE_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})

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


class HandoffError(ValueError):
    """A handoff operation that does not fit the conversation's state."""


@dataclass(frozen=True)
class StaffMember:
    """A console account (without its password hash)."""

    id: int
    username: str
    role: str

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


# --- passwords -------------------------------------------------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash (``scrypt$n$r$p$salt$hash``), stdlib only."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        salt=salt.hex(), digest=digest.hex(), **_SCRYPT
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return secrets.compare_digest(candidate.hex(), digest)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _insert_ignoring_duplicates(conn: sa.engine.Connection, table: sa.Table, **values: Any) -> None:
    """INSERT that does nothing when the primary key exists (a concurrent insert by
    the other process is not an error)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {conn.dialect.name}")
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())


class HandoffStore:
    """All reads and writes of the handoff state. Create one per process."""

    def __init__(self, url: str, timezone: str = "Asia/Shanghai") -> None:
        self.url = url
        # BEGIN IMMEDIATE: the action server and the gateway both read-then-write here.
        self.engine = create_engine(url, begin="IMMEDIATE")
        self.timezone = ZoneInfo(timezone)
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    # --- conversations ----------------------------------------------------------------

    @staticmethod
    def _ensure_conversation(
        conn: sa.engine.Connection, sender_id: str, at: float, channel: Optional[str] = None
    ) -> Dict[str, Any]:
        row = conn.execute(
            sa.select(conversations).where(conversations.c.sender_id == sender_id)
        ).mappings().first()
        if row is None:
            _insert_ignoring_duplicates(
                conn,
                conversations,
                sender_id=sender_id,
                channel=channel,
                status=STATUS_BOT,
                paused=False,
                started_at=at,
                waiting_notice_sent=False,
                message_count=0,
            )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row)

    def get_conversation(self, sender_id: str) -> Optional[Dict[str, Any]]:
        """One conversation's summary row, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row) if row else None

    def list_conversations(
        self, status: Optional[str] = None, limit: int = 200
    ) -> List[Dict[str, Any]]:
        """Conversations, those waiting for staff first, then the most recent."""
        query = sa.select(conversations)
        if status:
            query = query.where(conversations.c.status == status)
        waiting_first = sa.case((conversations.c.status == STATUS_WAITING, 0), else_=1)
        query = query.order_by(waiting_first, conversations.c.last_at.desc().nullslast()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def transcript(self, sender_id: str) -> List[Dict[str, Any]]:
        """Every stored message of a conversation (notes included), oldest first."""
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(messages)
                    .where(messages.c.sender_id == sender_id)
                    .order_by(messages.c.at, messages.c.id)
                ).mappings()
            ]

    def handoff_history(self, sender_id: str) -> List[Dict[str, Any]]:
        """A conversation's handoff requests, oldest first."""
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(handoffs).where(handoffs.c.sender_id == sender_id).order_by(handoffs.c.id)
                ).mappings()
            ]

    # --- ingesting broker events (called by bot.handoff.ingest) ----------------------

    def record_message(
        self,
        sender_id: str,
        kind: str,
        text: str,
        at: float,
        *,
        event_key: Optional[str] = None,
        channel: Optional[str] = None,
        intent: Optional[str] = None,
        confidence: Optional[float] = None,
        author: Optional[str] = None,
    ) -> Optional[Dict[str, Any]]:
        """Store a message and update the conversation; returns the conversation row,
        or None when this event was stored before (a redelivery)."""
        with self.engine.begin() as conn:
            if event_key and conn.execute(
                sa.select(messages.c.id).where(messages.c.event_key == event_key)
            ).first():
                return None
            conversation = self._ensure_conversation(conn, sender_id, at, channel)
            conn.execute(
                messages.insert().values(
                    sender_id=sender_id,
                    at=at,
                    kind=kind,
                    text=text,
                    intent=intent,
                    confidence=confidence,
                    author=author,
                    event_key=event_key,
                )
            )
            changes: Dict[str, Any] = {
                "last_text": text,
                "last_kind": kind,
                "last_at": at,
                "message_count": conversations.c.message_count + 1,
            }
            if channel and kind == "user":
                changes["channel"] = channel
            if kind == "user":
                if conversation["status"] == STATUS_CLOSED:
                    # A company writing again after staff closed: back to the assistant.
                    # The console resumes the assistant before it records a close or a
                    # hand-back, so a ``paused`` still set here only means the resume
                    # event has not been ingested yet: the assistant answers, nobody
                    # holds the conversation, and it is not waiting in the queue.
                    changes["status"] = STATUS_BOT
                if conversation["status"] in (STATUS_WAITING, STATUS_STAFF) and not conversation[
                    "waiting_since"
                ]:
                    changes["waiting_since"] = at
            if kind == "staff":
                changes["waiting_since"] = None
            conn.execute(
                conversations.update().where(conversations.c.sender_id == sender_id).values(**changes)
            )
            if kind == "staff" and conversation["current_handoff_id"]:
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == conversation["current_handoff_id"])
                    .where(handoffs.c.first_reply_at.is_(None))
                    .values(first_reply_at=at)
                )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row)

    def record_next_action(self, sender_id: str, action_name: str) -> None:
        """Remember the assistant's first action after the latest user message."""
        with self.engine.begin() as conn:
            latest = conn.execute(
                sa.select(messages.c.id, messages.c.next_action)
                .where(messages.c.sender_id == sender_id, messages.c.kind == "user")
                .order_by(messages.c.at.desc(), messages.c.id.desc())
                .limit(1)
            ).first()
            if latest and latest.next_action is None:
                conn.execute(
                    messages.update().where(messages.c.id == latest.id).values(next_action=action_name)
                )

    def set_paused(self, sender_id: str, paused: bool, at: float) -> Dict[str, Any]:
        """Follow Rasa's pause/resume events."""
        with self.engine.begin() as conn:
            self._ensure_conversation(conn, sender_id, at)
            conn.execute(
                conversations.update().where(conversations.c.sender_id == sender_id).values(paused=paused)
            )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row)

    def set_company(self, sender_id: str, company: str, at: float) -> None:
        """The company's name, once the assistant learns it (a slot)."""
        with self.engine.begin() as conn:
            self._ensure_conversation(conn, sender_id, at)
            conn.execute(
                conversations.update()
                .where(conversations.c.sender_id == sender_id)
                .values(company=company[:255])
            )

    def claim_waiting_notice(self, sender_id: str) -> bool:
        """True exactly once per handoff: whether to send the short waiting notice."""
        with self.engine.begin() as conn:
            result = conn.execute(
                conversations.update()
                .where(
                    conversations.c.sender_id == sender_id,
                    conversations.c.status.in_((STATUS_WAITING, STATUS_STAFF)),
                    conversations.c.waiting_notice_sent.is_(False),
                )
                .values(waiting_notice_sent=True)
            )
        return result.rowcount == 1

    # --- handoff lifecycle --------------------------------------------------------------

    def request_handoff(
        self,
        sender_id: str,
        reason: str,
        *,
        in_office_hours: bool,
        channel: Optional[str] = None,
        at: Optional[float] = None,
    ) -> Tuple[Dict[str, Any], int]:
        """Put a conversation in the queue (once: asking again keeps its place).

        Returns the handoff row and the conversation's 1-based place in the queue.
        """
        at = at or time.time()
        with self.engine.begin() as conn:
            conversation = self._ensure_conversation(conn, sender_id, at, channel)
            handoff = None
            if conversation["current_handoff_id"]:
                handoff = conn.execute(
                    sa.select(handoffs).where(
                        handoffs.c.id == conversation["current_handoff_id"],
                        handoffs.c.status != "ended",
                    )
                ).mappings().first()
            if handoff is None:
                handoff_id = conn.execute(
                    handoffs.insert().values(
                        sender_id=sender_id,
                        reason=reason,
                        requested_at=at,
                        in_office_hours=in_office_hours,
                        status="waiting",
                    )
                ).inserted_primary_key[0]
                conn.execute(
                    conversations.update()
                    .where(conversations.c.sender_id == sender_id)
                    .values(
                        status=STATUS_WAITING,
                        current_handoff_id=handoff_id,
                        waiting_since=at,
                        waiting_notice_sent=False,
                        assigned_to=None,
                    )
                )
                handoff = conn.execute(
                    sa.select(handoffs).where(handoffs.c.id == handoff_id)
                ).mappings().first()
            position = self._queue_position(conn, dict(handoff))
        return dict(handoff), position

    @staticmethod
    def _queue_position(conn: sa.engine.Connection, handoff: Dict[str, Any]) -> int:
        if handoff["status"] != "waiting":
            return 0
        ahead = conn.execute(
            sa.select(sa.func.count())
            .select_from(handoffs)
            .where(handoffs.c.status == "waiting", handoffs.c.id < handoff["id"])
        ).scalar_one()
        return int(ahead) + 1

    def waiting_count(self) -> int:
        """How many conversations wait for a staff member."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(handoffs).where(handoffs.c.status == "waiting")
                ).scalar_one()
            )

    def take_over(self, sender_id: str, staff_name: str) -> Dict[str, Any]:
        """A staff member takes the conversation (from the queue or unasked)."""
        now = time.time()
        with self.engine.begin() as conn:
            conversation = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
            if conversation is None:
                raise HandoffError("no such conversation")
            if conversation["status"] == STATUS_STAFF and conversation["assigned_to"] not in (
                None,
                staff_name,
            ):
                raise HandoffError(f"{conversation['assigned_to']} already holds this conversation")
            handoff_id = conversation["current_handoff_id"]
            open_handoff = handoff_id and conn.execute(
                sa.select(handoffs.c.id).where(handoffs.c.id == handoff_id, handoffs.c.status != "ended")
            ).first()
            if not open_handoff:
                handoff_id = conn.execute(
                    handoffs.insert().values(
                        sender_id=sender_id,
                        reason="staff_initiated",
                        requested_at=now,
                        in_office_hours=True,
                        status="active",
                        taken_by=staff_name,
                        taken_at=now,
                    )
                ).inserted_primary_key[0]
            else:
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == handoff_id)
                    .values(status="active", taken_by=staff_name, taken_at=now)
                )
            conn.execute(
                conversations.update()
                .where(conversations.c.sender_id == sender_id)
                .values(status=STATUS_STAFF, assigned_to=staff_name, current_handoff_id=handoff_id)
            )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row)

    def end_handoff(self, sender_id: str, staff_name: str, *, close: bool) -> Dict[str, Any]:
        """Hand the conversation back to the assistant, or close it."""
        now = time.time()
        with self.engine.begin() as conn:
            conversation = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
            if conversation is None:
                raise HandoffError("no such conversation")
            if conversation["current_handoff_id"]:
                conn.execute(
                    handoffs.update()
                    .where(handoffs.c.id == conversation["current_handoff_id"], handoffs.c.status != "ended")
                    .values(
                        status="ended",
                        ended_at=now,
                        ended_by=staff_name,
                        end_kind="closed" if close else "handed_back",
                    )
                )
            conn.execute(
                conversations.update()
                .where(conversations.c.sender_id == sender_id)
                .values(
                    status=STATUS_CLOSED if close else STATUS_BOT,
                    assigned_to=None,
                    current_handoff_id=None,
                    waiting_since=None,
                    waiting_notice_sent=False,
                )
            )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.sender_id == sender_id)
            ).mappings().first()
        return dict(row)

    def add_note(self, sender_id: str, staff_name: str, text: str) -> Dict[str, Any]:
        """A private note: staff see it in the transcript, the user never does."""
        now = time.time()
        with self.engine.begin() as conn:
            if not conn.execute(
                sa.select(conversations.c.sender_id).where(conversations.c.sender_id == sender_id)
            ).first():
                raise HandoffError("no such conversation")
            note_id = conn.execute(
                messages.insert().values(sender_id=sender_id, at=now, kind="note", text=text, author=staff_name)
            ).inserted_primary_key[0]
            return dict(conn.execute(sa.select(messages).where(messages.c.id == note_id)).mappings().first())

    # --- search, tasks, figures ---------------------------------------------------------

    def search(self, query: str, limit: int = 100) -> List[Dict[str, Any]]:
        """Messages containing ``query`` (user, assistant and staff text; no notes)."""
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    messages.c.sender_id,
                    messages.c.at,
                    messages.c.kind,
                    messages.c.text,
                    conversations.c.channel,
                    conversations.c.company,
                    conversations.c.status,
                )
                .select_from(messages.join(conversations, conversations.c.sender_id == messages.c.sender_id))
                .where(messages.c.text.like(f"%{escaped}%", escape="\\"), messages.c.kind != "note")
                .order_by(messages.c.at.desc())
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def done_tasks(self, kind: str) -> Dict[str, Dict[str, Any]]:
        """Which items of a task kind staff marked done: item id → {done_at, done_by}."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(task_status).where(task_status.c.kind == kind)).mappings()
            return {r["item_id"]: dict(r) for r in rows}

    def mark_task_done(self, kind: str, item_id: str, staff_name: str) -> None:
        """Mark one task done (idempotent: the first who marked it is kept)."""
        with self.engine.begin() as conn:
            _insert_ignoring_duplicates(
                conn, task_status, kind=kind, item_id=item_id, done_at=time.time(), done_by=staff_name
            )

    def figures(self, days: int = 30, now: Optional[float] = None) -> Dict[str, Any]:
        """What a supervisor runs the service by, over the last ``days`` days."""
        now = now or time.time()
        since = now - days * 86400
        with self.engine.connect() as conn:
            started = [
                r.started_at
                for r in conn.execute(
                    sa.select(conversations.c.started_at).where(
                        conversations.c.started_at >= since, conversations.c.message_count > 0
                    )
                )
            ]
            handoff_rows = conn.execute(
                sa.select(handoffs).where(handoffs.c.requested_at >= since)
            ).mappings().all()
            failures = conn.execute(
                sa.select(messages.c.text, sa.func.count().label("times"))
                .where(
                    messages.c.kind == "user",
                    messages.c.at >= since,
                    sa.or_(
                        messages.c.next_action.in_(FAILURE_ACTIONS),
                        messages.c.intent.in_(FAILURE_INTENTS),
                    ),
                )
                .group_by(messages.c.text)
                .order_by(sa.func.count().desc(), messages.c.text)
                .limit(20)
            ).all()
            busy_notices = conn.execute(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "service_busy", audit_log.c.at >= since)
            ).scalar_one()
        per_day: Dict[str, int] = {}
        for at in started:
            day = datetime.fromtimestamp(at, self.timezone).strftime("%Y-%m-%d")
            per_day[day] = per_day.get(day, 0) + 1
        handed = {h["sender_id"] for h in handoff_rows if h["reason"] != "staff_initiated"}
        total = len(started)
        waits = [h["first_reply_at"] - h["requested_at"] for h in handoff_rows if h["first_reply_at"]]
        return {
            "days": days,
            "conversations": total,
            "conversations_per_day": sorted(per_day.items()),
            "handoff_requests": len([h for h in handoff_rows if h["reason"] != "staff_initiated"]),
            "handoff_rate": (len(handed) / total) if total else None,
            "containment": (1 - len(handed) / total) if total else None,
            "handoff_reasons": _count(h["reason"] for h in handoff_rows),
            "first_reply_median_s": statistics.median(waits) if waits else None,
            "first_reply_p90_s": percentile(waits, 90) if waits else None,
            "waiting_now": sum(1 for h in handoff_rows if h["status"] == "waiting"),
            "top_failed_questions": [{"text": r.text, "times": r.times} for r in failures],
            # Users told "service busy" because the action server was down (bot.channels.service).
            "service_busy_notices": busy_notices,
        }

    # --- staff accounts, sessions, login throttling, audit ---------------------------

    def add_staff(self, username: str, password: str, role: str) -> StaffMember:
        """Create a console account. Raises ValueError for a bad role, a weak
        password or a name that exists."""
        username = username.strip()
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not username or len(username) > 64:
            raise ValueError("the user name must be 1–64 characters")
        if len(password) < 10:
            raise ValueError("the password must have at least 10 characters")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(staff.c.id).where(staff.c.username == username)).first():
                raise ValueError(f"staff member {username!r} exists already")
            staff_id = conn.execute(
                staff.insert().values(
                    username=username,
                    password_hash=hash_password(password),
                    role=role,
                    created_at=time.time(),
                    active=True,
                )
            ).inserted_primary_key[0]
        return StaffMember(int(staff_id), username, role)

    def set_staff_password(self, username: str, password: str) -> None:
        """Replace a staff member's password and end their sessions."""
        if len(password) < 10:
            raise ValueError("the password must have at least 10 characters")
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(staff.c.id).where(staff.c.username == username)).first()
            if row is None:
                raise ValueError(f"no staff member {username!r}")
            conn.execute(staff.update().where(staff.c.id == row.id).values(password_hash=hash_password(password)))
            conn.execute(staff_sessions.delete().where(staff_sessions.c.staff_id == row.id))

    def list_staff(self) -> List[StaffMember]:
        """All active accounts."""
        with self.engine.connect() as conn:
            return [
                StaffMember(r.id, r.username, r.role)
                for r in conn.execute(sa.select(staff).where(staff.c.active.is_(True)).order_by(staff.c.username))
            ]

    def recent_failures(self, username: str, address: str, window_s: float = 900) -> int:
        """Failed logins in the window for this account or from this address,
        whichever is higher (attackers vary one or the other)."""
        since = time.time() - window_s
        with self.engine.connect() as conn:
            by_user = conn.execute(
                sa.select(sa.func.count()).select_from(login_attempts).where(
                    login_attempts.c.username == username,
                    login_attempts.c.success.is_(False),
                    login_attempts.c.at >= since,
                )
            ).scalar_one()
            by_address = conn.execute(
                sa.select(sa.func.count()).select_from(login_attempts).where(
                    login_attempts.c.address == address,
                    login_attempts.c.success.is_(False),
                    login_attempts.c.at >= since,
                )
            ).scalar_one()
        return int(max(by_user, by_address))

    def check_login(self, username: str, password: str, address: str) -> Optional[StaffMember]:
        """Verify a password and record the attempt."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(staff).where(staff.c.username == username, staff.c.active.is_(True))
            ).mappings().first()
        if row is not None:
            ok = verify_password(password, row["password_hash"])
        else:
            verify_password(password, hash_password("timing-equaliser"))  # same cost either way
            ok = False
        with self.engine.begin() as conn:
            conn.execute(
                login_attempts.insert().values(
                    username=username[:64], address=address[:64], at=time.time(), success=ok
                )
            )
        return StaffMember(row["id"], row["username"], row["role"]) if ok else None

    def create_session(self, member: StaffMember) -> Tuple[str, str]:
        """Open a session; returns (session token for the cookie, CSRF token).
        Only a hash of the session token is stored."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                staff_sessions.insert().values(
                    token_hash=_token_hash(token), staff_id=member.id, csrf_token=csrf, created_at=now, last_seen=now
                )
            )
        return token, csrf

    def resolve_session(
        self, token: str, idle_s: float, max_age_s: float, touch: bool = True
    ) -> Optional[Tuple[StaffMember, str]]:
        """The staff member and CSRF token of a live session, or None when it is
        unknown or expired (expired sessions are deleted). ``touch`` counts this as
        activity; the console's own background refreshes do not, so an unattended
        screen still logs out."""
        now = time.time()
        key = _token_hash(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(staff_sessions, staff.c.username, staff.c.role, staff.c.active)
                .select_from(staff_sessions.join(staff, staff.c.id == staff_sessions.c.staff_id))
                .where(staff_sessions.c.token_hash == key)
            ).mappings().first()
            if row is None:
                return None
            if not row["active"] or now - row["last_seen"] > idle_s or now - row["created_at"] > max_age_s:
                conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == key))
                return None
            if touch and now - row["last_seen"] > 5:
                conn.execute(
                    staff_sessions.update().where(staff_sessions.c.token_hash == key).values(last_seen=now)
                )
        return StaffMember(row["staff_id"], row["username"], row["role"]), row["csrf_token"]

    def end_session(self, token: str) -> None:
        """Log out."""
        with self.engine.begin() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == _token_hash(token)))

    def audit(self, staff_name: str, action: str, sender_id: Optional[str] = None, detail: str = "") -> None:
        """Record a staff action (take over, reply, note, hand back, close, export…)."""
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=time.time(), staff=staff_name, action=action, sender_id=sender_id, detail=detail[:2000]
                )
            )

    def audit_entries(self, limit: int = 200, sender_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """The newest audit entries first."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if sender_id:
            query = query.where(audit_log.c.sender_id == sender_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # --- broker position -----------------------------------------------------------------

    def broker_position(self, source: str) -> int:
        """The last broker row id ingested from ``source`` (0 when none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(broker_offsets.c.position).where(broker_offsets.c.source == source)
            ).first()
        return int(row.position) if row else 0

    def save_broker_position(self, source: str, position: int) -> None:
        """Remember how far ``source`` was ingested."""
        with self.engine.begin() as conn:
            updated = conn.execute(
                broker_offsets.update().where(broker_offsets.c.source == source).values(position=position)
            )
            if updated.rowcount == 0:
                conn.execute(broker_offsets.insert().values(source=source, position=position))


def _count(values: Iterable[str]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
