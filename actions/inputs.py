"""What the actions read from a turn, checked before use.

Entities are user input: anyone can type ``/contact_expert{"expert_id":5}`` or
``{"match_text":["x"]}``, so an entity is used only when it is a short non-empty
string. Slots set by the actions are checked for the shape the actions wrote.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence

from rasa_sdk import Tracker

#: Longer entity values are not something a button or the NLU produced.
MAX_ENTITY_CHARS = 200


def entity_text(tracker: Tracker, entity: str, max_chars: int = MAX_ENTITY_CHARS) -> Optional[str]:
    """The latest message's ``entity`` if it is a non-empty string of at most ``max_chars``."""
    for value in tracker.get_latest_entity_values(entity):
        if isinstance(value, str) and 0 < len(value.strip()) <= max_chars:
            return value.strip()
    return None


def message_text(tracker: Tracker) -> str:
    """The latest message's text ('' for none)."""
    text = tracker.latest_message.get("text")
    return text if isinstance(text, str) else ""


def slot_text(tracker: Tracker, slot: str) -> str:
    """A text slot's value ('' when unset or not text)."""
    value = tracker.get_slot(slot)
    return value if isinstance(value, str) else ""


def slot_dict(tracker: Tracker, slot: str) -> Optional[Dict[str, Any]]:
    """A slot holding a dict (the last search), or ``None``."""
    value = tracker.get_slot(slot)
    return value if isinstance(value, dict) else None


def slot_records(tracker: Tracker, slot: str, keys: Sequence[str]) -> List[Dict[str, str]]:
    """A slot holding a list of records (``[{"expert_id": …, "name": …}]``): the records
    whose ``keys`` are all strings; anything else is left out."""
    value = tracker.get_slot(slot)
    if not isinstance(value, list):
        return []
    return [
        {key: item[key] for key in keys}
        for item in value
        if isinstance(item, dict) and all(isinstance(item.get(key), str) for key in keys)
    ]


#: 「第二家」「第 3 位」; 「倒数第二个」 counts from the end; 「最后一家」「最后那位」 is the last.
_FROM_END = re.compile(r"倒数\s*第?\s*(\d+|[一二三四五六七八九十两]+)\s*(?:家|个|位|名|条)?")
_LAST = re.compile(r"最后(?:一|那|面那|面的那)?\s*(?:家|个|位|名|条)")
_NTH = re.compile(r"第\s*(\d+|[一二三四五六七八九十两]+)\s*(?:家|个|位|名|条)?")
_ENGLISH_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
                     "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
_ENGLISH_ITEM = r"(?:one|company|companies|supplier|maker|factory|expert|professor|person|item|result)"
#: "the second one", "the 3rd supplier", "second-to-last expert", "the last one", "no. 2", "#2".
_ENGLISH_POSITION = re.compile(
    r"\b(?:(?P<word>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
    r"|(?P<digits>\d{1,2})(?:st|nd|rd|th))"
    r"(?P<from_end>[\s-]+(?:to[\s-]+)?last)?\s+" + _ENGLISH_ITEM + r"\b"
    r"|\b(?P<last>last)\s+" + _ENGLISH_ITEM + r"\b"
    r"|(?:\bno\.?\s*|\bnumber\s+|#)(?P<number>\d{1,2})\b",
    re.IGNORECASE,
)


def list_position(text: str) -> Optional[int]:
    """Which item of a list shown before ``text`` points at: N for the N-th (「第二家」
    "the second one"), -N for the N-th from the end (「最后一位」 -1, 「倒数第二个」 -2),
    ``None`` when it names no position."""
    from bot.platform.understanding import chinese_number

    found = _FROM_END.search(text)
    if found:
        number = chinese_number(found.group(1))
        return -int(number) if number else None
    if _LAST.search(text):
        return -1
    found = _NTH.search(text)
    if found:
        number = chinese_number(found.group(1))
        return int(number) if number else None
    found = _ENGLISH_POSITION.search(text)
    if found is None:
        return None
    if found.group("last"):
        return -1
    if found.group("number"):
        return int(found.group("number"))
    number = _ENGLISH_ORDINALS[found.group("word").lower()] if found.group("word") else int(found.group("digits"))
    return -number if found.group("from_end") else number


def item_at(shown: Sequence[Dict[str, Any]], position: int, numbers: Dict[int, int]) -> Optional[Dict[str, Any]]:
    """The item of the list as last shown that ``position`` (from :func:`list_position`)
    means. Lists number on across pages, so 「第七位」 on the second page is the item that
    carried number 7 (``numbers``: index in ``shown`` → its number), else the seventh
    shown; from the end counts within what was shown."""
    if position < 0:
        return shown[position] if -position <= len(shown) else None
    by_number = next((shown[i] for i, number in numbers.items() if number == position), None)
    if by_number is not None:
        return by_number
    return shown[position - 1] if 1 <= position <= len(shown) else None
