"""Publishing forms: a buyer's demand, a supplier's product.

The forms collect free-text answers; the validators below turn them into values with
bot.platform.publishing's parsers (「1万件」, 「三个月内」, 「重庆优先」) and ask again,
saying what is wrong, when an answer cannot be used. On submit the row is stored for
staff and the user immediately sees matching suppliers / open demands.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import handoff_on_failure
from actions.matching import SUPPLIER, platform_index, send
from bot.language import tracker_language
from bot.platform.db import session_scope
from bot.platform.matching import PlatformIndex, SupplierResult
from bot.platform.publishing import (
    DemandMatch,
    parse_contact,
    parse_deadline,
    parse_quantity,
    parse_region_preference,
    publish_demand,
    register_product,
)
from bot.platform.queries import RequestError
from bot.platform.replies import demand_matches_payload, demand_reply, supplier_reply
from bot.textnorm import normalize_for_nlu

DEMAND_SLOTS = ["demand_product", "demand_quantity", "demand_region", "demand_deadline", "demand_contact"]
PRODUCT_SLOTS = ["product_name", "product_company", "product_region", "product_capacity", "product_contact"]
_MAX_ANSWER = 100
_NO_CAPACITY = ("不确定", "不清楚", "跳过", "暂无", "不知道", "保密", "skip", "not sure", "unknown", "don't know")
_STOP_WORDS = ("取消", "算了", "不填了", "退出", "不发布了", "不登记了", "停止", "不弄了", "不想继续", "不要了",
               "cancel", "stop", "quit", "never mind")


def wants_to_stop(tracker: Tracker) -> bool:
    """「取消」「算了」「不填了」 as an answer: leave the form (any intent NLU gave it)."""
    text = _answer(tracker.latest_message.get("text")).lower()
    return 0 < len(text) <= 12 and any(word in text for word in _STOP_WORDS)


if TYPE_CHECKING:
    # What the mixin below is mixed into, so that its ``super().run`` is type-checked.
    from rasa_sdk import FormValidationAction as _FormValidator
else:
    _FormValidator = object


class StoppableFormMixin(_FormValidator):
    """Mixed into a form validator: ends the form, keeping nothing, when the user wants
    to stop. A mixin, not an Action subclass: rasa_sdk registers every Action subclass."""

    form_slots: List[str] = []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        if wants_to_stop(tracker):
            # The submit rule runs next; with the slots empty it reports the cancellation.
            cleared = [SlotSet(slot, None) for slot in self.form_slots]
            return cleared + [SlotSet("requested_slot", None), ActiveLoop(None)]
        return await super().run(dispatcher, tracker, domain)


def _answer(value: Any) -> str:
    return normalize_for_nlu(str(value or "")).strip()


def _opening_message(tracker: Tracker, slot: str) -> Optional[str]:
    """The message that opened the form, while nothing has been asked yet and ``slot`` is empty.

    「我要发个采购单，买两万件制动盘」 already answers two questions; the form skips them.
    """
    if tracker.get_slot("requested_slot") is not None or tracker.get_slot(slot):
        return None
    return tracker.latest_message.get("text") or None


async def _named_product(text: str) -> Optional[str]:
    """The platform product (or category) a message names, if any."""
    index = await platform_index()
    query = await asyncio.to_thread(index.parser.parse_supplier_request, text)
    if query.products:
        return query.products[0]
    if query.categories:
        return query.categories[0].removesuffix("/*").rpartition("/")[2]
    return None


def _named_quantity(text: str) -> Optional[str]:
    """A quantity in an opening message; small numbers are 「一个需求」, not amounts."""
    parsed = parse_quantity(text)
    return f"{parsed[0]}{parsed[1]}" if parsed and parsed[0] >= 10 else None


def _product_answer(value: Any, dispatcher: CollectingDispatcher, slot: str) -> Dict[Text, Any]:
    text = _answer(value)
    if not text or len(text) > _MAX_ANSWER:
        dispatcher.utter_message(response="utter_invalid_product_name", max_chars=_MAX_ANSWER)
        return {slot: None}
    return {slot: text}


def _contact_answer(value: Any, dispatcher: CollectingDispatcher, slot: str) -> Dict[Text, Any]:
    contact = parse_contact(_answer(value))
    if contact is None:
        dispatcher.utter_message(response="utter_invalid_contact")
        return {slot: None}
    return {slot: contact}


class ValidatePublishDemandForm(StoppableFormMixin, FormValidationAction):
    form_slots = DEMAND_SLOTS

    def name(self) -> Text:
        return "validate_publish_demand_form"

    async def extract_demand_product(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        text = _opening_message(tracker, "demand_product")
        product = await _named_product(text) if text else None
        return {"demand_product": product} if product else {}

    async def extract_demand_quantity(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        text = _opening_message(tracker, "demand_quantity")
        quantity = _named_quantity(text) if text else None
        return {"demand_quantity": quantity} if quantity else {}

    async def validate_demand_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        return _product_answer(value, dispatcher, "demand_product")

    async def validate_demand_quantity(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        parsed = parse_quantity(_answer(value))
        if parsed is None:
            dispatcher.utter_message(response="utter_invalid_demand_quantity")
            return {"demand_quantity": None}
        return {"demand_quantity": f"{parsed[0]}{parsed[1]}"}

    async def validate_demand_region(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        region = parse_region_preference(_answer(value))
        if region is None:
            dispatcher.utter_message(response="utter_invalid_demand_region")
            return {"demand_region": None}
        return {"demand_region": region}

    async def validate_demand_deadline(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        today = dt.date.today()
        deadline = parse_deadline(_answer(value), today)
        if deadline is None or deadline < today:
            dispatcher.utter_message(response="utter_invalid_demand_deadline")
            return {"demand_deadline": None}
        return {"demand_deadline": deadline.isoformat()}

    async def validate_demand_contact(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        return _contact_answer(value, dispatcher, "demand_contact")


class ValidateRegisterProductForm(StoppableFormMixin, FormValidationAction):
    form_slots = PRODUCT_SLOTS

    def name(self) -> Text:
        return "validate_register_product_form"

    async def extract_product_name(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        text = _opening_message(tracker, "product_name")
        product = await _named_product(text) if text else None
        return {"product_name": product} if product else {}

    async def validate_product_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        return _product_answer(value, dispatcher, "product_name")

    async def validate_product_company(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        text = _answer(value)
        if len(text) < 2 or len(text) > _MAX_ANSWER:
            dispatcher.utter_message(response="utter_invalid_product_company")
            return {"product_company": None}
        return {"product_company": text}

    async def validate_product_region(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        text = _answer(value)
        region = parse_region_preference(text)
        if region not in ("四川", "重庆"):
            dispatcher.utter_message(response="utter_invalid_product_region")
            return {"product_region": None}
        return {"product_region": text}

    async def validate_product_capacity(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> Dict[Text, Any]:
        text = _answer(value)
        if any(word in text.lower() for word in _NO_CAPACITY):
            return {"product_capacity": "不详"}
        parsed = parse_quantity(text)
        if parsed is None:
            dispatcher.utter_message(response="utter_invalid_product_capacity")
            return {"product_capacity": None}
        return {"product_capacity": f"{parsed[0]}{parsed[1]}"}

    async def validate_product_contact(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        return _contact_answer(value, dispatcher, "product_contact")


def _reset(slots: List[str]) -> List[Dict[Text, Any]]:
    return [SlotSet(slot, None) for slot in slots]


def _store_demand(tracker: Tracker, index: PlatformIndex) -> Tuple[int, SupplierResult]:
    """Store the demand the form collected (blocking: run in a worker thread); return
    its id and the matching suppliers. Raises :class:`RequestError` for invalid answers."""
    quantity, unit = parse_quantity(tracker.get_slot("demand_quantity") or "") or (None, "件")
    deadline_text: Optional[str] = tracker.get_slot("demand_deadline")
    with session_scope() as session:
        demand, result = publish_demand(
            session, index,
            product=tracker.get_slot("demand_product") or "",
            quantity=quantity, unit=unit,
            target_region=tracker.get_slot("demand_region") or "不限",
            deadline=dt.date.fromisoformat(deadline_text) if deadline_text else None,
            contact=tracker.get_slot("demand_contact") or "",
            sender_id=tracker.sender_id, channel=tracker.get_latest_input_channel() or "",
        )
        return demand.id, result


class ActionSubmitDemand(Action):
    """Store the demand, show matching suppliers."""

    def name(self) -> Text:
        return "action_submit_demand"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if not all(tracker.get_slot(slot) for slot in DEMAND_SLOTS):  # the user stopped the form
            dispatcher.utter_message(response="utter_publishing_cancelled")
            return _reset(DEMAND_SLOTS)
        index = await platform_index()
        try:
            demand_id, result = await asyncio.to_thread(_store_demand, tracker, index)
        except RequestError as error:
            dispatcher.utter_message(response="utter_demand_not_published", reason=str(error))
            return _reset(DEMAND_SLOTS)
        dispatcher.utter_message(response="utter_demand_published", demand_id=demand_id)
        if result.query.is_vague:
            dispatcher.utter_message(response="utter_demand_category_unknown")
            return _reset(DEMAND_SLOTS)
        send(dispatcher, supplier_reply(result, tracker_language(tracker)))
        return _reset(DEMAND_SLOTS) + [SlotSet("matching_kind", SUPPLIER),
                                       SlotSet("supplier_query", result.query.to_dict())]


def _store_product(tracker: Tracker, index: PlatformIndex) -> Tuple[int, List[DemandMatch]]:
    """Store the product the form collected (blocking: run in a worker thread); return
    its id and the open demands it can serve. Raises :class:`RequestError` for invalid answers."""
    place = tracker.get_slot("product_region") or ""
    region = parse_region_preference(place) or ""
    city = next((c for c in sorted(index.parser.city_region, key=len, reverse=True) if c in place), "")
    capacity = parse_quantity(tracker.get_slot("product_capacity") or "")
    with session_scope() as session:
        product, demands = register_product(
            session, index,
            product=tracker.get_slot("product_name") or "",
            company_name=tracker.get_slot("product_company") or "",
            annual_capacity=capacity[0] if capacity else None, unit=capacity[1] if capacity else "",
            region=region, city=city, contact=tracker.get_slot("product_contact") or "",
            sender_id=tracker.sender_id, channel=tracker.get_latest_input_channel() or "",
        )
        return product.id, demands


class ActionSubmitProduct(Action):
    """Store the product, show open demands it can serve."""

    def name(self) -> Text:
        return "action_submit_product"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if not all(tracker.get_slot(slot) for slot in PRODUCT_SLOTS):  # the user stopped the form
            dispatcher.utter_message(response="utter_publishing_cancelled")
            return _reset(PRODUCT_SLOTS)
        index = await platform_index()
        try:
            product_id, demands = await asyncio.to_thread(_store_product, tracker, index)
        except RequestError as error:
            dispatcher.utter_message(response="utter_product_not_registered", reason=str(error))
            return _reset(PRODUCT_SLOTS)
        dispatcher.utter_message(response="utter_product_registered", product_id=product_id)
        if demands:
            send(dispatcher, demand_reply(demands))
        else:
            dispatcher.utter_message(response="utter_no_matching_demands")
            dispatcher.utter_message(json_message=demand_matches_payload([]))
        return _reset(PRODUCT_SLOTS)
