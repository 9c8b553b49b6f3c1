"""Supplier and expert matching actions: thin wrappers over bot.platform.

Entities are not taken from DIET: the matching engine reads the raw message against
the platforms' own vocabulary, so phrasings never seen in training still work. The
last query is kept in a slot, so 「只要重庆的」「要有IATF 16949」「更多」 refine it.
Button clicks carry the text to analyse in the ``match_text`` entity.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from actions.inputs import entity_text, item_at, list_position, message_text, slot_dict
from actions.misses import cannot_handle
from actions.policy import KNOWLEDGE_BASE, UNANSWERED_NOT_FOUND, answer_in_context, covers_well
from bot.language import CHINESE, ENGLISH, tracker_language
from bot.messages import join_clauses, user_text
from bot.platform.english import english_label
from bot.platform.matching import PlatformIndex, get_index
from bot.platform.replies import (
    Reply,
    did_you_mean_buttons,
    expert_field_buttons,
    expert_reply,
    reply_messages,
    start_search_buttons,
    supplier_category_buttons,
    supplier_reply,
)
from bot.platform.understanding import ExpertQuery, SupplierQuery

logger = logging.getLogger(__name__)

SUPPLIER, EXPERT = "supplier", "expert"
_QUESTION = re.compile(r"多少|什么|啥|哪年|哪天|何时|谁|怎么|如何|是否|吗|呢|[?？]")
_CONTACT_WORDS = ("联系方式", "电话", "手机号", "联系人", "邮箱", "微信号")


def request_text(tracker: Tracker) -> str:
    """What to analyse: a button's ``match_text`` entity, else the user's message."""
    return entity_text(tracker, "match_text") or message_text(tracker)


def send(dispatcher: CollectingDispatcher, reply: Reply, tracker: Optional[Tracker] = None) -> None:
    """Send ``reply`` as the user's channel presents it (:func:`reply_messages`)."""
    channel = tracker.get_latest_input_channel() if tracker is not None else None
    for message in reply_messages(reply, channel):
        dispatcher.utter_message(text=message.get("text"), buttons=message.get("buttons"),
                                 json_message=message.get("custom"))


def ask_supplier_product(dispatcher: CollectingDispatcher, language: str = CHINESE) -> None:
    """A supplier request named no product: ask for one, offering the main categories."""
    dispatcher.utter_message(response="utter_supplier_clarification", buttons=supplier_category_buttons(language))


def ask_expert_field(dispatcher: CollectingDispatcher, language: str = CHINESE) -> None:
    """An expert request named no field: ask for one, offering the main fields."""
    dispatcher.utter_message(response="utter_expert_clarification", buttons=expert_field_buttons(language))


async def platform_index() -> PlatformIndex:
    """The matching index, built (the first time, or after an import) off the event loop."""
    return await asyncio.to_thread(get_index)


def _names(index: PlatformIndex, word: str, query: SupplierQuery) -> bool:
    """Whether ``word`` means what the request was understood as (no need to ask)."""
    meant = index.parser.parse_supplier_request(word)
    return set(meant.products) <= set(query.products) and set(meant.categories) <= set(query.categories)


_CLAUSE_BREAK = re.compile(r"[，,;；？?。!！]")


async def _answered_as_policy(dispatcher: CollectingDispatcher, tracker: Tracker,
                              text: str) -> Optional[List[Dict[Text, Any]]]:
    """A "request" naming nothing the platform has may be a policy question
    (「专家库共享了多少专家」「2019年四川生产了多少辆汽车」): answer it when the knowledge
    base covers it well."""
    if not _QUESTION.search(text):
        return None  # 「帮我找几家重庆的供应商」 is a request, not a question
    knowledge_base = await asyncio.to_thread(KNOWLEDGE_BASE.get)
    # 「专家库有多少专家，我怎么申请加入」: one clause the material covers is enough (the
    # answer then says which part it does not cover).
    for clause in [text, *(c for c in _CLAUSE_BREAK.split(text) if c.strip() and c != text)]:
        if await asyncio.to_thread(covers_well, knowledge_base, clause):
            return await answer_in_context(dispatcher, tracker, text)
    return None


def _did_you_mean(dispatcher: CollectingDispatcher, word: str, text: str, typed: str, language: str) -> None:
    """「您是不是要找 轮毂？」 with a button that searches for it."""
    corrected = text.replace(typed, word) if typed and typed in text else word
    shown = english_label(word) if language == ENGLISH else word
    dispatcher.utter_message(response="utter_supplier_did_you_mean", word=shown,
                             buttons=did_you_mean_buttons(word, corrected, language))


async def _supplier_events(index: PlatformIndex, dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                           previous: Optional[SupplierQuery]) -> List[Dict[Text, Any]]:
    language = tracker_language(tracker)
    result = await asyncio.to_thread(index.find_suppliers, text, previous, language)
    query = result.query
    events: List[Dict[Text, Any]] = [SlotSet("matching_kind", SUPPLIER), SlotSet("topic", SUPPLIER),
                                     SlotSet("supplier_query", query.to_dict())]
    unknown = query.is_vague or bool(query.missing_product)
    suggestion = await asyncio.to_thread(functools.partial(index.parser.suggestion, text, one_off=unknown))
    if suggestion and not unknown and (
            previous is not None or await asyncio.to_thread(_names, index, suggestion, query)):
        suggestion = None  # a homophone of what was understood (减震器 for 减振器): no need to ask
    answered = await _answered_as_policy(dispatcher, tracker, text) if unknown else None
    if answered is not None:
        return answered
    if unknown or suggestion:
        # Nothing the platform knows by that name: a typo (「轮谷」「电池管里系统」), a
        # product it does not have (「光刻机」), or no product at all (「找供应商」).
        typed = query.missing_product or await asyncio.to_thread(index.parser.unknown_product, text)
        if suggestion and suggestion != typed:
            _did_you_mean(dispatcher, suggestion, text, typed, language)
            return [*events, SlotSet("unanswered", None)]
        if query.is_vague and typed:
            dispatcher.utter_message(text=user_text("suppliers.unknown_product", language, product=typed),
                                     buttons=supplier_category_buttons(language))
            return [*events, SlotSet("unanswered", UNANSWERED_NOT_FOUND)]
        if query.is_vague:
            ask_supplier_product(dispatcher, language)
            return [*events, SlotSet("unanswered", None)]
    send(dispatcher, supplier_reply(result, language), tracker)
    shown = [{"number": m.number, "name": m.name, "reasons": m.reasons} for m in result.items]
    unanswered = UNANSWERED_NOT_FOUND if query.missing_product or not result.items else None
    return [*events, SlotSet("shown_suppliers", shown), SlotSet("unanswered", unanswered)]


async def _expert_events(index: PlatformIndex, dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                         previous: Optional[ExpertQuery]) -> List[Dict[Text, Any]]:
    language = tracker_language(tracker)
    result = await asyncio.to_thread(index.find_experts, text, previous, language)
    unanswered = None
    shown: List[Dict[str, Any]] = []
    answered = await _answered_as_policy(dispatcher, tracker, text) if result.query.is_vague else None
    if answered is not None:
        return answered
    if result.query.is_vague:
        unknown = await asyncio.to_thread(index.parser.unknown_field, text)
        if unknown:
            # 「量子通信方向的专家」: say it is not in the expert data, then offer the fields that are.
            dispatcher.utter_message(text=user_text("experts.unknown_field", language, field=unknown),
                                     buttons=expert_field_buttons(language))
            unanswered = UNANSWERED_NOT_FOUND
        else:
            ask_expert_field(dispatcher, language)
    else:
        send(dispatcher, expert_reply(result, language), tracker)
        first = result.query.page * result.query.count + 1
        shown = [{"expert_id": m.expert_id, "name": m.name, "number": number,
                  "reasons": [user_text("experts.reason.organization", language, organization=m.organization),
                              *m.reasons]}
                 for number, m in enumerate(result.matches, start=first)]
        unanswered = None if result.matches else UNANSWERED_NOT_FOUND
    return [SlotSet("matching_kind", EXPERT), SlotSet("topic", EXPERT),
            SlotSet("expert_query", result.query.to_dict()), SlotSet("shown_experts", shown),
            SlotSet("unanswered", unanswered)]


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
        return await _supplier_events(index, dispatcher, tracker, text, previous if builds_on_previous else None)


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
            return await _expert_events(index, dispatcher, tracker, text, fresh_previous)
        return await _expert_events(index, dispatcher, tracker, text, previous if builds_on_previous else None)


class ActionRefineMatches(Action):
    """「只要重庆的」「要有IATF 16949」「更多」: refine the last supplier or expert list."""

    def name(self) -> Text:
        return "action_refine_matches"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        text = request_text(tracker)
        if tracker.get_slot("topic") == "policy":
            # 「那四川呢」 after a policy answer compares within that answer.
            answered = await answer_in_context(dispatcher, tracker, text, follow_up_only=True)
            if answered is not None:
                return answered
        detail = await matching_follow_up(dispatcher, tracker, text)
        if detail is not None:
            return detail
        index = await platform_index()
        kind = tracker.get_slot("matching_kind")
        previous_suppliers, previous_experts = _previous_supplier_query(tracker), _previous_expert_query(tracker)
        if kind == SUPPLIER and previous_suppliers is not None:
            if await asyncio.to_thread(_changes_nothing, index, text, previous_suppliers):
                return await cannot_handle(dispatcher, tracker)  # 「asdkjh qwe」 is no refinement
            return await _supplier_events(index, dispatcher, tracker, text, previous_suppliers)
        if kind == EXPERT and previous_experts is not None:
            return await _expert_events(index, dispatcher, tracker, text, previous_experts)
        # Nothing to refine yet: a message that names a product (「找有IATF认证的德阳座椅厂」)
        # is a whole request with its constraints, read as one.
        fresh = await asyncio.to_thread(index.parser.parse_supplier_request, text)
        if not fresh.is_vague:
            return await _supplier_events(index, dispatcher, tracker, text, None)
        return await cannot_handle(dispatcher, tracker, search_buttons=start_search_buttons(tracker_language(tracker)))


def _changes_nothing(index: PlatformIndex, text: str, previous: SupplierQuery) -> bool:
    """Whether ``text`` read as a refinement leaves the request as it was (gibberish)."""
    refined = index.parser.parse_supplier_request(text, previous)
    unchanged = {"page": 0, "cross_shown": 0}
    return refined.page == 0 and refined.to_dict() == {**previous.to_dict(), **unchanged}


_DETAIL_WORDS = {"产能": "年产能", "产量": "年产能", "认证": "认证", "资质": "认证", "在哪": "地点", "地址": "地点",
                 "地点": "地点", "位置": "地点", "产品": "产品", "做什么": "产品", "做啥": "产品", "方向": "研究方向",
                 "研究": "研究方向", "领域": "领域", "职称": "职称", "荣誉": "荣誉", "单位": "单位", "学校": "单位",
                 "哪所": "单位", "大学": "单位", "机构": "单位", "哪里的": "单位",
                 "capacity": "年产能", "output": "年产能", "certif": "认证", "where": "地点", "located": "地点",
                 "address": "地点", "product": "产品", "make": "产品", "field": "领域", "research": "研究方向",
                 "title": "职称", "honour": "荣誉", "award": "荣誉", "university": "单位", "institution": "单位",
                 "work": "单位"}


#: Words of a request to be put in touch (「联系第一位」「邀请第二位」), not a question about an item.
_CONTACT_REQUEST_WORDS = ("联系", "对接", "邀请", "约", "contact", "invite", "reach")


def asks_item_detail(text: str) -> bool:
    """「第一位是哪个单位的」「第二家的产能呢」: a question about one item of the last list
    (an ordinal and a detail), not a request to contact it."""
    lowered = text.lower()
    return list_position(text) is not None and any(word in lowered for word in _DETAIL_WORDS) and \
        not any(word in lowered for word in _CONTACT_REQUEST_WORDS)


async def refine_if_it_changes(dispatcher: CollectingDispatcher, tracker: Tracker,
                               text: str) -> Optional[List[Dict[Text, Any]]]:
    """「成都或者德阳的」「年产能5万以上」「那大数据方向呢」 that NLU did not read as a
    refinement: refine the last supplier or expert list when the text changes its request;
    None otherwise."""
    kind = tracker.get_slot("matching_kind")
    index = await platform_index()
    if kind == EXPERT:
        previous_experts = _previous_expert_query(tracker)
        if previous_experts is None or await asyncio.to_thread(
                _changes_no_expert_request, index, text, previous_experts):
            return None
        return await _expert_events(index, dispatcher, tracker, text, previous_experts)
    previous = _previous_supplier_query(tracker)
    if kind != SUPPLIER or previous is None:
        return None
    if await asyncio.to_thread(_changes_nothing, index, text, previous):
        return None
    return await _supplier_events(index, dispatcher, tracker, text, previous)


def _changes_no_expert_request(index: PlatformIndex, text: str, previous: ExpertQuery) -> bool:
    """Whether ``text`` read as a refinement leaves the expert request as it was."""
    refined = index.parser.parse_expert_request(text, previous)
    return refined.page == 0 and refined.to_dict() == {**previous.to_dict(), "page": 0}


#: A question (「哪所大学」「产量多少」) is never a bare constraint, whatever places it names.
_ASKS = re.compile(r"多少|什么|啥|哪|几|谁|怎么|如何|是否|为什么|吗|[?？]")


async def refine_with_constraints_only(dispatcher: CollectingDispatcher, tracker: Tracker,
                                       text: str) -> Optional[List[Dict[Text, Any]]]:
    """「四川的」「除了电子科技大学的」「只要正高级」 right after a match list: a message that
    names no product, field or question of its own but changes the last request refines
    that list, even when the policy material happens to mention its words (a university,
    a province). None when ``text`` is not such a constraint."""
    kind = tracker.get_slot("topic")
    if kind not in (SUPPLIER, EXPERT) or kind != tracker.get_slot("matching_kind") or _ASKS.search(text):
        return None
    index = await platform_index()
    if kind == SUPPLIER:
        previous_suppliers = _previous_supplier_query(tracker)
        fresh = await asyncio.to_thread(index.parser.parse_supplier_request, text)
        if previous_suppliers is None or not fresh.is_vague or \
                await asyncio.to_thread(_changes_nothing, index, text, previous_suppliers):
            return None
        return await _supplier_events(index, dispatcher, tracker, text, previous_suppliers)
    previous_experts = _previous_expert_query(tracker)
    fresh_experts = await asyncio.to_thread(index.parser.parse_expert_request, text)
    if previous_experts is None or not fresh_experts.is_vague:
        return None
    refined = await asyncio.to_thread(index.parser.parse_expert_request, text, previous_experts)
    if refined.to_dict() == {**previous_experts.to_dict(), "page": 0}:
        return None
    return await _expert_events(index, dispatcher, tracker, text, previous_experts)


async def matching_follow_up(dispatcher: CollectingDispatcher, tracker: Tracker,
                             text: str) -> Optional[List[Dict[Text, Any]]]:
    """「第二家的产能呢」「第3位的研究方向」: a detail of an item of the last list, or
    None when ``text`` does not point at one."""
    position = list_position(text)
    if position is None:
        return None
    language = tracker_language(tracker)
    kind = tracker.get_slot("topic") or tracker.get_slot("matching_kind")
    value = tracker.get_slot("shown_experts" if kind == EXPERT else "shown_suppliers")
    shown = [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []
    numbers = {index: i["number"] for index, i in enumerate(shown) if isinstance(i.get("number"), int)}
    item = item_at(shown, position, numbers)
    if item is None:
        if not shown or any(word in text.lower() for word in _CONTACT_REQUEST_WORDS):
            return None
        dispatcher.utter_message(text=user_text("matches.no_such_item", language, number=abs(position),
                                                count=len(shown)))
        return [SlotSet("unanswered", None)]
    wanted = {label for word, label in _DETAIL_WORDS.items() if word in text.lower()}
    reasons = [r for r in item.get("reasons", []) if any(r.startswith(label) for label in wanted)]
    details = reasons or item.get("reasons", [])
    number = item.get("number") if isinstance(item.get("number"), int) else shown.index(item) + 1
    dispatcher.utter_message(text=user_text("matches.item_detail", language, number=number,
                                            name=item["name"], details=join_clauses(details, language)))
    return [SlotSet("unanswered", None)]

