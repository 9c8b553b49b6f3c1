"""Rasa tracker store for the embedded profile: SQLite tuned for a chat server.

Rasa's SQL tracker store commits once per turn; on SQLite's default journal every
commit waits for the disk (fdatasync), inside Rasa's event loop, so every other user
waits too (bench/bench_reply_latency.py measured it). The project's SQLite set-up
(:mod:`bot.db`: write-ahead logging, ``synchronous=NORMAL``, busy timeout, owner-only
file) keeps the database consistent and lets the console read while Rasa writes; a
power cut may lose the last turns, never corrupt the file. The production profile uses
PostgreSQL instead.

After each committed turn the store rings the console feed's doorbell
(:mod:`bot.handoff.doorbell`), so the web gateway reads the new events at once instead
of polling the database.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db import prepare_sqlite_file, tune_sqlite
from bot.handoff.doorbell import SOCKET_NAME, ring
from bot.settings import get_settings


class SQLiteTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on SQLite in WAL mode (``type: bot.stores.SQLiteTrackerStore``)."""

    def __init__(self, dialect: str = "sqlite", db: str = "rasa.db", host: Optional[str] = None, **kwargs: Any) -> None:
        if dialect == "sqlite" and not host:
            prepare_sqlite_file(Path(db))  # owner-only before Rasa creates its tables
        super().__init__(dialect=dialect, db=db, host=host, **kwargs)
        tune_sqlite(self.engine)
        with self.engine.connect():
            pass  # switch the file to WAL now, before the console opens it
        self.doorbell = get_settings().var_dir / SOCKET_NAME

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        ring(self.doorbell)
