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
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Mapping, Optional, Set

from bot.messages import user_text

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


def refusal_for_events(text: str, events: Iterable[Mapping[str, Any]], paused: bool) -> Optional[str]:
    """Why the payload ``text`` is refused given the conversation's events, or None."""
    if not is_payload(text):
        return None
    if paused:
        return user_text("input.payload_while_staff")
    payload = text.strip()
    if is_entry_payload(payload) or payload in offered_payloads(events):
        return None
    return user_text("input.payload_not_offered")


async def payload_refusal(text: Optional[str], sender_id: str, agent: Any) -> Optional[str]:
    """Why a user's message is refused as a payload nobody offered them, or None.

    ``agent`` is Rasa's agent (``app.ctx.agent``); None outside a Rasa server (a channel
    tested on its own), where there is no conversation state to protect."""
    if not text or not is_payload(text) or agent is None:
        return None
    store = getattr(agent, "tracker_store", None)
    tracker = await store.retrieve(sender_id) if store is not None else None
    if tracker is None:
        return refusal_for_events(text, [], paused=False)
    events = [event.as_dict() for event in tracker.applied_events()]
    return refusal_for_events(text, events, paused=tracker.is_paused())


async def rating_answer(text: str, sender_id: str) -> str:
    """Record a rating payload; the thanks (or why it was not recorded) for the user."""
    import asyncio

    from bot.handoff.ratings import rating_score
    from bot.handoff.store import shared_store

    score = rating_score(text)
    if score is None:
        return user_text("rating.invalid")
    try:
        rating = await asyncio.to_thread(shared_store().record_rating, sender_id, score)
    except Exception:
        logger.exception("could not record the rating of %s", sender_id)
        return user_text("rating.failed")
    return user_text("rating.thanks") if rating is not None else user_text("rating.nothing_to_rate")


async def payload_answer(text: Optional[str], sender_id: str, agent: Any) -> Optional[str]:
    """The channel's own answer to a message it must not pass on (a rating, a payload
    nobody offered), or None to pass the message to the assistant."""
    from bot.handoff.ratings import is_rating_payload

    if not text or not is_payload(text):
        return None
    if is_rating_payload(text):
        return await rating_answer(text, sender_id)
    return await payload_refusal(text, sender_id, agent)


__all__ = [
    "ENTRY_PAYLOADS",
    "is_entry_payload",
    "is_payload",
    "offered_payloads",
    "refusal_for_events",
    "payload_refusal",
    "payload_answer",
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
