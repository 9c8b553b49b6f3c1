"""Supplier and expert matching actions: thin wrappers over bot.platform.

Entities are not taken from DIET: the matching engine reads the raw message against
the platforms' own vocabulary, so phrasings never seen in training still work. The
last query is kept in a slot, so 「只要重庆的」「要有IATF 16949」「更多」 refine it.
Button clicks carry the text to analyse in the ``match_text`` entity.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from bot.language import CHINESE, tracker_language
from bot.messages import user_text
from bot.platform.db import session_scope
from bot.platform.matching import PlatformIndex, get_index
from bot.platform.queries import RequestError, create_expert_contact_request
from bot.platform.replies import (
    Reply,
    expert_field_buttons,
    expert_reply,
    intent_button,
    start_search_buttons,
    supplier_category_buttons,
    supplier_reply,
)
from bot.platform.understanding import ExpertQuery, SupplierQuery, chinese_number

logger = logging.getLogger(__name__)

SUPPLIER, EXPERT = "supplier", "expert"
_CONTACT_WORDS = ("联系方式", "电话", "手机号", "联系人", "邮箱", "微信号")
_ORDINAL = re.compile(r"第\s*(\d+|[一二三四五六七八九十]+)\s*(?:位|个|名)?")


def request_text(tracker: Tracker) -> str:
    """What to analyse: a button's ``match_text`` entity, else the user's message."""
    from_button = next(tracker.get_latest_entity_values("match_text"), None)
    return from_button or tracker.latest_message.get("text") or ""


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Text (with buttons) for every channel, then the card payload for widgets."""
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)
    if reply.custom is not None:
        dispatcher.utter_message(json_message=reply.custom)


def ask_supplier_product(dispatcher: CollectingDispatcher, language: str = CHINESE) -> None:
    """A supplier request named no product: ask for one, offering the main categories."""
    dispatcher.utter_message(response="utter_supplier_clarification", buttons=supplier_category_buttons(language))


def ask_expert_field(dispatcher: CollectingDispatcher, language: str = CHINESE) -> None:
    """An expert request named no field: ask for one, offering the main fields."""
    dispatcher.utter_message(response="utter_expert_clarification", buttons=expert_field_buttons(language))


async def platform_index() -> PlatformIndex:
    """The matching index, built (the first time, or after an import) off the event loop."""
    return await asyncio.to_thread(get_index)


async def _supplier_events(index: PlatformIndex, dispatcher: CollectingDispatcher, text: str,
                           previous: Optional[SupplierQuery], language: str) -> List[Dict[Text, Any]]:
    result = await asyncio.to_thread(index.find_suppliers, text, previous, language)
    if result.query.is_vague:
        ask_supplier_product(dispatcher, language)
    else:
        send(dispatcher, supplier_reply(result, language))
    return [SlotSet("matching_kind", SUPPLIER), SlotSet("supplier_query", result.query.to_dict())]


async def _expert_events(index: PlatformIndex, dispatcher: CollectingDispatcher, text: str,
                         previous: Optional[ExpertQuery], language: str) -> List[Dict[Text, Any]]:
    result = await asyncio.to_thread(index.find_experts, text, previous, language)
    if result.query.is_vague:
        ask_expert_field(dispatcher, language)
        shown: List[Dict[str, str]] = []
    else:
        send(dispatcher, expert_reply(result, language))
        shown = [{"expert_id": m.expert_id, "name": m.name} for m in result.matches]
    return [SlotSet("matching_kind", EXPERT), SlotSet("expert_query", result.query.to_dict()),
            SlotSet("shown_experts", shown)]


def _previous_supplier_query(tracker: Tracker) -> Optional[SupplierQuery]:
    data = tracker.get_slot("supplier_query")
    return SupplierQuery.from_dict(data) if isinstance(data, dict) else None


def _previous_expert_query(tracker: Tracker) -> Optional[ExpertQuery]:
    data = tracker.get_slot("expert_query")
    return ExpertQuery.from_dict(data) if isinstance(data, dict) else None


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
        return await _supplier_events(index, dispatcher, text, previous if builds_on_previous else None,
                                      tracker_language(tracker))


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
            return await _expert_events(index, dispatcher, text, fresh_previous, tracker_language(tracker))
        return await _expert_events(index, dispatcher, text, previous if builds_on_previous else None,
                                    tracker_language(tracker))


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
        language = tracker_language(tracker)
        if kind == SUPPLIER and _previous_supplier_query(tracker) is not None:
            return await _supplier_events(index, dispatcher, text, _previous_supplier_query(tracker), language)
        if kind == EXPERT and _previous_expert_query(tracker) is not None:
            return await _expert_events(index, dispatcher, text, _previous_expert_query(tracker), language)
        # The message could not be handled (actions/conversation.py counts it towards
        # handing over to staff).
        dispatcher.utter_message(response="utter_nothing_to_refine", buttons=start_search_buttons(language))
        return []


def _chosen_expert(tracker: Tracker) -> Optional[Dict[str, str]]:
    """The expert the user means: a button's id, 「第二位」, or a name from the last list."""
    shown = tracker.get_slot("shown_experts") or []
    chosen_id = next(tracker.get_latest_entity_values("expert_id"), None)
    if chosen_id:
        return next((e for e in shown if e["expert_id"] == chosen_id), {"expert_id": chosen_id, "name": ""})
    text = tracker.latest_message.get("text") or ""
    match = _ORDINAL.search(text)
    if match:
        position = chinese_number(match.group(1))
        if position and 1 <= position <= len(shown):
            return shown[int(position) - 1]
    named = [e for e in shown if e["name"] and e["name"] in text]
    return named[0] if len(named) == 1 else None


class ActionRequestExpertContact(Action):
    """「帮我联系第一位专家」: store a contact request for staff; never reveal contact data."""

    def name(self) -> Text:
        return "action_request_expert_contact"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        expert = _chosen_expert(tracker)
        shown = tracker.get_slot("shown_experts") or []
        language = tracker_language(tracker)
        if expert is None:
            if shown:
                buttons = [intent_button(user_text("button.contact_expert", language, name=e["name"]),
                                         "contact_expert", expert_id=e["expert_id"]) for e in shown[:5]]
                dispatcher.utter_message(response="utter_which_expert", buttons=buttons)
            else:
                ask_expert_field(dispatcher, language)
            return []
        previous = _previous_expert_query(tracker)
        try:
            request_id, expert_id = await asyncio.to_thread(
                _store_contact_request, tracker, expert["expert_id"], previous
            )
        except RequestError as error:
            dispatcher.utter_message(response="utter_expert_contact_refused", reason=str(error))
            return []
        dispatcher.utter_message(
            response="utter_expert_contact_requested", name=expert["name"] or expert_id, request_id=request_id
        )
        return []


def _store_contact_request(
    tracker: Tracker, expert_id: str, previous: Optional[ExpertQuery]
) -> Tuple[int, str]:
    """Store a contact request for staff (blocking: run in a worker thread); return its
    id and the expert's id. Raises :class:`RequestError` for an unknown or unavailable expert."""
    with session_scope() as session:
        request = create_expert_contact_request(
            session, expert_id, sender_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "",
            requester_organization="、".join(previous.exclude_organizations) if previous else "",
            purpose=(previous.describe() if previous else ""),
        )
        return request.id, request.expert_id
