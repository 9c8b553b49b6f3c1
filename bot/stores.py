"""Rasa tracker store for the embedded profile: SQLite tuned for a chat server.

Rasa's SQL tracker store commits once per turn; on SQLite's default journal every
commit waits for the disk (fdatasync), inside Rasa's event loop, so every other user
waits too (bench/bench_reply_latency.py measured it). Write-ahead logging with
``synchronous=NORMAL`` keeps the database consistent and lets the console read while
Rasa writes; a power cut may lose the last turns, never corrupt the file. The
production profile uses PostgreSQL instead.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class SQLiteTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on SQLite in WAL mode (``type: bot.stores.SQLiteTrackerStore``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sa.event.listen(self.engine, "connect", _tune_sqlite)
        with self.engine.connect():
            pass  # switch the file to WAL now, before the console opens it
