"""One-click match list: staff send the user the assistant's last supplier or expert list.

The list is the conversation's last search, read from its tracker slots (``matching_kind``
and the query of that kind, the page the assistant showed) and matched again in the
platform data, so the user gets what the assistant would send now: the same page, in
the conversation's language, drawn as the user's channel draws it (cards in the widget,
the numbered text elsewhere). It goes out as the staff member's message, without the
assistant's buttons: the assistant is paused while staff hold the conversation and would
not answer them.

The platform layer (jieba, pypinyin, the matching index) is imported only when staff send
a list: the gateway would otherwise load ~140 MB at start for a button seldom pressed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from bot.channels.common import staff_reply_event
from bot.language import slot_language

if TYPE_CHECKING:
    from bot.platform.replies import Reply

SUPPLIER, EXPERT = "supplier", "expert"
#: Actions after which a conversation has a match list (the user asked for one).
MATCHING_ACTIONS = frozenset({"action_find_suppliers", "action_find_experts", "action_refine_matches"})
_SHOWN_SLOT = {SUPPLIER: "shown_suppliers", EXPERT: "shown_experts"}
_QUERY_SLOT = {SUPPLIER: "supplier_query", EXPERT: "expert_query"}


class NoMatchList(ValueError):
    """The conversation has no supplier or expert list to send."""


def asked_for_matches(transcript: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the user asked the assistant for suppliers or experts in ``transcript``."""
    return any(m.get("kind") == "user" and m.get("next_action") in MATCHING_ACTIONS for m in transcript)


def last_list_kind(slots: Mapping[str, Any]) -> str:
    """``supplier`` or ``expert``: the kind of the conversation's last list shown."""
    kind = str(slots.get("matching_kind"))
    shown = slots.get(_SHOWN_SLOT[kind]) if kind in _SHOWN_SLOT else None
    if not shown or not isinstance(slots.get(_QUERY_SLOT[kind]), dict):
        raise NoMatchList("这个对话还没有供应商或专家匹配清单。")
    return kind


def last_list_reply(slots: Mapping[str, Any], platform_url: Optional[str] = None) -> "Reply":
    """The conversation's last list, matched again in the platform data (blocking: builds
    the matching index the first time)."""
    from bot.platform.matching import get_index
    from bot.platform.replies import expert_reply, supplier_reply
    from bot.platform.understanding import ExpertQuery, SupplierQuery

    kind = last_list_kind(slots)
    language = slot_language(slots.get("language"))
    index = get_index(platform_url)
    if kind == SUPPLIER:
        suppliers = index.match_suppliers(SupplierQuery.from_dict(slots["supplier_query"]), language)
        return supplier_reply(suppliers, language)
    return expert_reply(index.match_experts(ExpertQuery.from_dict(slots["expert_query"]), language), language)


def match_list_events(reply: "Reply", channel: Optional[str], staff_name: str) -> List[Dict[str, Any]]:
    """Tracker events that deliver ``reply`` on ``channel`` as ``staff_name``'s message."""
    from bot.platform.replies import reply_messages

    events = []
    for message in reply_messages(replace(reply, buttons=[]), channel):
        if not message.get("text") and message.get("custom") is None:
            continue  # the hint line of a list without one: nothing left to send
        event = staff_reply_event(message.get("text") or "", staff_name)
        if not message.get("text"):
            del event["text"]
        if message.get("custom") is not None:
            event["data"] = {"custom": message["custom"]}
        events.append(event)
    return events


__all__ = ["NoMatchList", "asked_for_matches", "last_list_kind", "last_list_reply", "match_list_events"]
