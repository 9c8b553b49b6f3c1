"""Publishing forms: a buyer's demand, a supplier's product.

The forms collect free-text answers; the validators below turn them into values with
bot.platform.publishing's parsers (「1万件」, 「三个月内」, 「重庆优先」) and ask again,
saying what is wrong, when an answer cannot be used. Details given early, late or out
of order (「5000件，三个月内，需要IATF 16949认证」 while asked the quantity) are kept:
every answer is read for every question not yet answered, and for further
requirements. Before anything is stored the user sees a summary to confirm, change
(「数量改为8000件」「修改截止日期」) or cancel. On submit the row is stored for staff and
the user immediately sees matching suppliers / open demands.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import handoff_on_failure
from actions.inputs import message_text, slot_text
from actions.matching import SUPPLIER, platform_index, send
from bot.language import tracker_language
from bot.messages import user_text
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
from bot.platform.understanding import _NUMBER
from bot.textnorm import normalize_for_nlu

DEMAND_SLOTS = ["demand_product", "demand_quantity", "demand_region", "demand_deadline", "demand_contact",
                "demand_confirmed"]
PRODUCT_SLOTS = ["product_name", "product_company", "product_region", "product_capacity", "product_contact",
                 "product_confirmed"]
DEMAND_REQUIREMENTS = "demand_requirements"
CONFIRMED = "yes"
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


_UNIT = r"\s*(?:万|千|百万|亿)?\s*(?:件|辆|套|台|片|个|颗|吨|只|米)"
_STATED_QUANTITY = re.compile(_NUMBER + _UNIT + r"(?!月|星期|小时|工作日)")
_DEADLINE_CUES = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}|内|前|截止|期限|年底|年末|下个月")
_REGION_CUES = re.compile(r"供应商|厂家|优先|只要|仅限|不限|都可以|本地|地区|所在地")
_REQUIREMENT_CUES = re.compile(r"需要|要求|必须|须|希望|最好|具备|具有|资质|认证|经验|质保|含税|发票|包装|送货|样品")
_SEGMENTS = re.compile(r"[，,。;；！!？?\n]+")
_AFFIRM = re.compile(r"确认|确定|没问题|可以|好的|对的|是的|没错|^好$|^对$|^是$|^ok$|发布吧|提交"
                     r"|^confirm|^yes\b|^correct\b|^that's right|^publish|^submit", re.IGNORECASE)
_EDIT = re.compile(r"修改|更改|改一下|改下|^改$|不对|有误|错了|^change\b|^edit\b|^modify\b|^wrong\b", re.IGNORECASE)
_CAPACITY = re.compile(r"(?:产能|产量)\D{0,6}" + _NUMBER + _UNIT)
_CHANGE_WORDS = re.compile(r"(?:联系方式|联系电话|电话|手机号?|邮箱)?\s*(?:改为|改成|换成|更新为|应该是|是)\s*")


def _phone_or_email(text: str) -> Optional[str]:
    return parse_contact(text) if len(text) <= 40 else None


def stated_quantity(text: str) -> Optional[str]:
    """A quantity said with its unit (「5000件」「两万个」, not 「三个月」 or a phone number)."""
    for match in _STATED_QUANTITY.finditer(normalize_for_nlu(text)):
        parsed = parse_quantity(match.group(0))
        if parsed and parsed[0] >= 10:
            return f"{parsed[0]}{parsed[1]}"
    return None


def stated_deadline(text: str, today: dt.date) -> Optional[str]:
    """A deadline said in passing (「三个月内」「2027-03-31前」), if it is in the future."""
    if not _DEADLINE_CUES.search(text):
        return None
    deadline = parse_deadline(text, today)
    return deadline.isoformat() if deadline is not None and deadline >= today else None


def stated_region(text: str) -> Optional[str]:
    """A supplier region preference said in passing (「重庆的供应商优先」)."""
    return parse_region_preference(text) if _REGION_CUES.search(text) else None


def stated_contact(text: str) -> Optional[str]:
    """A phone number or e-mail address said in passing, with the name said with it."""
    for segment in _SEGMENTS.split(normalize_for_nlu(text)):
        contact = _phone_or_email(_CHANGE_WORDS.sub(" ", segment).strip())
        if contact:
            return contact
    return None


async def stated_requirements(text: str, *, with_notes: bool) -> List[str]:
    """Further requirements: certifications (「要有IATF 16949」) and, unless this is the
    opening request, phrases such as 「需要有量产经验」 that answer no other question."""
    index = await platform_index()
    query = await asyncio.to_thread(index.parser.parse_supplier_request, text)
    found = [user_text("publishing.requirement.certification", certification=c) for c in query.certifications]
    if with_notes:
        today = dt.date.today()
        for segment in _SEGMENTS.split(normalize_for_nlu(text)):
            segment = segment.strip()
            if (2 <= len(segment) <= _MAX_ANSWER and _REQUIREMENT_CUES.search(segment) and not _EDIT.search(segment)
                    and not any(c in segment for c in query.certifications)
                    and not (stated_quantity(segment) or stated_deadline(segment, today) or stated_contact(segment))):
                found.append(segment)
    return found


def _merged(existing: Any, new: Sequence[str]) -> List[str]:
    kept = [item for item in existing if isinstance(item, str)] if isinstance(existing, list) else []
    return list(dict.fromkeys([*kept, *new]))


#: Form questions whose answers NLU may read as a policy question (「四川或者重庆都行」 names
#: places the policy material names too), with what tells such an answer.
_STRUCTURED_ANSWERS: Dict[str, Callable[[str], bool]] = {
    "demand_quantity": lambda text: parse_quantity(text) is not None,
    "demand_region": lambda text: parse_region_preference(text) is not None,
    "demand_deadline": lambda text: parse_deadline(text, dt.date.today()) is not None,
    "product_region": lambda text: parse_region_preference(text) is not None,
    "product_capacity": lambda text: parse_quantity(text) is not None,
}
#: A question is never an answer to the form's question, whatever places or dates it names.
_ASKS = re.compile(r"多少|多大|多久|什么|啥|哪|几|谁|怎么|如何|是否|为什么|吗|[?？]")


def answered_form_question(tracker: Tracker, text: str) -> Optional[str]:
    """The slot the active form asked for when ``text`` answers it (a place, a quantity, a
    date) and asks nothing, else None: such a message continues the form whatever NLU read."""
    slot = tracker.get_slot("requested_slot")
    reads = _STRUCTURED_ANSWERS.get(str(slot))
    if not tracker.active_loop.get("name") or reads is None or _ASKS.search(text):
        return None
    return str(slot) if reads(_answer(text)) else None


def _stated_elsewhere(tracker: Tracker, slot: str) -> Optional[str]:
    """The latest message, when ``slot`` is empty and is not the question being answered."""
    if tracker.get_slot(slot) or tracker.get_slot("requested_slot") == slot:
        return None
    return message_text(tracker) or None


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


#: Words naming a field of the summary, so that 「修改截止日期」 asks for it again.
DEMAND_FIELDS = {
    "demand_product": ("产品", "品名", "product"),
    "demand_quantity": ("数量", "quantity"),
    "demand_region": ("地区", "所在地", "地点", "区域", "region", "location"),
    "demand_deadline": ("截止", "日期", "期限", "时间", "deadline", "date"),
    "demand_contact": ("联系", "电话", "手机", "邮箱", "contact", "phone", "email"),
    DEMAND_REQUIREMENTS: ("要求", "认证", "requirement", "certification"),
}
PRODUCT_FIELDS = {
    "product_name": ("产品", "名称", "product"),
    "product_company": ("公司", "企业", "单位", "company"),
    "product_region": ("地区", "所在地", "地点", "区域", "region", "location"),
    "product_capacity": ("产能", "产量", "capacity"),
    "product_contact": ("联系", "电话", "手机", "邮箱", "contact", "phone", "email"),
}


def _named_field(text: str, fields: Dict[str, Tuple[str, ...]]) -> Optional[str]:
    text = text.lower()
    return next((slot for slot, words in fields.items() if any(word in text for word in words)), None)


def wants_to_edit(text: str) -> bool:
    """「修改」「不对」 without saying what: the summary asks which item."""
    return bool(_EDIT.search(text))


async def _demand_details(text: str, *, opening: bool = False) -> Dict[str, Any]:
    """Every demand detail ``text`` states, by slot (requirements as a list)."""
    details: Dict[str, Any] = {
        "demand_quantity": stated_quantity(text),
        "demand_deadline": stated_deadline(text, dt.date.today()),
        "demand_region": stated_region(text),
        "demand_contact": stated_contact(text),
        DEMAND_REQUIREMENTS: await stated_requirements(text, with_notes=not opening),
    }
    return {slot: value for slot, value in details.items() if value}


class ValidatePublishDemandForm(StoppableFormMixin, FormValidationAction):
    form_slots = DEMAND_SLOTS + [DEMAND_REQUIREMENTS]

    def name(self) -> Text:
        return "validate_publish_demand_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        # rasa_sdk keeps only required slots from extraction and validation; the
        # requirements (not asked for) are added to the events here.
        before = tracker.get_slot(DEMAND_REQUIREMENTS)
        events = await super().run(dispatcher, tracker, domain)
        after = tracker.slots.get(DEMAND_REQUIREMENTS)
        if after != before and not any(e.get("name") == DEMAND_REQUIREMENTS for e in events):
            events.append(SlotSet(DEMAND_REQUIREMENTS, after))
        return events

    async def _stated(self, tracker: Tracker, slot: str) -> Dict[Text, Any]:
        text = _stated_elsewhere(tracker, slot)
        if not text:
            return {}
        value = (await _demand_details(text)).get(slot)
        return {slot: value} if value else {}

    async def extract_demand_product(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        text = _opening_message(tracker, "demand_product")
        product = await _named_product(text) if text else None
        return {"demand_product": product} if product else {}

    async def extract_demand_quantity(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        return await self._stated(tracker, "demand_quantity")

    async def extract_demand_region(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: DomainDict) -> Dict[Text, Any]:
        return await self._stated(tracker, "demand_region")

    async def extract_demand_deadline(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        return await self._stated(tracker, "demand_deadline")

    async def extract_demand_contact(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        return await self._stated(tracker, "demand_contact")

    async def extract_demand_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        """Further requirements, in whatever answer they come (kept, shown in the summary)."""
        text = message_text(tracker)
        opening = tracker.get_slot("requested_slot") is None
        found = await stated_requirements(text, with_notes=not opening) if text else []
        if not found:
            return {}
        return {DEMAND_REQUIREMENTS: _merged(tracker.get_slot(DEMAND_REQUIREMENTS), found)}

    async def _said_something_else(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        """An answer that does not fit the question may carry other details (kept by the
        extractors): then say so instead of refusing it. The form asks once more."""
        noted = await _demand_details(message_text(tracker))
        noted.pop(slot, None)
        if noted:
            dispatcher.utter_message(response="utter_details_noted")
        return bool(noted)

    async def validate_demand_product(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        return _product_answer(value, dispatcher, "demand_product")

    async def validate_demand_quantity(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        parsed = parse_quantity(_answer(value))
        if parsed is None:
            if not await self._said_something_else("demand_quantity", dispatcher, tracker):
                dispatcher.utter_message(response="utter_invalid_demand_quantity")
            return {"demand_quantity": None}
        return {"demand_quantity": f"{parsed[0]}{parsed[1]}"}

    async def validate_demand_region(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                     domain: DomainDict) -> Dict[Text, Any]:
        region = parse_region_preference(_answer(value))
        if region is None:
            if not await self._said_something_else("demand_region", dispatcher, tracker):
                dispatcher.utter_message(response="utter_invalid_demand_region")
            return {"demand_region": None}
        return {"demand_region": region}

    async def validate_demand_deadline(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> Dict[Text, Any]:
        today = dt.date.today()
        deadline = parse_deadline(_answer(value), today)
        if deadline is None or deadline < today:
            if not await self._said_something_else("demand_deadline", dispatcher, tracker):
                dispatcher.utter_message(response="utter_invalid_demand_deadline")
            return {"demand_deadline": None}
        return {"demand_deadline": deadline.isoformat()}

    async def validate_demand_contact(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> Dict[Text, Any]:
        answer = _answer(value)
        if parse_contact(answer) is None:
            if not await self._said_something_else("demand_contact", dispatcher, tracker):
                dispatcher.utter_message(response="utter_invalid_contact")
            return {"demand_contact": None}
        return {"demand_contact": stated_contact(answer) or parse_contact(answer)}

    async def validate_demand_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> Dict[Text, Any]:
        """The answer to the summary: a change (shown again), a confirmation, or 「修改…」."""
        text = _answer(value)
        changes = await _demand_details(text)
        if changes.get(DEMAND_REQUIREMENTS):
            changes[DEMAND_REQUIREMENTS] = _merged(tracker.get_slot(DEMAND_REQUIREMENTS), changes[DEMAND_REQUIREMENTS])
        if changes:
            return {**changes, "demand_confirmed": None}
        if _AFFIRM.search(text) and not wants_to_edit(text):
            return {"demand_confirmed": CONFIRMED}
        field = _named_field(text, DEMAND_FIELDS)
        if field == DEMAND_REQUIREMENTS:
            return {DEMAND_REQUIREMENTS: [], "demand_confirmed": None}
        if field:
            return {field: None, "demand_confirmed": None}
        return {"demand_confirmed": None}


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

    async def validate_product_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> Dict[Text, Any]:
        """The answer to the summary: a change (shown again), a confirmation, or 「修改…」."""
        text = _answer(value)
        capacity = _CAPACITY.search(text)
        changes = {
            "product_capacity": stated_quantity(capacity.group(0)) if capacity else None,
            "product_contact": stated_contact(text),
            "product_region": text if parse_region_preference(text) in ("四川", "重庆") and _REGION_CUES.search(text)
            else None,
        }
        changes = {slot: value for slot, value in changes.items() if value}
        if changes:
            return {**changes, "product_confirmed": None}
        if _AFFIRM.search(text) and not wants_to_edit(text):
            return {"product_confirmed": CONFIRMED}
        field = _named_field(text, PRODUCT_FIELDS)
        if field:
            return {field: None, "product_confirmed": None}
        return {"product_confirmed": None}


def _or_none(value: Any, language: str) -> str:
    return value if isinstance(value, str) and value else user_text("publishing.summary.none", language)


class ActionAskDemandConfirmed(Action):
    """The summary of the demand, to confirm, change or cancel (asked by the form)."""

    def name(self) -> Text:
        return "action_ask_demand_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        if wants_to_edit(text) and not _named_field(text, DEMAND_FIELDS):
            dispatcher.utter_message(response="utter_ask_demand_change")
            return []
        requirements = tracker.get_slot(DEMAND_REQUIREMENTS)
        dispatcher.utter_message(
            response="utter_demand_summary",
            product=slot_text(tracker, "demand_product"), quantity=slot_text(tracker, "demand_quantity"),
            region=slot_text(tracker, "demand_region"), deadline=slot_text(tracker, "demand_deadline"),
            contact=slot_text(tracker, "demand_contact"),
            requirements=_or_none("；".join(_merged(requirements, [])), tracker_language(tracker)),
        )
        return []


class ActionAskProductConfirmed(Action):
    """The summary of the product listing, to confirm, change or cancel (asked by the form)."""

    def name(self) -> Text:
        return "action_ask_product_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        if wants_to_edit(text) and not _named_field(text, PRODUCT_FIELDS):
            dispatcher.utter_message(response="utter_ask_product_change")
            return []
        dispatcher.utter_message(
            response="utter_product_summary",
            product=slot_text(tracker, "product_name"), company=slot_text(tracker, "product_company"),
            region=slot_text(tracker, "product_region"), capacity=slot_text(tracker, "product_capacity"),
            contact=slot_text(tracker, "product_contact"),
        )
        return []


def _reset(slots: List[str]) -> List[Dict[Text, Any]]:
    return [SlotSet(slot, None) for slot in slots]


def _confirmed(tracker: Tracker, slots: List[str]) -> bool:
    """Every answer given and the summary confirmed (else the user stopped the form)."""
    return all(tracker.get_slot(slot) for slot in slots) and tracker.get_slot(slots[-1]) == CONFIRMED


def _store_demand(tracker: Tracker, index: PlatformIndex) -> Tuple[int, SupplierResult]:
    """Store the demand the form collected (blocking: run in a worker thread); return
    its id and the matching suppliers. Raises :class:`RequestError` for invalid answers."""
    quantity, unit = parse_quantity(tracker.get_slot("demand_quantity") or "") or (None, "件")
    deadline_text: Optional[str] = tracker.get_slot("demand_deadline")
    requirements = "；".join(_merged(tracker.get_slot(DEMAND_REQUIREMENTS), []))
    certifications = index.parser.parse_supplier_request(requirements).certifications if requirements else []
    with session_scope() as session:
        demand, result = publish_demand(
            session, index,
            product=tracker.get_slot("demand_product") or "",
            quantity=quantity, unit=unit,
            target_region=tracker.get_slot("demand_region") or "不限",
            deadline=dt.date.fromisoformat(deadline_text) if deadline_text else None,
            contact=tracker.get_slot("demand_contact") or "",
            requirements=requirements, certifications=certifications,
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
        done = _reset(DEMAND_SLOTS + [DEMAND_REQUIREMENTS])
        if not _confirmed(tracker, DEMAND_SLOTS):  # the user stopped the form
            dispatcher.utter_message(response="utter_publishing_cancelled")
            return done
        index = await platform_index()
        try:
            demand_id, result = await asyncio.to_thread(_store_demand, tracker, index)
        except RequestError as error:
            dispatcher.utter_message(response="utter_demand_not_published",
                                     reason=error.reason(tracker_language(tracker)))
            return done
        dispatcher.utter_message(response="utter_demand_published", demand_id=demand_id)
        if result.query.is_vague:
            dispatcher.utter_message(response="utter_demand_category_unknown")
            return done
        send(dispatcher, supplier_reply(result, tracker_language(tracker)))
        return done + [SlotSet("matching_kind", SUPPLIER),
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
            language=tracker_language(tracker),
        )
        return product.id, demands


class ActionSubmitProduct(Action):
    """Store the product, show open demands it can serve."""

    def name(self) -> Text:
        return "action_submit_product"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        if not _confirmed(tracker, PRODUCT_SLOTS):  # the user stopped the form
            dispatcher.utter_message(response="utter_publishing_cancelled")
            return _reset(PRODUCT_SLOTS)
        index = await platform_index()
        try:
            product_id, demands = await asyncio.to_thread(_store_product, tracker, index)
        except RequestError as error:
            dispatcher.utter_message(response="utter_product_not_registered",
                                     reason=error.reason(tracker_language(tracker)))
            return _reset(PRODUCT_SLOTS)
        dispatcher.utter_message(response="utter_product_registered", product_id=product_id)
        if demands:
            send(dispatcher, demand_reply(demands, tracker_language(tracker)))
        else:
            dispatcher.utter_message(response="utter_no_matching_demands")
            dispatcher.utter_message(json_message=demand_matches_payload([]))
        return _reset(PRODUCT_SLOTS)
