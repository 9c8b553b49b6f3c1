"""Follow Rasa's events: an SQL ``events`` table (the embedded profile's tracker store,
or a SQL event broker's) or a RabbitMQ queue (the production profile's pika broker).

Both sources hand each event (the JSON Rasa publishes, with ``sender_id``) to one
async handler, in order, and only move on once the handler returned:

- :class:`SqlEventSource` polls ``events`` for rows newer than the last one ingested
  (the position is kept in the handoff store, so a restart neither skips nor repeats);
- :class:`RabbitEventSource` consumes the durable queue Rasa's ``pika`` broker
  publishes to and acknowledges each message after handling (a crash redelivers; the
  store ignores events it has seen).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict

import sqlalchemy as sa

from bot.db import create_engine
from bot.handoff.store import HandoffStore

logger = logging.getLogger(__name__)

EventHandler = Callable[[Dict[str, Any]], Awaitable[None]]


class EventSource:
    """Something that delivers Rasa broker events to a handler until cancelled."""

    description = "event source"

    async def run(self, handle: EventHandler) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class SqlEventSource(EventSource):
    """Polls an ``events`` table: Rasa's SQL tracker store's (embedded profile) or its
    SQL event broker's. Both have ``id``, ``sender_id`` and the event as JSON ``data``
    (the tracker store's JSON lacks the sender, which the row supplies)."""

    def __init__(
        self, url: str, store: HandoffStore, poll_interval_s: float = 0.1, batch_size: int = 500
    ) -> None:
        self.url = url
        self.description = f"SQL event broker {sa.engine.make_url(url).render_as_string(hide_password=True)}"
        self._store = store
        # Rasa's database: read only, each poll one consistent snapshot.
        self._engine = create_engine(url, read_only=True, begin="DEFERRED")
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._events = sa.Table(
            "events",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("sender_id", sa.String(255)),
            sa.Column("data", sa.Text),
        )

    def _fetch(self, after: int) -> list:
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(self._events.c.id, self._events.c.sender_id, self._events.c.data)
                .where(self._events.c.id > after)
                .order_by(self._events.c.id)
                .limit(self._batch_size)
            ).all()

    async def run(self, handle: EventHandler) -> None:
        position = self._store.broker_position(self.url)
        warned = False
        try:
            while True:
                try:
                    rows = await asyncio.to_thread(self._fetch, position)
                    warned = False
                except sa.exc.OperationalError as error:
                    # Rasa creates the table when it starts; until then there is nothing.
                    if not warned:
                        logger.info("waiting for the event table (%s)", error.orig)
                        warned = True
                    rows = []
                for row_id, sender_id, data in rows:
                    try:
                        event = json.loads(data)
                    except (TypeError, ValueError):
                        logger.warning("event %s is not JSON; skipped", row_id)
                    else:
                        event.setdefault("sender_id", sender_id)
                        await handle(event)
                    position = row_id
                    self._store.save_broker_position(self.url, position)
                if len(rows) < self._batch_size:
                    await asyncio.sleep(self._poll_interval_s)
        finally:
            self._engine.dispose()


class RabbitEventSource(EventSource):
    """Consumes the RabbitMQ queue that Rasa's ``pika`` event broker publishes to."""

    def __init__(self, url: str, queue: str) -> None:
        self.url = url
        self.queue = queue
        self.description = f"RabbitMQ queue {queue!r}"

    async def run(self, handle: EventHandler) -> None:
        import aio_pika  # the production profile's dependency (installed with Rasa)

        connection = await aio_pika.connect_robust(self.url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=50)
            # Same declaration as Rasa's broker (durable), so whichever starts first wins.
            queue = await channel.declare_queue(self.queue, durable=True)
            async with queue.iterator() as messages:
                async for message in messages:
                    try:
                        event = json.loads(message.body)
                    except ValueError:
                        logger.warning("message on %s is not JSON; dropped", self.queue)
                        await message.ack()
                        continue
                    try:
                        await handle(event)
                    except Exception:
                        # Keep it for a later try rather than lose a user's message.
                        await message.nack(requeue=True)
                        raise
                    await message.ack()
        finally:
            await connection.close()


def event_source_for(url: str, queue: str, store: HandoffStore) -> EventSource:
    """The source configured by ``EVENT_BROKER_URL`` (amqp:// → RabbitMQ, else SQL)."""
    if url.startswith(("amqp://", "amqps://")):
        return RabbitEventSource(url, queue)
    return SqlEventSource(url, store)


async def follow(source: EventSource, handle: EventHandler, retry_s: float = 2.0) -> None:
    """Run ``source`` for ever, restarting it after errors (e.g. broker restarts)."""
    while True:
        try:
            await source.run(handle)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("following %s failed; retrying in %.0f s", source.description, retry_s)
        await asyncio.sleep(retry_s)


__all__ = [
    "EventSource",
    "SqlEventSource",
    "RabbitEventSource",
    "event_source_for",
    "follow",
    "EventHandler",
]
