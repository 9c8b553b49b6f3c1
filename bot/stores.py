"""Rasa tracker stores: Rasa's SQL store without its per-turn re-reading, and its SQLite
variant for the embedded profile.

Rasa's SQL tracker store reads every event of the session and rebuilds the tracker on
every message, counts the stored events again on every save, and with an event broker
reads the whole tracker a second time to find what to publish: each turn costs more as
a conversation grows. :class:`CachingSQLTrackerStore` keeps the trackers of recent
conversations in memory and, on each message, only checks with one indexed query that
nobody else (another Rasa replica, a restart) wrote to the conversation since; a save
writes and publishes exactly the events added since the last one. Anything unexpected
(another writer, a tracker changed but not saved, a new session) falls back to Rasa's
own reading. The database stays the only truth: nothing is kept that is not stored.

:class:`SQLiteTrackerStore` (embedded profile) tunes SQLite for a chat server: Rasa
commits once per turn, and on SQLite's default journal every commit waits for the disk
(fdatasync) inside Rasa's event loop; the project's SQLite set-up (:mod:`bot.db`:
write-ahead logging, ``synchronous=NORMAL``, busy timeout, owner-only file) keeps the
database consistent and lets the console read while Rasa writes; a power cut may lose
the last turns, never corrupt the file. After each committed turn it rings the console
feed's doorbell (:mod:`bot.handoff.doorbell`), so the web gateway reads the new events
at once instead of polling the database.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, MutableMapping, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.cache import bounded_cache
from bot.db import DirectStatement, create_engine, prepare_sqlite_file
from bot.handoff.doorbell import SOCKET_NAME, ring
from bot.settings import get_settings

#: Conversations whose trackers stay in memory (least recently active dropped first).
CACHED_CONVERSATIONS = 500


@dataclass
class _Known:
    """A tracker as stored: how many of its events, and the id of the last stored row.
    ``reusable`` is False for a tracker that Rasa's own reading would build differently
    (one that started a session in memory): it is not handed out again, but a second
    save of the same object in the same turn still writes only its new events."""

    tracker: DialogueStateTracker
    stored_events: int
    last_row_id: int
    reusable: bool = True


_EVENTS = SQLTrackerStore.SQLEvent.__table__
#: The latest stored event of a conversation, and an event stored: run directly on the
#: driver (bot.db.DirectStatement), as the store does for every turn.
_LAST_ROW_ID = DirectStatement(
    sa.select(sa.func.max(_EVENTS.c.id).label("last")).where(_EVENTS.c.sender_id == sa.bindparam("sender_id"))
)
_INSERT_EVENT = DirectStatement(
    _EVENTS.insert().values(
        {
            name: sa.bindparam(name)
            for name in ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
        }
    )
)


class CachingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store that does not re-read a conversation it has in memory
    (``type: bot.stores.CachingSQLTrackerStore``; see the module docstring)."""

    def __init__(self, *args: Any, cached_conversations: int = CACHED_CONVERSATIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: MutableMapping[str, _Known] = bounded_cache(cached_conversations)

    def _last_row_id(self, sender_id: str) -> Optional[int]:
        with self.engine.connect() as conn:
            row = _LAST_ROW_ID.first(conn, {"sender_id": sender_id})
        return None if row is None or row["last"] is None else int(row["last"])

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        last_row_id = self._last_row_id(sender_id)
        known = self._known.get(sender_id)
        if (
            known is not None
            and known.reusable
            and known.last_row_id == last_row_id
            and len(known.tracker.events) == known.stored_events
        ):
            return known.tracker
        self._known.pop(sender_id, None)
        tracker = await super().retrieve(sender_id)
        if tracker is not None and last_row_id is not None:
            # Written meanwhile? Then the id will not match next time: read again.
            self._known[sender_id] = _Known(tracker, len(tracker.events), last_row_id)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        known = self._known.get(sender_id)
        if known is None or known.tracker is not tracker or len(tracker.events) < known.stored_events:
            self._known.pop(sender_id, None)
            await super().save(tracker)
            # Rasa saves a turn twice (the user's message once understood, then the reply:
            # bot.rasa_server). Rasa's own save counts the stored events of the session, which
            # for a tracker that started its session in memory is one short (the session-start
            # action comes before the session): the second save must not count again.
            last_row_id = self._last_row_id(sender_id)
            if last_row_id is not None:
                self._known[sender_id] = _Known(tracker, len(tracker.events), last_row_id, reusable=False)
            return
        new_events = list(itertools.islice(tracker.events, known.stored_events, None))
        if not new_events:
            return
        with self.engine.begin() as conn:
            for event in new_events:
                data = event.as_dict()
                # This store's own last row: a row another replica stores meanwhile must
                # still tell the next turn that the conversation changed.
                stored_id = _INSERT_EVENT.inserted_id(
                    conn,
                    {
                        "sender_id": sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    },
                )
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new_events, sender_id)
        known.stored_events = len(tracker.events)
        known.last_row_id = stored_id
        if any(isinstance(event, SessionStarted) for event in new_events):
            # A new session: Rasa's trackers hold the latest session only; read it so next time.
            known.reusable = False


class SQLiteTrackerStore(CachingSQLTrackerStore):
    """The caching SQL tracker store on SQLite in WAL mode, ringing the console feed
    after each turn (``type: bot.stores.SQLiteTrackerStore``)."""

    engine: sa.engine.Engine

    def __init__(self, dialect: str = "sqlite", db: str = "rasa.db", host: Optional[str] = None, **kwargs: Any) -> None:
        if dialect == "sqlite" and not host:
            prepare_sqlite_file(Path(db))  # owner-only before Rasa creates its tables
        super().__init__(dialect=dialect, db=db, host=host, **kwargs)
        if dialect == "sqlite":
            # The project's SQLite engine (WAL, pooled connections) instead of Rasa's.
            self.engine.dispose()
            self.engine = create_engine(self.engine.url)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        with self.engine.connect():
            pass  # switch the file to WAL now, before the console opens it
        self.doorbell = get_settings().var_dir / SOCKET_NAME

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        ring(self.doorbell)
