"""Helpers shared by every input channel (web widget, Telegram, WeChat, WeCom).

Sender ids
    Each channel namespaces the ids it gives Rasa as ``<channel>:<id on that channel>``
    (``web:3f2a…``, ``telegram:12345``, ``wechat:oAbc…``, ``wecom:zhangsan``), so two
    channels never share a conversation (tracker) by accident, and the console can
    tell where a conversation lives from its id alone. Build ids with
    :func:`namespaced_sender_id`, read them back with :func:`split_sender_id`.

Staff messages (convention agreed between the channels and the staff console)
    The console delivers a staff reply through Rasa's HTTP API::

        POST /conversations/{sender_id}/tracker/events
             ?output_channel=latest&execute_side_effects=true
        {"event": "bot", "text": "…",
         "metadata": {"from_staff": true, "staff_name": "王老师"}}

    Build that body with :func:`staff_reply_event`. Rasa merges a ``BotUttered``
    event's ``metadata`` into the message it hands the output channel, so the keys
    arrive as keyword arguments of ``send_text_message`` / ``send_response``; the
    metadata is also stored with the event, so a conversation's history still shows
    which messages came from a person. A channel calls :func:`staff_name_of` on the
    message (or the keyword arguments) and, when it returns a name, marks the message
    as from a person: the widget draws a "人工客服" badge, text-only channels put
    :func:`staff_prefix` in front of the text.

Message limits
    :func:`rejection_for_user_text` says, in the user's language, why a message is
    refused (empty, or longer than ``MAX_USER_MESSAGE_CHARS``); channels send that
    reason back instead of passing the message to Rasa.

Every sentence here comes from the catalogue (:mod:`bot.messages`).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from bot.language import detect_language
from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.settings import get_settings

#: Prefix of the widget's sender ids (the Socket.IO channel).
WEB_CHANNEL_PREFIX = "web"
TELEGRAM_CHANNEL_PREFIX = "telegram"
WECHAT_CHANNEL_PREFIX = "wechat"
WECOM_CHANNEL_PREFIX = "wecom"

SENDER_ID_SEPARATOR = ":"

#: Metadata key marking a bot event as written by a staff member.
STAFF_FLAG_KEY = "from_staff"
#: Metadata key holding the staff member's display name.
STAFF_NAME_KEY = "staff_name"


def namespaced_sender_id(channel_prefix: str, channel_user_id: str) -> str:
    """Return the Rasa sender id for a user of a channel, e.g. ``web:3f2a…``.

    Raises ``ValueError`` for an empty user id or a prefix containing the separator,
    because either would let two channels' conversations collide.
    """
    if not channel_user_id:
        raise ValueError("a channel user id must not be empty")
    if not channel_prefix or SENDER_ID_SEPARATOR in channel_prefix:
        raise ValueError(f"invalid channel prefix: {channel_prefix!r}")
    return f"{channel_prefix}{SENDER_ID_SEPARATOR}{channel_user_id}"


def split_sender_id(sender_id: str) -> Tuple[Optional[str], str]:
    """Split a sender id into ``(channel prefix, channel user id)``.

    Ids without a prefix (e.g. made by ``rasa shell`` or the REST channel) give
    ``(None, sender_id)``.
    """
    prefix, separator, rest = sender_id.partition(SENDER_ID_SEPARATOR)
    if not separator or not prefix or not rest:
        return None, sender_id
    return prefix, rest


def staff_reply_event(text: str, staff_name: str) -> Dict[str, Any]:
    """Return the tracker event that delivers a staff member's reply to the user."""
    return {
        "event": "bot",
        "text": text,
        "metadata": {STAFF_FLAG_KEY: True, STAFF_NAME_KEY: staff_name or user_text("staff.default_name")},
    }


def staff_name_of(message: Mapping[str, Any]) -> Optional[str]:
    """Return the staff member's name if ``message`` was written by a person, else None.

    ``message`` is a bot message dict (``BotUttered.message()``), an event's
    ``metadata``, or the keyword arguments an output channel method receives.
    """
    if not message.get(STAFF_FLAG_KEY):
        return None
    name = message.get(STAFF_NAME_KEY)
    return str(name).strip() if name and str(name).strip() else user_text("staff.default_name")


def staff_prefix(staff_name: str, language: str = DEFAULT_LANGUAGE) -> str:
    """Return the marker text-only channels put before a staff message."""
    return user_text("staff.marker", language, name=staff_name)


def rejection_for_user_text(text: Optional[str], language: Optional[str] = None) -> Optional[str]:
    """Return why a user's message cannot be passed to the assistant, or None if it can.

    The reason is a sentence meant to be sent back to the user as is, in ``language``
    (by default the message's own: an English message is refused in English).
    """
    language = language or detect_language(text) or DEFAULT_LANGUAGE
    if text is None or not text.strip():
        return user_text("input.empty", language)
    limit = get_settings().max_user_message_chars
    if len(text) > limit:
        return user_text("input.too_long", language, length=len(text), limit=limit)
    return None
