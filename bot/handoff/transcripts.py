"""The console's copy of every conversation: messages, the conversation list, search.

Written by :mod:`bot.handoff.ingest` from Rasa's events (each event stored once, by its
key) and by staff notes; read by the console. Lists and search results show text with
personal data masked (:mod:`bot.handoff.privacy`); only a conversation's own
transcript shows it in full.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa

from bot.db import DirectStatement, insert_unless_stored
from bot.handoff.lifecycle import (
    Action,
    HandoffError,
    Status,
    conversation_row,
    decide,
    ensure_conversation,
)
from bot.handoff.privacy import mask_personal_data
from bot.handoff.schema import conversations, handoffs, labels, messages, ratings
from bot.handoff.transactions import Transactions

#: Page sizes the console may ask for.
MAX_PAGE = 200
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class ConversationFilter:
    """What the conversation list is narrowed to (None: any)."""

    status: Optional[str] = None
    channel: Optional[str] = None
    assignee: Optional[str] = None
    #: Only conversations with at least one message the assistant could not answer.
    has_unanswered: bool = False
    team: Optional[str] = None
    label: Optional[str] = None


#: Statements the console feed runs for nearly every event, built once and run directly
#: (:class:`bot.db.DirectStatement`: SQLAlchemy's execution costs more than SQLite's).
_MESSAGE_COLUMNS = ("sender_id", "at", "kind", "text", "intent", "confidence", "author", "event_key")
_INSERT_MESSAGE = DirectStatement(messages.insert().values({name: sa.bindparam(name) for name in _MESSAGE_COLUMNS}))
#: A message with an event key, unless that key is stored already (a redelivered event).
_INSERT_MESSAGE_ONCE = insert_unless_stored(messages, _MESSAGE_COLUMNS)
#: A message shown as it arrived takes the key, intent and confidence of its event.
_COMPLETE_MESSAGE = DirectStatement(
    messages.update()
    .where(messages.c.event_key == sa.bindparam("shown_key"))
    .values(event_key=sa.bindparam("new_event_key"), intent=sa.bindparam("new_intent"),
            confidence=sa.bindparam("new_confidence"))
)

#: Key prefix of a user message stored as it arrived, before the assistant understood it
#: (:func:`shown_key`); the feed's event of the message replaces the key.
SHOWN_KEY_PREFIX = "shown|"


def _latest_user_message(*columns: Any, sender: str = "sender_id") -> sa.Select:
    """The latest user message that the assistant is answering, of the conversation bound
    as ``sender``."""
    return (
        sa.select(*columns)
        .where(
            messages.c.sender_id == sa.bindparam(sender),
            messages.c.kind == "user",
            # A message shown as it arrived is not what the assistant is answering yet.
            sa.or_(messages.c.event_key.is_(None), sa.not_(messages.c.event_key.startswith(SHOWN_KEY_PREFIX))),
        )
        .order_by(messages.c.at.desc(), messages.c.id.desc())
        .limit(1)
    )


_LATEST_USER_MESSAGE = DirectStatement(_latest_user_message(messages.c.id, messages.c.unanswered))
_MARK_UNANSWERED = DirectStatement(
    messages.update().where(messages.c.id == sa.bindparam("message")).values(unanswered=sa.bindparam("reason"))
)
#: The first action after the latest user message, set on that message in one statement
#: (an UPDATE of ``messages`` cannot bind a parameter named after one of its columns).
_SET_NEXT_ACTION = DirectStatement(
    messages.update()
    .where(
        messages.c.id == _latest_user_message(messages.c.id, sender="conversation").scalar_subquery(),
        messages.c.next_action.is_(None),
    )
    .values(next_action=sa.bindparam("action"))
)


def shown_key(sender_id: str, message_id: str) -> str:
    """The key of a user message stored as it arrived, until the feed's event of it
    (with ``message_id``) completes it."""
    return f"{SHOWN_KEY_PREFIX}{sender_id}|{message_id}"[:255]


@functools.lru_cache(maxsize=None)
def _conversation_update(columns: Tuple[str, ...], counts_unread: bool) -> DirectStatement:
    """UPDATE of a conversation after a message: ``columns`` set from parameters of the
    same name, the message count (and with ``counts_unread`` the unread count) raised
    by one. One statement per combination, built once."""
    values: Dict[str, Any] = {name: sa.bindparam(f"new_{name}") for name in columns}
    values["message_count"] = conversations.c.message_count + 1
    if counts_unread:
        values["unread"] = conversations.c.unread + 1
    return DirectStatement(
        conversations.update().where(conversations.c.sender_id == sa.bindparam("conversation")).values(values)
    )


def _holds_nothing(conn: sa.engine.Connection, sender_id: str) -> bool:
    """Whether nothing but the conversation row is stored for ``sender_id``."""
    return not any(
        conn.execute(sa.select(table.c.sender_id).where(table.c.sender_id == sender_id).limit(1)).first()
        for table in (messages, handoffs, labels, ratings)
    )


def _escaped_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def masked_conversation(row: Dict[str, Any]) -> Dict[str, Any]:
    """A conversation row as lists show it (last message masked)."""
    return {**row, "last_text": mask_personal_data(row.get("last_text"))}


class TranscriptStore(Transactions):
    """Messages and conversations of the handoff database."""

    def get_conversation(self, sender_id: str) -> Optional[Dict[str, Any]]:
        """One conversation's summary row, or None."""
        with self.reading() as conn:
            return conversation_row(conn, sender_id)

    def page_conversations(
        self, where: ConversationFilter = ConversationFilter(), limit: int = DEFAULT_PAGE, offset: int = 0
    ) -> Dict[str, Any]:
        """One page of the list: waiting conversations first, the longest waiting on top
        (the order users are told their place in), then the most recent. Returns
        ``{"conversations", "total", "limit", "offset"}``; text is masked."""
        limit = max(1, min(MAX_PAGE, limit))
        offset = max(0, offset)
        conditions = []
        if where.status:
            conditions.append(conversations.c.status == where.status)
        if where.channel:
            conditions.append(conversations.c.channel == where.channel)
        if where.assignee:
            conditions.append(conversations.c.assigned_to == where.assignee)
        if where.team:
            conditions.append(conversations.c.team == where.team)
        if where.label:
            conditions.append(
                sa.exists().where(labels.c.sender_id == conversations.c.sender_id, labels.c.label == where.label)
            )
        if where.has_unanswered:
            conditions.append(
                sa.exists().where(
                    messages.c.sender_id == conversations.c.sender_id, messages.c.unanswered.is_not(None)
                )
            )
        waiting_first = sa.case((conversations.c.status == Status.WAITING.value, 0), else_=1)
        waiting_order = sa.case(
            (conversations.c.status == Status.WAITING.value, conversations.c.waiting_since), else_=None
        )
        query = (
            sa.select(conversations)
            .where(*conditions)
            .order_by(
                waiting_first,
                waiting_order.asc().nullslast(),
                conversations.c.last_at.desc().nullslast(),
                conversations.c.sender_id,
            )
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            rows = [masked_conversation(dict(r)) for r in conn.execute(query).mappings()]
            tags: Dict[str, List[str]] = {}
            if rows:
                for tag in conn.execute(
                    sa.select(labels.c.sender_id, labels.c.label)
                    .where(labels.c.sender_id.in_([r["sender_id"] for r in rows]))
                    .order_by(labels.c.label)
                ):
                    tags.setdefault(tag.sender_id, []).append(tag.label)
            for row in rows:
                row["labels"] = tags.get(row["sender_id"], [])
            total = conn.execute(
                sa.select(sa.func.count()).select_from(conversations).where(*conditions)
            ).scalar_one()
        return {"conversations": rows, "total": int(total), "limit": limit, "offset": offset}

    def transcript(self, sender_id: str) -> List[Dict[str, Any]]:
        """Every stored message of a conversation (notes included), oldest first."""
        with self.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(messages).where(messages.c.sender_id == sender_id).order_by(messages.c.at, messages.c.id)
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

    def complete_message(self, key: str, event_key: str, intent: Optional[str], confidence: Optional[float]) -> bool:
        """The user message stored when it arrived under ``key`` (:func:`shown_key`) is now
        understood: it takes the event's key, intent and confidence. False when no message waits
        under that key (it was never shown early, or was completed before)."""
        with self.transaction() as conn:
            return _COMPLETE_MESSAGE.rowcount(
                conn, {"shown_key": key, "new_event_key": event_key, "new_intent": intent, "new_confidence": confidence}
            ) == 1

    def withdraw_message(self, key: str) -> Optional[Dict[str, Any]]:
        """Take back a user message stored when it arrived under ``key`` (:func:`shown_key`)
        that the assistant never took: the conversation as it is now, or None when no
        message waits under that key (the feed completed it: Rasa stored it after all).
        A conversation this message started, with nothing else in it, is removed:
        ``{"sender_id": …, "removed": True}``."""
        with self.transaction() as conn:
            shown = conn.execute(
                sa.select(messages.c.id, messages.c.sender_id).where(messages.c.event_key == key)
            ).first()
            # Deleted only while still under its key: the feed may complete it meanwhile.
            if shown is None or conn.execute(
                messages.delete().where(messages.c.id == shown.id, messages.c.event_key == key)
            ).rowcount != 1:
                return None
            latest = conn.execute(
                sa.select(messages.c.text, messages.c.kind, messages.c.at)
                .where(messages.c.sender_id == shown.sender_id, messages.c.event_key.is_not(None))
                .order_by(messages.c.at.desc(), messages.c.id.desc())
                .limit(1)
            ).first()
            conn.execute(
                conversations.update()
                .where(conversations.c.sender_id == shown.sender_id)
                .values(
                    message_count=conversations.c.message_count - 1,
                    unread=sa.case((conversations.c.unread > 0, conversations.c.unread - 1), else_=0),
                    last_text=latest.text if latest else None,
                    last_kind=latest.kind if latest else None,
                    last_at=latest.at if latest else None,
                )
            )
            if latest is None and _holds_nothing(conn, shown.sender_id):
                conn.execute(conversations.delete().where(conversations.c.sender_id == shown.sender_id))
                return {"sender_id": shown.sender_id, "removed": True}
            return conversation_row(conn, shown.sender_id)

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
        conversation: Optional[Dict[str, Any]] = None,
    ) -> Optional[Dict[str, Any]]:
        """Store a message and update the conversation; returns the conversation row,
        or None when this event was stored before (a redelivery). ``conversation``: the
        row as the batch in progress left it, when the caller knows it (not read again);
        never for a user's message, which decides the status from the row as stored now."""
        with self.transaction() as conn:
            if conversation is None:
                conversation = ensure_conversation(conn, sender_id, at, channel)
            inserted = (_INSERT_MESSAGE_ONCE if event_key else _INSERT_MESSAGE).rowcount(
                conn,
                {
                    "sender_id": sender_id,
                    "at": at,
                    "kind": kind,
                    "text": text,
                    "intent": intent,
                    "confidence": confidence,
                    "author": author,
                    "event_key": event_key,
                },
            )
            if inserted == 0:
                return None  # stored before, under the same key (a redelivery)
            changes: Dict[str, Any] = {"last_text": text, "last_kind": kind, "last_at": at}
            if channel and kind == "user":
                changes["channel"] = channel
            if kind == "staff":
                changes["unread"] = 0
            if kind == "user":
                # A company writing again after staff closed: back to the assistant. The
                # console resumes the assistant before it records a close or a hand-back,
                # so a ``paused`` still set here only means the resume event has not been
                # ingested yet.
                changes["status"] = decide(Action.USER_WRITES, conversation).value
                if conversation["status"] in (Status.WAITING.value, Status.STAFF.value) and not conversation[
                    "waiting_since"
                ]:
                    changes["waiting_since"] = at
            if kind == "staff":
                changes["waiting_since"] = None
            _conversation_update(tuple(changes), counts_unread=kind == "user").rowcount(
                conn, {"conversation": sender_id, **{f"new_{name}": value for name, value in changes.items()}}
            )
            if kind == "staff" and conversation["current_handoff_id"]:
                # First human reply: the first staff message once a person took the request.
                conn.execute(
                    handoffs.update()
                    .where(
                        handoffs.c.id == conversation["current_handoff_id"],
                        handoffs.c.first_reply_at.is_(None),
                        handoffs.c.taken_at.is_not(None),
                        handoffs.c.taken_at <= at,
                    )
                    .values(first_reply_at=at)
                )
            # The row as this transaction left it (not read again: the feed stores
            # every message of a conversation this way).
            counts = {"message_count": conversation["message_count"] + 1}
            if kind == "user":
                counts["unread"] = conversation["unread"] + 1
            return {**conversation, **changes, **counts}

    def mark_read(self, sender_id: str) -> None:
        """Staff opened the conversation: nothing unread any more."""
        with self.transaction() as conn:
            conn.execute(
                conversations.update()
                .where(conversations.c.sender_id == sender_id, conversations.c.unread != 0)
                .values(unread=0)
            )

    def record_next_action(self, sender_id: str, action_name: str) -> None:
        """Remember the assistant's first action after the latest user message."""
        with self.transaction() as conn:
            _SET_NEXT_ACTION.rowcount(conn, {"conversation": sender_id, "action": action_name})

    def mark_unanswered(self, sender_id: str, reason: str) -> bool:
        """Mark the latest user message as one the assistant could not answer (the first
        reason given is kept). False when there is no user message yet."""
        with self.transaction() as conn:
            latest = _LATEST_USER_MESSAGE.first(conn, {"sender_id": sender_id})
            if latest is None:
                return False
            if latest["unanswered"] is None:
                _MARK_UNANSWERED.rowcount(conn, {"message": latest["id"], "reason": reason[:16]})
            return True

    def set_company(self, sender_id: str, company: str, at: float) -> None:
        """The company's name, once the assistant learns it (a slot)."""
        with self.transaction() as conn:
            ensure_conversation(conn, sender_id, at)
            conn.execute(
                conversations.update().where(conversations.c.sender_id == sender_id).values(company=company[:255])
            )

    def add_note(self, sender_id: str, staff_name: str, text: str, at: float) -> Dict[str, Any]:
        """A private note: staff see it in the transcript, the user never does."""
        with self.engine.begin() as conn:
            if conversation_row(conn, sender_id) is None:
                raise HandoffError("没有这个对话。")
            note_id = conn.execute(
                messages.insert().values(sender_id=sender_id, at=at, kind="note", text=text, author=staff_name)
            ).inserted_primary_key[0]
            return dict(conn.execute(sa.select(messages).where(messages.c.id == note_id)).mappings().one())

    def search(self, query: str, limit: int = 50, offset: int = 0) -> Dict[str, Any]:
        """Messages and private notes containing ``query``, newest first, one page:
        ``{"results", "total", "limit", "offset"}`` (text masked)."""
        limit = max(1, min(MAX_PAGE, limit))
        offset = max(0, offset)
        condition = messages.c.text.like(_escaped_like(query), escape="\\")
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    messages.c.sender_id,
                    messages.c.at,
                    messages.c.kind,
                    messages.c.author,
                    messages.c.text,
                    conversations.c.channel,
                    conversations.c.company,
                    conversations.c.status,
                )
                .select_from(messages.join(conversations, conversations.c.sender_id == messages.c.sender_id))
                .where(condition)
                .order_by(messages.c.at.desc(), messages.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).mappings()
            results = [{**r, "text": mask_personal_data(r["text"])} for r in rows]
            total = conn.execute(sa.select(sa.func.count()).select_from(messages).where(condition)).scalar_one()
        return {"results": results, "total": int(total), "limit": limit, "offset": offset}


__all__ = ["TranscriptStore", "ConversationFilter", "masked_conversation", "MAX_PAGE", "DEFAULT_PAGE"]
