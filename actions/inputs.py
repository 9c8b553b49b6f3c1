"""What the actions read from a turn, checked before use.

Entities are user input: anyone can type ``/contact_expert{"expert_id":5}`` or
``{"match_text":["x"]}``, so an entity is used only when it is a short non-empty
string. Slots set by the actions are checked for the shape the actions wrote.
"""
from __future__ import annotations

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
