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
    :func:`checked_user_text` is what every channel does with a user's text: control
    characters (NUL, escape sequences: invisible, and PostgreSQL refuses NUL) are
    removed, then :func:`rejection_for_user_text` says, in the user's language, why
    the rest is refused (empty, longer than ``MAX_USER_MESSAGE_CHARS``, or holding a
    lone surrogate); channels send that reason back instead of passing the message to
    Rasa. A lone surrogate is legal in JSON but cannot be encoded as UTF-8, so it would
    fail later in every database driver, log writer and the staff console: it is
    refused where it enters, never stored. :func:`invalid_text_in` refuses both in
    every string of a JSON value (metadata).

Sender ids from the outside
    :func:`is_valid_channel_user_id` is the one rule for the user id a channel
    receives: 1–:data:`MAX_CHANNEL_USER_ID_CHARS` ASCII letters, digits and
    ``_ - . ~ : @``. Ids end up in a ``VARCHAR(255)`` column of the tracker store and
    in the paths of Rasa's HTTP API, which does not unquote them: only characters that
    need no quoting name the same conversation there (WeChat openids, WeCom user ids,
    Telegram chat ids and the widget's session tokens all fit).

Every sentence here comes from the catalogue (:mod:`bot.messages`).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Tuple

from bot.language import detect_language
from bot.messages import DEFAULT_LANGUAGE, user_text
from bot.settings import get_settings

#: Prefix of the widget's sender ids (the Socket.IO channel).
WEB_CHANNEL_PREFIX = "web"
TELEGRAM_CHANNEL_PREFIX = "telegram"
WECHAT_CHANNEL_PREFIX = "wechat"
WECOM_CHANNEL_PREFIX = "wecom"
#: Prefix of the REST channel's sender ids: integrations can never name another
#: channel's conversation.
REST_CHANNEL_PREFIX = "rest"

SENDER_ID_SEPARATOR = ":"

#: Metadata key marking a bot event as written by a staff member.
STAFF_FLAG_KEY = "from_staff"
#: Metadata key holding the staff member's display name.
STAFF_NAME_KEY = "staff_name"
#: Route of the Rasa server that passes staff typing signals to channels
#: (:mod:`bot.channels.typing`; loopback, behind the API token, never forwarded by the gateway).
STAFF_TYPING_PATH = "/staff-typing"


#: Longest user id a channel accepts; with the longest prefix the sender id stays far
#: below the tracker store's 255-character column.
MAX_CHANNEL_USER_ID_CHARS = 128
_CHANNEL_USER_ID = re.compile(r"[A-Za-z0-9_.~:@-]+")
#: Lone surrogates: legal in JSON, not encodable as UTF-8.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
#: C0/C1 control characters except tab, line feed and carriage return.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INVALID_TEXT = re.compile(f"{_SURROGATES.pattern}|{_CONTROLS.pattern}")
#: How deep a JSON value (metadata) may nest before it is refused as hostile.
_MAX_JSON_DEPTH = 20


def is_valid_channel_user_id(channel_user_id: Any) -> bool:
    """Whether a channel's user id may name a conversation (see module doc)."""
    return (
        isinstance(channel_user_id, str)
        and 0 < len(channel_user_id) <= MAX_CHANNEL_USER_ID_CHARS
        and _CHANNEL_USER_ID.fullmatch(channel_user_id) is not None
    )


def has_lone_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (cannot be encoded, stored or sent)."""
    return _SURROGATES.search(text) is not None


def without_control_characters(text: str) -> str:
    """``text`` without C0/C1 control characters (tab, line feeds kept)."""
    return _CONTROLS.sub("", text)


def has_invalid_text(text: str) -> bool:
    """Whether ``text`` holds characters that cannot be stored (see module doc)."""
    return _INVALID_TEXT.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` with each invalid character replaced by U+FFFD, for text shown as is
    and never interpreted (display names in metadata)."""
    return _INVALID_TEXT.sub("\ufffd", text)


def invalid_text_in(value: Any, _depth: int = 0) -> bool:
    """Whether any string (key or value) of a JSON value holds invalid characters,
    or the value nests deeper than any real metadata does."""
    if _depth > _MAX_JSON_DEPTH:
        return True
    if isinstance(value, str):
        return has_invalid_text(value)
    if isinstance(value, dict):
        return any(
            invalid_text_in(key, _depth + 1) or invalid_text_in(item, _depth + 1) for key, item in value.items()
        )
    if isinstance(value, (list, tuple)):
        return any(invalid_text_in(item, _depth + 1) for item in value)
    return False


def namespaced_sender_id(channel_prefix: str, channel_user_id: str) -> str:
    """Return the Rasa sender id for a user of a channel, e.g. ``web:3f2a…``.

    Raises ``ValueError`` for a user id that is not valid
    (:func:`is_valid_channel_user_id`: empty, too long, other characters) or a prefix
    containing the separator, because either would let conversations collide or fail
    to be stored.
    """
    if not is_valid_channel_user_id(channel_user_id):
        raise ValueError(f"invalid channel user id: {str(channel_user_id)[:40]!r}")
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
    if has_lone_surrogates(text):
        return user_text("input.invalid_characters", language)
    return None


def checked_user_text(text: Any, language: Optional[str] = None) -> Tuple[str, Optional[str]]:
    """``(text without control characters, None)`` when the message may go to the
    assistant, else ``("", reason to send back)`` in ``language`` (by default the
    message's own). Non-strings count as empty."""
    cleaned = without_control_characters(text) if isinstance(text, str) else None
    rejection = rejection_for_user_text(cleaned, language)
    return ("", rejection) if rejection else (cleaned or "", None)
