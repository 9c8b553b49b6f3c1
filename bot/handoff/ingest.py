"""Turn Rasa's events into what the console shows, and push changes live.

:class:`Ingestor` is the batch handler given to :func:`bot.handoff.events.follow`. It
stores each user / assistant / staff message with the recognised intent and
confidence, follows pause and resume, learns the company name from slots, sends the
one short waiting notice, and publishes each changed conversation once per batch on a
:class:`LiveHub` that the console's event stream forwards to browsers.

An event that cannot be stored (e.g. text with a lone surrogate, which no database
driver encodes) is set aside: kept whole in ``handoff_feed_set_aside`` for inspection,
counted, logged and announced to staff as an alert, and the feed goes on with the next
event. A database that is unavailable is not the event's fault: that error propagates
and the batch is tried again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List, Optional, Set, Tuple

import sqlalchemy as sa

from bot.channels.payloads import is_payload
from bot.channels.rest_calls import was_shown_on_arrival
from bot.db import create_tables
from bot.handoff.events import EventBatch
from bot.handoff.figures import UNANSWERED_REASONS
from bot.handoff.rasa_client import STAFF_METADATA_KEY, RasaApiError, RasaClient
from bot.handoff.store import STATUS_WAITING, HandoffStore
from bot.handoff.summary import SUMMARY_SLOTS
from bot.handoff.transcripts import shown_key
from bot.messages import user_text

logger = logging.getLogger(__name__)

#: Slots whose value names the user's company (the product registration form asks
#: for it); the latest one set is shown in the console.
COMPANY_SLOTS = ("product_company",)

#: Slot the assistant sets on a turn it could not answer (its value says why).
UNANSWERED_SLOT = "unanswered"

#: Slots whose events the console uses (the feed does not even parse the others').
FOLLOWED_SLOTS = frozenset({UNANSWERED_SLOT, *SUMMARY_SLOTS})

#: Said once while a conversation waits for staff and the user writes again.
WAITING_NOTICE = user_text("staff.waiting_notice")

#: Events older than this (seconds) are history being replayed: no notice for them.
NOTICE_FRESHNESS_S = 120

#: Actions that are bookkeeping, not an answer to the user's message.
_NOT_AN_ANSWER = {"action_listen", "action_session_start"}

_set_aside_metadata = sa.MetaData()
#: Events the feed could not store, kept for inspection.
set_aside_events = sa.Table(
    "handoff_feed_set_aside",
    _set_aside_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("sender_id", sa.Text),
    sa.Column("error", sa.Text, nullable=False),
    #: The event as JSON with every non-ASCII character escaped (always storable).
    sa.Column("event", sa.Text, nullable=False),
)

#: Errors that mean "this event cannot be stored", not "the database is away".
_POISON_ERRORS: Tuple[type, ...] = (UnicodeError, ValueError, TypeError, KeyError, AttributeError)


class LiveHub:
    """Fan-out of console updates to every connected browser (one queue each)."""

    def __init__(self, queue_size: int = 500) -> None:
        self._subscribers: Set[asyncio.Queue] = set()
        self._queue_size = queue_size

    def subscribe(self) -> asyncio.Queue:
        """A new queue receiving every update from now on."""
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stop delivering to ``queue``."""
        self._subscribers.discard(queue)

    def publish(self, update: Dict[str, Any]) -> None:
        """Send ``update`` to every subscriber; one that fell behind is cut off
        (its browser reconnects and reloads the state)."""
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(update)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)

    def is_subscribed(self, queue: asyncio.Queue) -> bool:
        """False once ``queue`` was cut off for falling behind."""
        return queue in self._subscribers

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


class RedisLiveHub(LiveHub):
    """A :class:`LiveHub` shared by every gateway through Redis pub/sub: an update
    published by the gateway that ingested an event reaches the staff connected to any
    gateway. Run :meth:`relay` for the gateway's lifetime."""

    def __init__(self, url: str, channel: str, queue_size: int = 500) -> None:
        super().__init__(queue_size)
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self.channel = channel
        self._outgoing: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()

    def publish(self, update: Dict[str, Any]) -> None:
        self._outgoing.put_nowait(update)

    async def relay(self) -> None:
        """Send local updates to Redis and Redis's updates to local subscribers."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        sender = asyncio.create_task(self._send())
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    LiveHub.publish(self, json.loads(message["data"]))
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            await pubsub.unsubscribe(self.channel)
            await self._redis.close()

    async def _send(self) -> None:
        while True:
            update = await self._outgoing.get()
            try:
                await self._redis.publish(self.channel, json.dumps(update, ensure_ascii=False))
            except Exception:  # Redis away: staff reload the state when they reconnect
                logger.exception("could not publish a console update")


def display_text(event: Dict[str, Any]) -> str:
    """A bot event's text for staff, with buttons and cards summarised."""
    parts: List[str] = []
    if event.get("text"):
        parts.append(str(event["text"]))
    data = event.get("data") or {}
    buttons = data.get("buttons") or []
    if buttons:
        titles = " / ".join(str(b.get("title", "")) for b in buttons if isinstance(b, dict))
        parts.append(f"［按钮：{titles}］")
    custom = data.get("custom")
    if isinstance(custom, dict):
        items = custom.get("items")
        count = f"，{len(items)} 项" if isinstance(items, list) else ""
        parts.append(f"［卡片：{custom.get('type', '自定义')}{count}］")
    if data.get("image"):
        parts.append(f"［图片：{data['image']}］")
    return "\n".join(parts)


class Ingestor:
    """Handles broker events (see module docstring)."""

    def __init__(
        self,
        store: HandoffStore,
        hub: LiveHub,
        rasa: Optional[RasaClient] = None,
        waiting_notice: str = WAITING_NOTICE,
    ) -> None:
        self.store = store
        self.hub = hub
        self.rasa = rasa
        self.waiting_notice = waiting_notice
        self._last_status: Dict[str, str] = {}
        create_tables(store.engine, _set_aside_metadata)  # gateways starting together create it once
        #: Events set aside since this process started.
        self.set_aside_count = 0
        self._notices: Set["asyncio.Task[None]"] = set()

    async def __call__(self, events: List[Dict[str, Any]]) -> None:
        """Store one batch of events, then announce each changed conversation once."""
        changed, conversations, fresh_user_messages, rejected = await asyncio.to_thread(self._ingest_batch, events)
        for event, error in rejected:
            self.set_aside_count += 1
            logger.error("console feed: event of %r set aside (%s)", event.get("sender_id"), error)
            self.hub.publish({
                "type": "feed_alert",
                "set_aside": self.set_aside_count,
                "sender_id": event.get("sender_id"),
                "error": error,
            })
        for conversation in conversations:
            self._publish(conversation, changed[conversation["sender_id"]])
        as_stored = {conversation["sender_id"]: conversation for conversation in conversations}
        for sender_id in fresh_user_messages:
            if self._owes_waiting_notice(as_stored.get(sender_id)):
                # Sent beside the feed, not in it: Rasa may take a while to answer under
                # load, and the feed must not wait for it to store the next events.
                notice = asyncio.ensure_future(self._send_waiting_notice(sender_id))
                self._notices.add(notice)
                notice.add_done_callback(self._notices.discard)

    def _ingest_batch(
        self, events: List[Dict[str, Any]]
    ) -> Tuple[Dict[str, bool], List[Dict[str, Any]], List[str], List[Tuple[Dict[str, Any], str]]]:
        """Store ``events``; return whether each changed conversation got a new message,
        their rows as they are now, who wrote just now, and the events set aside.

        The whole batch is one transaction, with the feed's position after it (an
        :class:`EventBatch`). When an event of it cannot be stored, that transaction is
        rolled back and the batch stored event by event instead, so the others are kept
        and only that one is set aside."""
        try:
            with self.store.batch():
                result = self._store_events(events, set_aside=False)
                self._save_position(events)
            return result
        except (sa.exc.StatementError, *_POISON_ERRORS) as error:
            if isinstance(error, sa.exc.OperationalError):
                raise  # the database is away: the whole batch is tried again
        result = self._store_events(events, set_aside=True)
        self._save_position(events)
        return result

    def _save_position(self, events: List[Dict[str, Any]]) -> None:
        if isinstance(events, EventBatch):
            self.store.save_broker_position(events.source, events.position)
            events.position_saved = True

    def _store_events(
        self, events: List[Dict[str, Any]], set_aside: bool
    ) -> Tuple[Dict[str, bool], List[Dict[str, Any]], List[str], List[Tuple[Dict[str, Any], str]]]:
        """See :meth:`_ingest_batch`; ``set_aside``: an event that cannot be stored is
        set aside (each event its own transaction) instead of failing the batch."""
        changed: Dict[str, bool] = {}
        fresh_user_messages: List[str] = []
        rejected: List[Tuple[Dict[str, Any], str]] = []
        # Conversation rows as this batch's one transaction left them, so that the next
        # event of a conversation and the announcement need not read them again. Event
        # by event (set_aside) a failed event's transaction is rolled back: nothing kept.
        as_stored: Optional[Dict[str, Dict[str, Any]]] = None if set_aside else {}
        for event in events:
            try:
                result = self._ingest(event, as_stored)
            except sa.exc.OperationalError:
                raise  # the database is away: the whole batch is tried again
            except (sa.exc.StatementError, *_POISON_ERRORS) as error:
                if not set_aside:
                    raise
                error_text = f"{type(error).__name__}: {error}"[:1000]
                self._set_aside(event, error_text)
                rejected.append((event, error_text))
                continue
            sender_id = event["sender_id"] if result is not None else None
            if sender_id is None:
                continue
            changed[sender_id] = changed.get(sender_id, False) or bool(result)
            if event.get("event") == "pause" and sender_id in fresh_user_messages:
                # The message that asked for staff came before the pause in this batch: it
                # was not written while waiting, so it gets no "staff will answer" notice.
                fresh_user_messages.remove(sender_id)
            if (
                event.get("event") == "user"
                and time.time() - float(event.get("timestamp") or 0) <= NOTICE_FRESHNESS_S
                and sender_id not in fresh_user_messages
            ):
                fresh_user_messages.append(sender_id)
        known = as_stored or {}
        conversations = [
            row for row in (known.get(s) or self.store.get_conversation(s) for s in changed) if row is not None
        ]
        return changed, conversations, fresh_user_messages, rejected

    def _set_aside(self, event: Dict[str, Any], error: str) -> None:
        sender_id = event.get("sender_id")
        with self.store.transaction() as conn:
            conn.execute(
                set_aside_events.insert().values(
                    at=time.time(),
                    sender_id=json.dumps(sender_id)[1:-1] if isinstance(sender_id, str) else None,
                    error=error.encode("utf-8", "backslashreplace").decode("utf-8"),
                    event=json.dumps(event, ensure_ascii=True, default=str),
                )
            )

    def set_aside_events(self, limit: int = 100) -> List[Dict[str, Any]]:
        """The latest events set aside, newest first (for inspection)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(set_aside_events).order_by(set_aside_events.c.id.desc()).limit(limit)
            ).mappings()
            return [dict(row) for row in rows]

    def _ingest(self, event: Dict[str, Any], as_stored: Optional[Dict[str, Dict[str, Any]]] = None) -> Optional[bool]:
        """Store the event; None when it changes nothing staff see, else whether it
        added a message. ``as_stored``: conversation rows as the batch in progress left
        them, kept up to date here (None: read each time)."""
        sender_id = event.get("sender_id")
        kind = event.get("event")
        if not sender_id or not kind:
            return None
        rows = as_stored if as_stored is not None else {}
        known = rows.get(sender_id)
        conversation: Optional[Dict[str, Any]] = None  # the row after this event's write, if it returns it
        at = float(event.get("timestamp") or time.time())
        message = None
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            message_id = event.get("message_id")
            if (
                was_shown_on_arrival(event.get("input_channel"), message_id)
                and self.store.complete_message(
                    shown_key(sender_id, str(message_id)),
                    _event_key(event),
                    intent.get("name"),
                    _float(intent.get("confidence")),
                )
            ):
                return False  # shown when it arrived (show_user_message), now understood
            conversation = self._record_user_message(
                sender_id,
                str(event.get("text") or ""),
                at,
                _event_key(event),
                event.get("input_channel"),
                intent.get("name"),
                _float(intent.get("confidence")),
            )  # read afresh: a user's message decides the status, which staff may have just changed
            message = conversation is not None
        elif kind == "bot":
            metadata = event.get("metadata") or {}
            if metadata.get("handoff_notice"):  # take-over greeting, hand-back notice: not a reply
                role, author = "system", None
            elif metadata.get(STAFF_METADATA_KEY):
                role, author = "staff", str(metadata.get("staff_name") or "")
            else:
                role, author = "bot", None
            conversation = self.store.record_message(
                sender_id, role, display_text(event), at, event_key=_event_key(event), author=author,
                # A staff reply completes the handoff staff hold now: read afresh.
                conversation=known if role != "staff" else None,
            )
            message = conversation is not None
        elif kind == "action":
            name = event.get("name")
            if name and name not in _NOT_AN_ANSWER:
                self.store.record_next_action(sender_id, name)  # a message's column only
        elif kind in ("pause", "resume"):
            self.store.set_paused(sender_id, kind == "pause", at)
            rows.pop(sender_id, None)
        elif kind == "restart":
            self.store.restart(sender_id, at)
            rows.pop(sender_id, None)
        elif kind == "slot" and event.get("name") == UNANSWERED_SLOT:
            if event.get("value") in UNANSWERED_REASONS:
                self.store.mark_unanswered(sender_id, str(event["value"]))  # a message's column only
        elif kind == "slot" and event.get("name") in SUMMARY_SLOTS:
            value = event.get("value")
            conversation = self.store.set_slot(sender_id, str(event["name"]), value, at, known)
            if event.get("name") in COMPANY_SLOTS and isinstance(value, str) and value.strip():
                self.store.set_company(sender_id, value.strip(), at)
                conversation = None
                rows.pop(sender_id, None)
        else:
            return None
        if conversation is not None:
            rows[sender_id] = conversation
        return bool(message)

    def _record_user_message(
        self,
        sender_id: str,
        text: str,
        at: float,
        event_key: str,
        channel: Optional[str],
        intent: Optional[str] = None,
        confidence: Optional[float] = None,
    ) -> Optional[Dict[str, Any]]:
        """Store a user's message (and it as a rating's comment when it is one); the
        conversation as it is now, None when the message was stored before."""
        conversation = self.store.record_message(
            sender_id, "user", text, at, event_key=event_key, channel=channel, intent=intent, confidence=confidence
        )
        if conversation is not None and self.store.may_be_rating_comment(conversation, at) and not is_payload(text):
            self.store.add_rating_comment(sender_id, text, at)
        return conversation

    async def show_user_message(self, sender_id: str, message_id: str, text: str, channel: str) -> None:
        """Store and announce a user's message as it arrives, before Rasa has understood
        it: staff see it at once however busy Rasa is. Rasa's event of the message
        (carrying ``message_id``, :func:`bot.channels.rest_calls.was_shown_on_arrival`)
        later adds the intent to it instead of storing it again."""
        conversation = await asyncio.to_thread(
            self._record_user_message, sender_id, text, time.time(), shown_key(sender_id, message_id), channel
        )
        if conversation is not None:
            self._publish(conversation, new_message=True)

    async def withdraw_user_message(self, sender_id: str, message_id: str) -> None:
        """Take back a message shown by :meth:`show_user_message` that no Rasa server
        received, so the console holds what the assistant holds (the user is told to
        send it again)."""
        conversation = await asyncio.to_thread(self.store.withdraw_message, shown_key(sender_id, message_id))
        if conversation is not None and conversation.get("removed"):
            self.hub.publish({"type": "conversation_removed", "sender_id": sender_id})
        elif conversation is not None:
            self._publish(conversation, new_message=False)

    async def announce(self, sender_id: str, new_message: bool = False) -> None:
        """Publish the conversation's current state (and an alert when it just
        started waiting for staff). Also used after staff actions."""
        conversation = await asyncio.to_thread(self.store.get_conversation, sender_id)
        if conversation is not None:
            self._publish(conversation, new_message)

    def _publish(self, conversation: Dict[str, Any], new_message: bool) -> None:
        sender_id = conversation["sender_id"]
        previous = self._last_status.get(sender_id)
        self._last_status[sender_id] = conversation["status"]
        update: Dict[str, Any] = {"type": "conversation", "conversation": conversation}
        if new_message:
            update["new_message"] = True
        self.hub.publish(update)
        if conversation["status"] == STATUS_WAITING and previous != STATUS_WAITING:
            self.hub.publish({"type": "alert", "sender_id": sender_id, "conversation": conversation})

    def _owes_waiting_notice(self, conversation: Optional[Dict[str, Any]]) -> bool:
        """Whether a user who just wrote, in ``conversation`` (the row as the batch left
        it), waits for staff and has not been told yet that someone will answer."""
        if self.rasa is None or not conversation:
            return False
        waiting = conversation["status"] == STATUS_WAITING and conversation["paused"]
        return bool(waiting and not conversation["waiting_notice_sent"])

    async def _send_waiting_notice(self, sender_id: str) -> None:
        """Say once per handoff that someone will answer (the claim makes it once)."""
        assert self.rasa is not None
        try:
            if await asyncio.to_thread(self.store.claim_waiting_notice, sender_id):
                await self.rasa.send_notice(sender_id, self.waiting_notice)
        except (RasaApiError, sa.exc.SQLAlchemyError):
            logger.exception("could not send the waiting notice to %s", sender_id)


def _event_key(event: Dict[str, Any]) -> str:
    return "|".join(
        str(part)
        for part in (
            event.get("sender_id"),
            event.get("event"),
            repr(event.get("timestamp")),
            event.get("message_id") or "",
        )
    )[:255]


def _float(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None

