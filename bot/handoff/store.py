"""The handoff store: one object per process over the handoff database.

One SQL database (SQLite under ``var/`` by default, PostgreSQL in production through
``HANDOFF_DATABASE_URL``) shared by the action server (which queues handoff requests
and reads the queue position) and the web gateway (which ingests broker events and
serves the console). Every write is one short transaction; every method blocks, so the
gateway calls them through ``asyncio.to_thread``.

Each responsibility lives in its own module, combined here:

- :mod:`bot.handoff.schema` — the tables and their Alembic history (``migrations/handoff``);
- :mod:`bot.handoff.lifecycle` — statuses, the one transition table, queue and take-over;
- :mod:`bot.handoff.transcripts` — messages, the conversation list, search;
- :mod:`bot.handoff.accounts` — staff accounts, passwords, sessions, login throttling;
- :mod:`bot.handoff.audit` — the audit log and done tasks;
- :mod:`bot.handoff.figures` — supervisor figures and unanswered questions;
- :mod:`bot.handoff.ratings` — the users' ratings after a conversation with staff;
- :mod:`bot.handoff.desk` — canned responses and labels;
- :mod:`bot.handoff.summary` — the handoff summary staff read first.
"""
from __future__ import annotations

import threading
import time
from typing import Dict, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.db import DirectStatement, create_engine
from bot.handoff.accounts import ROLES, AccountStore, LoginPolicy, StaffMember, hash_password, verify_password
from bot.handoff.audit import AuditStore
from bot.handoff.desk import DeskStore
from bot.handoff.figures import FigureStore
from bot.handoff.lifecycle import Action, HandoffConflict, HandoffError, LifecycleStore, Status
from bot.handoff.ratings import RatingStore
from bot.handoff.schema import broker_offsets, handoffs, upgrade_to_head
from bot.handoff.summary import SummaryStore
from bot.handoff.transcripts import ConversationFilter, TranscriptStore
from bot.settings import get_settings

STATUS_BOT = Status.BOT.value
STATUS_WAITING = Status.WAITING.value
STATUS_STAFF = Status.STAFF.value
STATUS_CLOSED = Status.CLOSED.value
STATUSES = tuple(s.value for s in Status)


#: Run after every batch of the console feed: built once.
_SAVE_POSITION = DirectStatement(
    broker_offsets.update()
    .where(broker_offsets.c.source == sa.bindparam("feed_source"))
    .values(position=sa.bindparam("position"))
)


class HandoffStore(
    TranscriptStore, LifecycleStore, AccountStore, AuditStore, FigureStore, RatingStore, DeskStore, SummaryStore
):
    """All reads and writes of the handoff state. Create one per process."""

    def __init__(
        self, url: str, timezone: str = "Asia/Shanghai", login_policy: Optional[LoginPolicy] = None
    ) -> None:
        self.url = url
        # BEGIN IMMEDIATE: the action server and the gateway both read-then-write here.
        self.engine = create_engine(url, begin="IMMEDIATE")
        self.timezone = ZoneInfo(timezone)
        self.login_policy = login_policy or LoginPolicy()
        upgrade_to_head(self.engine)

    def dispose(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()

    # --- how far the console followed Rasa's events -------------------------------------

    def broker_position(self, source: str) -> int:
        """The last broker row id ingested from ``source`` (0 when none)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(broker_offsets.c.position).where(broker_offsets.c.source == source)).first()
        return int(row.position) if row else 0

    def save_broker_position(self, source: str, position: int) -> None:
        """Remember how far ``source`` was ingested."""
        with self.transaction() as conn:
            if _SAVE_POSITION.rowcount(conn, {"feed_source": source, "position": position}) == 0:
                conn.execute(broker_offsets.insert().values(source=source, position=position))

    def queue_state(self, now: Optional[float] = None) -> Tuple[int, float]:
        """(conversations waiting for staff, seconds the longest-waiting one has waited)."""
        with self.engine.connect() as conn:
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(handoffs.c.requested_at)).where(handoffs.c.status == "waiting")
            ).one()
        return int(count), max(0.0, (now or time.time()) - oldest) if oldest is not None else 0.0


_shared_lock = threading.Lock()
_shared: Dict[str, HandoffStore] = {}


def shared_store() -> HandoffStore:
    """The process's store of the configured database (the action server and the
    Rasa process share one each; the gateway makes its own)."""
    settings = get_settings()
    with _shared_lock:
        store = _shared.get(settings.handoff_database_url)
        if store is None:
            store = HandoffStore(settings.handoff_database_url, settings.office_timezone)
            _shared[settings.handoff_database_url] = store
        return store


__all__ = [
    "HandoffStore",
    "shared_store",
    "StaffMember",
    "LoginPolicy",
    "ConversationFilter",
    "Status",
    "Action",
    "HandoffError",
    "HandoffConflict",
    "ROLES",
    "STATUSES",
    "STATUS_BOT",
    "STATUS_WAITING",
    "STATUS_STAFF",
    "STATUS_CLOSED",
    "hash_password",
    "verify_password",
]
