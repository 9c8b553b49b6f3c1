"""The console feed: follow every event Rasa stored, in order, losing none.

The console reads the tracker store's own ``events`` table (:class:`TrackerEventFeed`):
the store holds every event Rasa keeps, so a broker outage or a killed Rasa server
cannot make the console miss what the tracker store has. It reads only when something
changed, in batches:

- the embedded profile's Rasa server rings a doorbell after each committed turn
  (:mod:`bot.handoff.doorbell`, a unix datagram socket in the var dir);
- the production profile's Rasa publishes every event to RabbitMQ; the console
  consumes that queue only as a wake-up (:class:`RabbitWakeup`);
- whatever rang or not, the feed looks on its own every ``check_s`` seconds, so a lost
  ring or a broker outage delays the console by at most that.

Each batch (up to ``batch_size`` rows newer than the saved position) goes to the handler
as a list; the handler stores it and only then the position moves on, so a restart
neither skips nor repeats (the handoff store also ignores an event it has seen). Only
the event types the console uses are read; the JSON of the others is never parsed.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Collection, Dict, List, Optional, Tuple

import sqlalchemy as sa

from bot.db import create_engine
from bot.handoff.doorbell import Doorbell
from bot.handoff.store import HandoffStore

logger = logging.getLogger(__name__)

class EventBatch(List[Dict[str, Any]]):
    """One batch of events (Rasa's JSON plus ``sender_id``) and the feed's position after
    it. A handler that stores ``position`` for ``source`` in the same transaction as the
    events (:meth:`bot.handoff.store.HandoffStore.save_broker_position`) sets
    ``position_saved``; otherwise the feed saves it after the handler returned."""

    def __init__(self, events: List[Dict[str, Any]], source: str, position: int) -> None:
        super().__init__(events)
        self.source = source
        self.position = position
        self.position_saved = False


#: Receives one batch of events (an :class:`EventBatch`), stores it, returns when it is
#: stored.
BatchHandler = Callable[[List[Dict[str, Any]]], Awaitable[None]]

#: Event types the console shows or follows (messages, the action that answered,
#: handoff pauses, the company slot). Session starts, loops, listens … are skipped.
FOLLOWED_TYPES = ("user", "bot", "action", "pause", "resume", "restart", "slot")
#: Actions that are bookkeeping, not an answer to the user's message.
BOOKKEEPING_ACTIONS = ("action_listen", "action_session_start")
#: After a wake-up the feed waits this long (seconds) before it reads: Rasa rings after
#: every turn, and under load the turns that end meanwhile join the same batch (one read,
#: one transaction and one trip to a worker thread for several turns instead of each).
#: REST users' messages are shown as they arrive (bot.web); the rest of what staff see
#: (replies, other channels' messages, handoffs) comes up to this much later.
GATHER_S = 0.05

#: A missing row id (a transaction still committing on another Rasa replica) is waited
#: for this long before the feed moves past it (ids of rolled-back rows never come).
GAP_WAIT_S = 10.0
#: Larger holes are not transactions in flight (old history, a shared sequence): skipped.
MAX_AWAITED_GAP = 1000


class Wakeup:
    """Tells the feed that something new may be stored."""

    description = "no wake-up (the feed looks every few seconds)"

    async def open(self) -> None:
        pass

    async def wait(self, timeout: float) -> bool:
        """True when woken, False after ``timeout`` seconds."""
        await asyncio.sleep(timeout)
        return False

    async def close(self) -> None:
        pass


class DoorbellWakeup(Wakeup):
    """The Rasa server on this machine rings after each turn it stored."""

    def __init__(self, path: Path) -> None:
        self.doorbell = Doorbell(path)
        self.description = f"doorbell {path}"
        self._open = False

    async def open(self) -> None:
        self._open = self.doorbell.open()

    async def wait(self, timeout: float) -> bool:
        if not self._open:
            return await super().wait(timeout)
        return await self.doorbell.wait(timeout)

    async def close(self) -> None:
        self.doorbell.close()


class RabbitWakeup(Wakeup):
    """Every message on the queue Rasa's ``pika`` broker publishes to is a wake-up;
    its content is not needed (the tracker store has the event). Reconnects on its own;
    while RabbitMQ is away the feed still looks every few seconds."""

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.queue = url, queue
        self.description = f"RabbitMQ queue {queue!r}"
        self._rung = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._consume_forever())

    async def _consume_forever(self) -> None:
        import aio_pika  # the production profile's dependency (installed with Rasa)

        while True:
            try:
                connection = await aio_pika.connect(self.url, timeout=10)
                try:
                    channel = await connection.channel()
                    await channel.set_qos(prefetch_count=200)
                    # Same declaration as Rasa's broker (durable), so whichever starts first wins.
                    queue = await channel.declare_queue(self.queue, durable=True)
                    async with queue.iterator(no_ack=True) as messages:
                        async for _ in messages:
                            self._rung.set()
                finally:
                    await connection.close()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any broker failure: the feed goes on polling
                logger.warning("RabbitMQ wake-ups unavailable (%s); the console looks every few seconds", error)
                self._rung.set()  # look now: events may have been missed meanwhile
                await asyncio.sleep(5)

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._rung.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._rung.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class FeedState:
    """What ``/healthz/feed`` reports about the feed."""

    running: bool = False
    position: int = 0
    last_batch_at: Optional[float] = None
    batches: int = 0
    events: int = 0
    #: Events the console could not take in (kept for inspection, see the ingestor).
    set_aside: int = 0
    errors: int = 0
    last_error: str = ""
    lag: Dict[str, Any] = field(default_factory=dict)


class TrackerEventFeed:
    """Follows an ``events`` table (see the module docstring)."""

    def __init__(
        self,
        url: str,
        store: HandoffStore,
        wakeup: Optional[Wakeup] = None,
        check_s: float = 2.0,
        batch_size: int = 500,
        gather_s: float = GATHER_S,
        followed_slots: Optional[Collection[str]] = None,
    ) -> None:
        self.url = url
        self.description = f"events of {sa.engine.make_url(url).render_as_string(hide_password=True)}"
        self.store = store
        self.wakeup = wakeup or Wakeup()
        self.check_s = check_s
        self.gather_s = gather_s
        self.batch_size = batch_size
        #: How each followed slot's name appears in a stored event (None: every slot).
        self._slot_names = None if followed_slots is None else tuple(json.dumps(name) for name in followed_slots)
        self.state = FeedState()
        # Rasa's database: read only, each read one consistent snapshot.
        self._engine = create_engine(url, read_only=True, begin="DEFERRED")
        self._table: Optional[sa.Table] = None
        self._fetch_query: Optional[Tuple[sa.Table, Any]] = None
        self._gaps: Dict[int, float] = {}  # missing id -> when first noticed
        self._done_after_gap: set = set()  # ids ingested beyond the saved position

    # --- reading --------------------------------------------------------------------
    def _events_table(self, conn: sa.engine.Connection) -> sa.Table:
        if self._table is None:
            # The tracker store's table has ``type_name`` and ``action_name`` (read
            # selectively); a SQL event broker's has only ``id``, ``sender_id``, ``data``.
            self._table = sa.Table("events", sa.MetaData(), autoload_with=conn)
        return self._table

    def _followed(self, table: sa.Table) -> Any:
        if "type_name" not in table.c:
            return sa.true()
        followed = table.c.type_name.in_(FOLLOWED_TYPES)
        if "action_name" in table.c:
            followed = sa.and_(
                followed,
                sa.or_(table.c.type_name != "action", table.c.action_name.notin_(BOOKKEEPING_ACTIONS)),
            )
        return followed

    def _fetch(self, after: int) -> List[Tuple[int, Optional[str], Optional[str]]]:
        """Rows after ``after``: (id, sender_id, data), data None for event types the
        console does not use and for slots it does not follow (read for their id only)."""
        with self._engine.connect() as conn:
            return [
                (int(row[0]), row[1], row[2] if row[3] != "slot" or self._slot_followed(row[2]) else None)
                for row in conn.execute(self._fetch_statement(conn), {"after": after})
            ]

    def _fetch_statement(self, conn: sa.engine.Connection) -> Any:
        """The batch query, built once per table (building it costs more than running it)."""
        table = self._events_table(conn)
        if self._fetch_query is None or self._fetch_query[0] is not table:
            data = sa.case((self._followed(table), table.c.data), else_=sa.null())
            kind = table.c.type_name if "type_name" in table.c else sa.null()
            query = (
                sa.select(table.c.id, table.c.sender_id, data, kind)
                .where(table.c.id > sa.bindparam("after"))
                .order_by(table.c.id)
                .limit(self.batch_size)
            )
            self._fetch_query = (table, query)
        return self._fetch_query[1]

    def _slot_followed(self, data: Optional[str]) -> bool:
        """Whether a slot event may set a followed slot (its name appears in it: a
        cheap test before parsing; the ingestor looks at the parsed name)."""
        return self._slot_names is None or data is None or any(name in data for name in self._slot_names)

    def lag(self) -> Dict[str, Any]:
        """Events stored by Rasa that the console has not taken in yet: how many, and
        how old the oldest is (seconds). Runs a query: call from a thread."""
        position = self.state.position
        with self._engine.connect() as conn:
            table = self._events_table(conn)
            query = sa.select(sa.func.count(), sa.func.min(table.c.id)).where(
                table.c.id > position, self._followed(table)
            )
            pending, oldest_id = conn.execute(query).one()
            oldest_age = None
            if oldest_id is not None and "timestamp" in table.c:
                stamp = conn.execute(sa.select(table.c.timestamp).where(table.c.id == oldest_id)).scalar()
                oldest_age = max(0.0, time.time() - float(stamp)) if stamp is not None else None
        return {"pending_events": int(pending), "oldest_pending_age_s": oldest_age}

    # --- following -----------------------------------------------------------------
    def _advance(self, rows: List[Tuple[int, Optional[str], Optional[str]]], position: int) -> Tuple[int, list]:
        """The events of ``rows`` not taken in yet, and the position after them: past
        every contiguous id, and past a missing id once it was waited for long enough."""
        now = time.monotonic()
        events = []
        for row_id, sender_id, data in rows:
            if row_id in self._done_after_gap or data is None:
                continue
            try:
                event = json.loads(data)
            except (TypeError, ValueError):
                logger.warning("event %s of %s is not JSON; skipped", row_id, self.description)
                continue
            if not isinstance(event, dict):
                continue
            event.setdefault("sender_id", sender_id)
            event["_feed_id"] = row_id
            events.append(event)
        new_position = position
        present = {row[0] for row in rows}
        for row_id in sorted(present):
            if row_id > new_position + 1 and row_id - new_position <= MAX_AWAITED_GAP:
                hole = range(new_position + 1, row_id)
                for missing in hole:
                    self._gaps.setdefault(missing, now)
                if any(now - self._gaps[missing] < GAP_WAIT_S for missing in hole):
                    self._done_after_gap.update(r for r in present if r > new_position)
                    return new_position, events
                for missing in hole:
                    self._gaps.pop(missing, None)
            new_position = row_id
        self._done_after_gap = {r for r in self._done_after_gap if r > new_position}
        return new_position, events

    async def run(self, handle: BatchHandler) -> None:
        """Follow until cancelled; errors propagate (see :func:`follow`)."""
        self.state.position = position = await asyncio.to_thread(self.store.broker_position, self.url)
        await self.wakeup.open()
        self.state.running = True
        waiting_for_table = False
        try:
            while True:
                try:
                    rows = await asyncio.to_thread(self._fetch, position)
                    waiting_for_table = False
                except (sa.exc.OperationalError, sa.exc.NoSuchTableError) as error:
                    # Rasa creates the table when it starts; until then there is nothing.
                    if not waiting_for_table:
                        logger.info("waiting for the events table (%s)", getattr(error, "orig", error))
                        waiting_for_table = True
                    self._table = None
                    rows = []
                new_position, events = self._advance(rows, position)
                batch = EventBatch(events, self.url, new_position)
                if events:
                    await handle(batch)
                    self.state.events += len(events)
                if new_position != position:
                    position = new_position
                    if not batch.position_saved:
                        await asyncio.to_thread(self.store.save_broker_position, self.url, position)
                    self.state.position = position
                    self.state.batches += 1
                    self.state.last_batch_at = time.time()
                if len(rows) < self.batch_size or new_position == position and self._gaps:
                    # Up to date (or waiting for a missing row): sleep until rung.
                    rung = await self.wakeup.wait(self.check_s if not self._gaps else min(self.check_s, 0.5))
                    if rung and self.gather_s:
                        await asyncio.sleep(self.gather_s)
        finally:
            self.state.running = False
            await self.wakeup.close()

    def dispose(self) -> None:
        self._engine.dispose()


def feed_for(
    url: str, store: HandoffStore, *, broker_url: str = "", queue: str = "", doorbell: Optional[Path] = None,
    check_s: float = 2.0, followed_slots: Optional[Collection[str]] = None,
) -> TrackerEventFeed:
    """The console feed of the settings: ``url``'s events table, woken by RabbitMQ when
    ``broker_url`` is set, else by the Rasa server's doorbell at ``doorbell``; of slot
    events only those of ``followed_slots`` (None: all)."""
    wakeup: Wakeup
    if broker_url:
        wakeup = RabbitWakeup(broker_url, queue)
    elif doorbell is not None:
        wakeup = DoorbellWakeup(doorbell)
    else:
        wakeup = Wakeup()
    return TrackerEventFeed(url, store, wakeup, check_s=check_s, followed_slots=followed_slots)


async def follow(feed: TrackerEventFeed, handle: BatchHandler, retry_s: float = 2.0) -> None:
    """Run ``feed`` for ever, restarting it after errors (e.g. a database restart)."""
    while True:
        try:
            await feed.run(handle)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            feed.state.errors += 1
            feed.state.last_error = f"{type(error).__name__}: {error}"[:500]
            logger.exception("following %s failed; retrying in %.0f s", feed.description, retry_s)
        await asyncio.sleep(retry_s)


__all__ = [
    "BatchHandler",
    "DoorbellWakeup",
    "EventBatch",
    "FeedState",
    "RabbitWakeup",
    "TrackerEventFeed",
    "Wakeup",
    "feed_for",
    "follow",
]
