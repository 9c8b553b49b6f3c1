"""Transactions of the handoff store, one per write or one for a whole batch.

Every write of the store is one short transaction of its own, except while a thread
holds a batch (:meth:`Transactions.batch`): then the writes that thread makes join the
batch's one transaction. The console feed stores a batch of Rasa's events that way —
one ``BEGIN``/``COMMIT`` and one pooled connection for the batch instead of one per
event.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from sqlalchemy.engine import Connection, Engine


class Transactions:
    """The handoff store's engine and its transactions (a base of every store part)."""

    engine: Engine
    _batches = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The batch's transaction when this thread holds one for this engine, else a
        new one (committed at the end unless an error escapes)."""
        batch = getattr(self._batches, "connection", None)
        if batch is not None and batch.engine is self.engine:
            yield batch
            return
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """The batch's connection when this thread holds one (it sees the batch's own
        writes), else a pooled connection for reading."""
        batch = getattr(self._batches, "connection", None)
        if batch is not None and batch.engine is self.engine:
            yield batch
            return
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def batch(self) -> Iterator[Connection]:
        """One transaction for every write this thread makes until the block ends:
        all of them are stored, or (an error escapes) none."""
        with self.engine.begin() as conn:
            self._batches.connection = conn
            try:
                yield conn
            finally:
                self._batches.connection = None
