"""Putting a user in touch with an expert: 「帮我联系第二位专家」, 「联系董云」, a button.

Only an expert offered in this conversation (the ``shown_experts`` slot) can be
chosen; an id typed by hand is treated as no choice. The choice is checked against
the platform (still available, not related to the user's own organisation: 回避),
and a refusal never names the expert. Then a short form asks who is asking (name and
phone or e-mail, organisation), so that staff get a request they can act on; the
answers are kept for later requests in the same conversation.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Sequence, Text, Tuple

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import handoff_on_failure
from actions.inputs import entity_text, item_at, list_position, message_text, slot_dict, slot_records, slot_text
from actions.matching import SUPPLIER, ask_expert_field, asks_item_detail, matching_follow_up
from actions.publishing import StoppableFormMixin, _answer
from bot.language import tracker_language
from bot.messages import user_text
from bot.platform.db import session_scope
from bot.platform.publishing import parse_contact, parse_organization
from bot.platform.queries import RequestError, check_expert_contactable, create_expert_contact_request
from bot.platform.replies import intent_button
from bot.platform.understanding import ExpertQuery

CONTACT_FORM = "expert_contact_form"
REQUESTER_SLOTS = ["requester_contact", "requester_company"]
_MAX_COMPANY = 100


def shown_experts(tracker: Tracker) -> List[Dict[str, str]]:
    """The experts offered in this conversation's last list."""
    return slot_records(tracker, "shown_experts", ("expert_id", "name"))


def chosen_expert(tracker: Tracker) -> Optional[Dict[str, str]]:
    """The offered expert the user means: a button's id, 「第二位」, or a name; else ``None``."""
    shown = shown_experts(tracker)
    chosen_id = entity_text(tracker, "expert_id")
    if chosen_id:
        return next((e for e in shown if e["expert_id"] == chosen_id), None)
    text = message_text(tracker)
    position = list_position(text)
    if position is not None:
        numbers = _list_numbers(tracker)
        return item_at(shown, position, {index: numbers[e["expert_id"]] for index, e in enumerate(shown)
                                         if e["expert_id"] in numbers})
    named = [e for e in shown if e["name"] and e["name"] in text]
    return named[0] if len(named) == 1 else None


def _list_numbers(tracker: Tracker) -> Dict[str, int]:
    """The number each offered expert carried in the list as shown (by expert id)."""
    value = tracker.get_slot("shown_experts")
    items = value if isinstance(value, list) else []
    return {
        item["expert_id"]: item["number"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("expert_id"), str) and isinstance(item.get("number"), int)
    }


def _last_expert_query(tracker: Tracker) -> Optional[ExpertQuery]:
    data = slot_dict(tracker, "expert_query")
    return ExpertQuery.from_dict(data) if data is not None else None


def _avoided(tracker: Tracker) -> List[str]:
    """The user's own organisation(s): said in the expert request, or in the form."""
    query = _last_expert_query(tracker)
    avoided = list(query.exclude_organizations) if query else []
    company = slot_text(tracker, "requester_company")
    return avoided + [company] if company else avoided


def _contact_buttons(shown: Sequence[Dict[str, str]], language: str) -> List[Dict[str, str]]:
    return [intent_button(user_text("button.contact_expert", language, name=e["name"]), "contact_expert",
                          expert_id=e["expert_id"]) for e in shown[:5]]


def _check(expert_id: str, avoided: List[str]) -> None:
    """Blocking (database): raises :class:`RequestError` if the expert may not be contacted."""
    with session_scope() as session:
        check_expert_contactable(session, expert_id, avoided)


class ActionRequestExpertContact(Action):
    """Check the chosen expert, then collect who is asking (the form) unless known."""

    def name(self) -> Text:
        return "action_request_expert_contact"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        if tracker.get_slot("topic") == SUPPLIER or asks_item_detail(text):
            # 「第二家的产能呢」 (the list on screen is suppliers) or 「第一位是哪个单位的」
            # read as a contact request: a question about an item of the list.
            detail = await matching_follow_up(dispatcher, tracker, text)
            if detail is not None:
                return detail
        shown = shown_experts(tracker)
        expert = chosen_expert(tracker)
        if expert is None:
            language = tracker_language(tracker)
            if shown:
                dispatcher.utter_message(response="utter_which_expert", buttons=_contact_buttons(shown, language))
            else:
                ask_expert_field(dispatcher, language)
            return []
        try:
            await asyncio.to_thread(_check, expert["expert_id"], _avoided(tracker))
        except RequestError as error:
            dispatcher.utter_message(response="utter_expert_contact_refused",
                                     reason=error.reason(tracker_language(tracker)))
            return []
        chosen = [SlotSet("contact_expert_id", expert["expert_id"]), SlotSet("contact_expert_name", expert["name"])]
        return chosen + [FollowupAction(CONTACT_FORM)]


class ValidateExpertContactForm(StoppableFormMixin, FormValidationAction):
    """Who is asking: a name with a phone number or e-mail, and an organisation."""

    form_slots = REQUESTER_SLOTS + ["contact_expert_id", "contact_expert_name"]

    def name(self) -> Text:
        return "validate_expert_contact_form"

    async def extract_requester_company(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: DomainDict) -> Dict[Text, Any]:
        """Already said: in the expert request (「我们是重庆大学的」) or with the contact."""
        if slot_text(tracker, "requester_company"):
            return {}
        if tracker.get_slot("requested_slot") == "requester_contact":
            named = parse_organization(message_text(tracker))
            if named:
                return {"requester_company": named}
        query = _last_expert_query(tracker)
        if query and query.exclude_organizations:
            return {"requester_company": query.exclude_organizations[0]}
        return {}

    async def validate_requester_contact(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> Dict[Text, Any]:
        contact = parse_contact(_answer(value))
        if contact is None:
            dispatcher.utter_message(response="utter_invalid_contact")
            return {"requester_contact": None}
        return {"requester_contact": contact}

    async def validate_requester_company(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> Dict[Text, Any]:
        text = _answer(value)
        company = parse_organization(text) or text
        if len(company) < 2 or len(company) > _MAX_COMPANY or parse_contact(company):
            dispatcher.utter_message(response="utter_invalid_requester_company")
            return {"requester_company": None}
        return {"requester_company": company}


def _store_request(tracker: Tracker, expert_id: str) -> Tuple[int, str]:
    """Store the contact request (blocking: run in a worker thread); return its id and
    the expert's id. Raises :class:`RequestError` when the expert may not be contacted."""
    query = _last_expert_query(tracker)
    with session_scope() as session:
        request = create_expert_contact_request(
            session, expert_id, sender_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "",
            requester_organization=slot_text(tracker, "requester_company"),
            requester_contact=slot_text(tracker, "requester_contact"),
            purpose=query.describe() if query else "",
            avoided_organizations=query.exclude_organizations if query else (),
        )
        return request.id, request.expert_id


class ActionSubmitExpertContact(Action):
    """Store the request for staff once the form knows who is asking."""

    def name(self) -> Text:
        return "action_submit_expert_contact"

    @handoff_on_failure
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        expert_id = slot_text(tracker, "contact_expert_id")
        name = slot_text(tracker, "contact_expert_name")
        done = [SlotSet("contact_expert_id", None), SlotSet("contact_expert_name", None)]
        if not expert_id or not all(slot_text(tracker, slot) for slot in REQUESTER_SLOTS):  # stopped
            dispatcher.utter_message(response="utter_expert_contact_cancelled")
            return done
        try:
            request_id, _ = await asyncio.to_thread(_store_request, tracker, expert_id)
        except RequestError as error:
            dispatcher.utter_message(response="utter_expert_contact_refused",
                                     reason=error.reason(tracker_language(tracker)))
            return done
        dispatcher.utter_message(response="utter_expert_contact_requested", name=name or expert_id,
                                 request_id=request_id)
        return done
