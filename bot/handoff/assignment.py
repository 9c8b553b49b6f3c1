"""Who should answer a conversation handed to staff: assignment rules and the per-agent cap.

A conversation is queued for a **team**: the topic teams (政策 / 供需 / 专家) by what the
user last asked about, else a regional desk (四川 / 重庆) by the region the user gave;
without either it waits for anyone. Staff see their teams' queue first; any staff
member may still take any conversation. An agent holds at most ``cap`` conversations
at once (supervisors and admins are not capped: they step in when the desk is full).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

#: The latest understood intent → the topic team that answers it (first rule wins).
TOPIC_RULES: Mapping[str, str] = {
    "ask_policy": "政策",
    "list_policies": "政策",
    "find_suppliers": "供需",
    "refine_matches": "供需",
    "publish_demand": "供需",
    "register_product": "供需",
    "find_experts": "专家",
    "contact_expert": "专家",
}
#: Slots naming a region, and the desk for each region.
REGION_SLOTS = ("demand_region", "product_region")
REGION_DESKS = {"四川": "四川", "成都": "四川", "重庆": "重庆"}


def team_for(events: Iterable[Mapping[str, Any]], slots: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The team a handoff is queued for, from the conversation's events (newest last)
    and slots; None when no rule applies."""
    for event in reversed(list(events)):
        if event.get("event") == "user":
            intent = str(((event.get("parse_data") or {}).get("intent") or {}).get("name") or "")
            if intent in TOPIC_RULES:
                return TOPIC_RULES[intent]
    for slot in REGION_SLOTS:
        value = str((slots or {}).get(slot) or "")
        for region, desk in REGION_DESKS.items():
            if region in value:
                return desk
    return None


__all__ = ["TOPIC_RULES", "team_for"]
