"""Rendering for text-only channels (Telegram, WeChat, WeCom).

The assistant's rich messages (match lists as custom payloads, buttons, staff replies)
become plain text here, once, so every text channel shows them the same way.
"""
from __future__ import annotations

import unicodedata
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence

from bot.channels.common import split_sender_id, staff_name_of, staff_prefix
from bot.messages import DEFAULT_LANGUAGE, user_text

MATCH_LIST_TYPES = ("supplier_matches", "expert_matches")


def is_match_list(payload: Mapping[str, Any]) -> bool:
    """Whether a custom payload is a supplier / expert match list (``docs/payloads.md``)."""
    return payload.get("type") in MATCH_LIST_TYPES and isinstance(payload.get("items"), list)


def _place(item: Mapping[str, Any]) -> str:
    parts: List[str] = []
    for key in ("region", "city"):
        value = str(item.get(key) or "").strip()
        if value and value not in parts:
            parts.append(value)
    return "·".join(parts)


def _headline(kind: str, item: Mapping[str, Any], language: str) -> str:
    name = str(item.get("name") or "").strip() or user_text("matches.unnamed", language)
    if kind == "supplier_matches":
        place = _place(item)
        return user_text("matches.name_with_place", language, name=name, place=place) if place else name
    details = [str(item.get(key) or "").strip() for key in ("title", "organization")]
    return " · ".join([name] + [detail for detail in details if detail])


def format_match_list(payload: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """Render a ``supplier_matches`` / ``expert_matches`` payload as numbered text, the
    channel's own words in ``language``.

    Items keep their rank order; each item's reasons follow as bullet lines.
    """
    kind = str(payload["type"])
    items = payload.get("items") or []
    if not items:
        return user_text("matches.none", language)
    if kind == "supplier_matches":
        heading = user_text("matches.supplier_heading", language)
    else:
        heading = user_text("matches.expert_heading", language)
    lines = [str(payload.get("title") or heading)]
    for rank, item in enumerate(items, start=1):
        lines.append(f"{item.get('number') or rank}. {_headline(kind, item, language)}")
        for reason in item.get("reasons") or []:
            lines.append(f"   · {reason}")
    return "\n".join(lines)


class MatchListText:
    """Shows a match-list payload as text on a text channel unless the list was just
    sent as text.

    The matching actions send each list as text followed by the same list as a custom
    payload for widgets (:mod:`bot.platform.replies`); a payload that comes right after
    a text message is that duplicate and is skipped, one that comes alone is rendered.
    So a list is never shown twice and never lost. Use one instance per output channel.
    """

    def __init__(self) -> None:
        self._after_text = False

    def text_sent(self) -> None:
        """Call for every text message the channel sends."""
        self._after_text = True

    def for_payload(self, payload: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> Optional[str]:
        """The text to send for a custom payload (in ``language``), or None to send nothing."""
        show = is_match_list(payload) and not self._after_text
        self._after_text = False
        return format_match_list(payload, language) if show else None


def numbered_menu(text: str, buttons: Sequence[Mapping[str, Any]], language: str = DEFAULT_LANGUAGE) -> str:
    """Append buttons to ``text`` as a menu the user answers with a number (the prompt
    in the conversation's ``language``)."""
    prompt = user_text("menu.reply_with_number", language)
    lines = [text.rstrip(), "", prompt] if text.strip() else [prompt]
    lines += [f"{number}. {button.get('title', '')}" for number, button in enumerate(buttons, 1)]
    return "\n".join(lines)


def menu_choice(text: str, menu_size: int) -> Optional[int]:
    """Return the 0-based menu index a reply like ``2`` / ``２`` / `` 2 `` picks, else None."""
    normalized = unicodedata.normalize("NFKC", text).strip().rstrip(".、。")
    if not normalized.isdigit():
        return None
    number = int(normalized)
    return number - 1 if 1 <= number <= menu_size else None


def staff_marked(text: str, message_fields: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> str:
    """Put the staff marker (in the user's ``language``) before ``text`` when the message
    is a staff reply.

    ``message_fields`` are the keyword arguments the output channel received.
    """
    name = staff_name_of(message_fields)
    return f"{staff_prefix(name, language)}\n{text}" if name else text


def channel_user_id(sender_id: str, channel_prefix: str) -> str:
    """Return the channel's own user id in ``sender_id`` (``telegram:42`` → ``42``).

    Raises ``ValueError`` for another channel's conversation, so a message is never
    sent to the wrong network.
    """
    prefix, user_id = split_sender_id(sender_id)
    if prefix != channel_prefix:
        raise ValueError(f"{sender_id!r} is not a {channel_prefix} conversation")
    return user_id


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> Iterable[str]:
    """Split ``text`` into chunks no larger than ``limit`` (measured by ``size``).

    Splits at line breaks where possible, inside a line only when one line is too long.
    """
    chunk = ""
    for line in text.split("\n"):
        candidate = f"{chunk}\n{line}" if chunk else line
        if size(candidate) <= limit:
            chunk = candidate
            continue
        if chunk:
            yield chunk
        chunk = ""
        for char in line:
            if size(chunk + char) > limit:
                yield chunk
                chunk = ""
            chunk += char
    if chunk:
        yield chunk


def utf8_size(text: str) -> int:
    """Size of ``text`` in UTF-8 bytes (WeChat's limits are in bytes)."""
    return len(text.encode("utf-8"))
