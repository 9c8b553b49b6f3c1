"""Supplier and expert matching actions: thin wrappers over bot.platform.

Entities are not taken from DIET: the matching engine reads the raw message against
the platforms' own vocabulary, so phrasings never seen in training still work. The
last query is kept in a slot, so 「只要重庆的」「要有IATF 16949」「更多」 refine it.
Button clicks carry the text to analyse in the ``match_text`` entity.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from actions.inputs import entity_text, message_text, slot_dict
from bot.platform.matching import PlatformIndex, get_index
from bot.platform.replies import (
    Reply,
    expert_field_buttons,
    expert_reply,
    start_search_buttons,
    supplier_category_buttons,
    supplier_reply,
)
from bot.platform.understanding import ExpertQuery, SupplierQuery

logger = logging.getLogger(__name__)

SUPPLIER, EXPERT = "supplier", "expert"
_CONTACT_WORDS = ("联系方式", "电话", "手机号", "联系人", "邮箱", "微信号")


def request_text(tracker: Tracker) -> str:
    """What to analyse: a button's ``match_text`` entity, else the user's message."""
    return entity_text(tracker, "match_text") or message_text(tracker)


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Text (with buttons) for every channel, then the card payload for widgets."""
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)
    if reply.custom is not None:
        dispatcher.utter_message(json_message=reply.custom)


def ask_supplier_product(dispatcher: CollectingDispatcher) -> None:
    """A supplier request named no product: ask for one, offering the main categories."""
    dispatcher.utter_message(response="utter_supplier_clarification", buttons=supplier_category_buttons())


def ask_expert_field(dispatcher: CollectingDispatcher) -> None:
    """An expert request named no field: ask for one, offering the main fields."""
    dispatcher.utter_message(response="utter_expert_clarification", buttons=expert_field_buttons())


async def platform_index() -> PlatformIndex:
    """The matching index, built (the first time, or after an import) off the event loop."""
    return await asyncio.to_thread(get_index)


async def _supplier_events(index: PlatformIndex, dispatcher: CollectingDispatcher, text: str,
                           previous: Optional[SupplierQuery]) -> List[Dict[Text, Any]]:
    result = await asyncio.to_thread(index.find_suppliers, text, previous)
    if result.query.is_vague:
        ask_supplier_product(dispatcher)
    else:
        send(dispatcher, supplier_reply(result))
    return [SlotSet("matching_kind", SUPPLIER), SlotSet("supplier_query", result.query.to_dict())]


async def _expert_events(index: PlatformIndex, dispatcher: CollectingDispatcher, text: str,
                         previous: Optional[ExpertQuery]) -> List[Dict[Text, Any]]:
    result = await asyncio.to_thread(index.find_experts, text, previous)
    if result.query.is_vague:
        ask_expert_field(dispatcher)
        shown: List[Dict[str, str]] = []
    else:
        send(dispatcher, expert_reply(result))
        shown = [{"expert_id": m.expert_id, "name": m.name} for m in result.matches]
    return [SlotSet("matching_kind", EXPERT), SlotSet("expert_query", result.query.to_dict()),
            SlotSet("shown_experts", shown)]


def _previous_supplier_query(tracker: Tracker) -> Optional[SupplierQuery]:
    data = slot_dict(tracker, "supplier_query")
    return SupplierQuery.from_dict(data) if data is not None else None


def _previous_expert_query(tracker: Tracker) -> Optional[ExpertQuery]:
    data = slot_dict(tracker, "expert_query")
    return ExpertQuery.from_dict(data) if data is not None else None


class ActionFindSuppliers(Action):
    """「我们需要重庆的铝合金轮毂供应商，要有IATF 16949」 → top 5 with reasons."""

    def name(self) -> Text:
        return "action_find_suppliers"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        index = await platform_index()
        text = request_text(tracker)
        previous = _previous_supplier_query(tracker)
        fresh = await asyncio.to_thread(index.parser.parse_supplier_request, text)
        if any(word in text for word in _CONTACT_WORDS) and (fresh.is_vague or "联系方式" in text):
            # 「这些供应商的联系方式是多少」
            dispatcher.utter_message(response="utter_supplier_contact_private")
            return []
        # A clarification answer (「轮毂」 after a vague request) or a bare refinement
        # (「要重庆的」) builds on the last request; a new product starts a new search.
        builds_on_previous = previous is not None and tracker.get_slot("matching_kind") == SUPPLIER and (
            previous.is_vague or fresh.is_vague)
        return await _supplier_events(index, dispatcher, text, previous if builds_on_previous else None)


class ActionFindExperts(Action):
    """「找5位智能制造方向的评审专家，我们是重庆大学的」 → a panel, with 回避."""

    def name(self) -> Text:
        return "action_find_experts"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        index = await platform_index()
        text = request_text(tracker)
        previous = _previous_expert_query(tracker)
        fresh = await asyncio.to_thread(index.parser.parse_expert_request, text)
        builds_on_previous = previous is not None and tracker.get_slot("matching_kind") == EXPERT and (
            previous.is_vague or fresh.is_vague)
        if previous is not None and not builds_on_previous:
            # The user's own organisation stays avoided for the whole conversation.
            fresh_previous = ExpertQuery(exclude_organizations=previous.exclude_organizations)
            return await _expert_events(index, dispatcher, text, fresh_previous)
        return await _expert_events(index, dispatcher, text, previous if builds_on_previous else None)


class ActionRefineMatches(Action):
    """「只要重庆的」「要有IATF 16949」「更多」: refine the last supplier or expert list."""

    def name(self) -> Text:
        return "action_refine_matches"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        index = await platform_index()
        text = request_text(tracker)
        kind = tracker.get_slot("matching_kind")
        if kind == SUPPLIER and _previous_supplier_query(tracker) is not None:
            return await _supplier_events(index, dispatcher, text, _previous_supplier_query(tracker))
        if kind == EXPERT and _previous_expert_query(tracker) is not None:
            return await _expert_events(index, dispatcher, text, _previous_expert_query(tracker))
        # The message could not be handled (actions/conversation.py counts it towards
        # handing over to staff).
        dispatcher.utter_message(response="utter_nothing_to_refine", buttons=start_search_buttons())
        return []
