"""Payloads the channels answer themselves: ratings, and ``/…`` nobody offered.

Every channel asks :func:`payload_answer` before passing a message to the assistant;
when it returns a text, the channel sends that text back and passes nothing on.

A rating button (``/rate_service{"score": N}``, :mod:`bot.handoff.ratings`) is recorded
in the handoff database and thanked for; it never reaches the assistant.

Which ``/intent{…}`` payloads a user may send: only those of buttons offered to them.

Rasa reads a message starting with ``/`` as an intent (with entities) and skips
language understanding, so a typed ``/restart`` or ``/inform{"slot": …}`` would reach
any intent, action or slot. Every channel asks :func:`payload_refusal` before passing a
message on: a payload is accepted when it is one of the buttons the assistant showed
since the user's previous message (or an entry payload such as the widget's opening
``/greet``); while staff hold the conversation no payload is accepted (the buttons on
screen belong to the assistant, which is paused). Ordinary text is never affected.

These answers, like every sentence a channel writes itself, are in the conversation's
language: the tracker's ``language`` slot (:func:`conversation_language`).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Mapping, Optional, Set

from bot.language import detect_language, slot_language
from bot.messages import DEFAULT_LANGUAGE, user_text

logger = logging.getLogger(__name__)

#: Payloads a channel or the widget sends by itself to open a conversation.
ENTRY_PAYLOADS = frozenset({"/greet"})
#: The only entity an entry payload may carry: the page's language
#: (``/greet{"language":"en"}``, see :func:`bot.language.payload_with_language`).
ENTRY_ENTITY_VALUES = {"language": frozenset({"en", "zh"})}
PAYLOAD_PREFIX = "/"


def is_payload(text: Optional[str]) -> bool:
    """Whether Rasa would read ``text`` as an intent payload."""
    return bool(text) and str(text).lstrip().startswith(PAYLOAD_PREFIX)


def is_entry_payload(payload: str) -> bool:
    """``/greet``, or ``/greet`` carrying nothing but the conversation's language."""
    intent, brace, entities = payload.partition("{")
    if intent not in ENTRY_PAYLOADS:
        return False
    if not brace:
        return True
    try:
        values = json.loads(brace + entities)
    except ValueError:
        return False
    return isinstance(values, dict) and all(
        value in ENTRY_ENTITY_VALUES.get(name, ()) for name, value in values.items())


def offered_payloads(events: Iterable[Mapping[str, Any]]) -> Set[str]:
    """Payloads of the buttons in the assistant's messages after the last user message."""
    offered: Set[str] = set()
    for event in events:
        kind = event.get("event")
        if kind == "user":
            offered = set()
        elif kind == "bot":
            for button in (event.get("data") or {}).get("buttons") or []:
                if isinstance(button, Mapping) and isinstance(button.get("payload"), str):
                    offered.add(button["payload"].strip())
    return offered


def refusal_for_events(
    text: str, events: Iterable[Mapping[str, Any]], paused: bool, language: str = DEFAULT_LANGUAGE
) -> Optional[str]:
    """Why the payload ``text`` is refused given the conversation's events, or None
    (the reason in ``language``, Chinese by default)."""
    if not is_payload(text):
        return None
    if paused:
        return user_text("input.payload_while_staff", language)
    payload = text.strip()
    if is_entry_payload(payload) or payload in offered_payloads(events):
        return None
    return user_text("input.payload_not_offered", language)


async def _tracker(sender_id: str, agent: Any) -> Any:
    """The conversation's Rasa tracker, or None (no agent, no store, no conversation yet)."""
    store = getattr(agent, "tracker_store", None) if agent is not None else None
    return await store.retrieve(sender_id) if store is not None else None


def _slot_language(tracker: Any) -> str:
    return slot_language(tracker.get_slot("language") if tracker is not None else None)


async def conversation_language(sender_id: str, agent: Any, text: Optional[str] = None) -> str:
    """The language to write to ``sender_id`` in: that of ``text`` (the user's new message)
    when it shows one, as the assistant will follow it too; else the conversation's
    ``language`` slot; Chinese for a conversation without one or outside a Rasa server
    (``agent`` None)."""
    return detect_language(text) or _slot_language(await _tracker(sender_id, agent))


async def payload_refusal(text: Optional[str], sender_id: str, agent: Any) -> Optional[str]:
    """Why a user's message is refused as a payload nobody offered them, or None.

    ``agent`` is Rasa's agent (``app.ctx.agent``); None outside a Rasa server (a channel
    tested on its own), where there is no conversation state to protect."""
    if not text or not is_payload(text) or agent is None:
        return None
    tracker = await _tracker(sender_id, agent)
    if tracker is None:
        return refusal_for_events(text, [], paused=False)
    events = [event.as_dict() for event in tracker.applied_events()]
    return refusal_for_events(text, events, paused=tracker.is_paused(), language=_slot_language(tracker))


async def rating_answer(text: str, sender_id: str, language: str = DEFAULT_LANGUAGE) -> str:
    """Record a rating payload; the thanks (or why it was not recorded) for the user,
    in ``language`` (Chinese by default)."""
    import asyncio

    from bot.handoff.ratings import rating_score
    from bot.handoff.store import shared_store

    score = rating_score(text)
    if score is None:
        return user_text("rating.invalid", language)
    try:
        rating = await asyncio.to_thread(shared_store().record_rating, sender_id, score)
    except Exception:
        logger.exception("could not record the rating of %s", sender_id)
        return user_text("rating.failed", language)
    if rating is None:
        return user_text("rating.nothing_to_rate", language)
    return user_text("rating.thanks", language)


async def payload_answer(text: Optional[str], sender_id: str, agent: Any) -> Optional[str]:
    """The channel's own answer to a message it must not pass on (a rating, a payload
    nobody offered), or None to pass the message to the assistant; in the conversation's
    language."""
    from bot.handoff.ratings import is_rating_payload

    if not text or not is_payload(text):
        return None
    if is_rating_payload(text):
        return await rating_answer(text, sender_id, await conversation_language(sender_id, agent))
    return await payload_refusal(text, sender_id, agent)


__all__ = [
    "ENTRY_PAYLOADS",
    "is_entry_payload",
    "is_payload",
    "offered_payloads",
    "refusal_for_events",
    "payload_refusal",
    "payload_answer",
    "conversation_language",
]


def running_agent() -> Any:
    """Rasa's agent of the running server (None outside a Rasa server, e.g. in tests)."""
    from sanic import Sanic
    from sanic.exceptions import SanicException

    try:
        app = Sanic.get_app()
    except SanicException:
        return None
    return getattr(app.ctx, "agent", None)
