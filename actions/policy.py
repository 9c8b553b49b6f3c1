"""Policy questions: answered by retrieval over the knowledge base, with the source.

The entry answered last and the question that led to it are kept in the
``policy_topic`` slot, so follow-ups that leave the programme out (「一共多少钱」
「那四川呢」「那新基建算吗」) are read against it (:mod:`bot.knowledge.answers`).
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from actions.inputs import entity_text, message_text
from actions.misses import cannot_handle
from bot.gibberish import is_gibberish
from bot.knowledge import answers
from bot.knowledge.base import KnowledgeBase, KnowledgeBaseFile, PolicyEntry, format_answer, informative_words
from bot.language import CHINESE, is_han, tracker_language
from bot.messages import join_list, user_text
from bot.settings import get_settings

#: Reloaded automatically when staff edit the file: no retraining needed.
KNOWLEDGE_BASE = KnowledgeBaseFile(get_settings().knowledge_base_path)

TOPIC_POLICY = "policy"
#: Values of the ``unanswered`` slot (collected for staff in the console).
UNANSWERED_NOT_FOUND = "not_found"
UNANSWERED_OUT_OF_SCOPE, UNANSWERED_PARTIAL = "out_of_scope", "partial"


def looks_like_gibberish(text: str) -> bool:
    """「asdkjh qwe」「的的的的」, or a Chinese message of particles alone (「吗？」): no word
    that could be a policy question."""
    if is_gibberish(text):
        return True
    return any(is_han(char) for char in text) and not informative_words(text)


def policy_button(entry: PolicyEntry, language: str = CHINESE) -> Dict[str, str]:
    """A button that asks for one entry by id (titled in the user's language)."""
    payload = "/ask_policy" + json.dumps({"policy_id": entry.id}, ensure_ascii=False)
    return {"title": entry.title_in(language), "payload": payload}


def last_policy_topic(tracker: Tracker) -> Dict[str, str]:
    """``{"id": …, "question": …}`` of the entry answered last (empty when none)."""
    topic = tracker.get_slot("policy_topic")
    return topic if isinstance(topic, dict) else {}


def topic_events(entry: PolicyEntry, question: str, unanswered: Optional[str] = None) -> List[Dict[Text, Any]]:
    """Slots after answering ``question`` with ``entry``: the new conversation topic."""
    return [SlotSet("policy_topic", {"id": entry.id, "question": question}), SlotSet("topic", TOPIC_POLICY),
            SlotSet("unanswered", unanswered)]


def send_policy_answer(dispatcher: CollectingDispatcher, reply: answers.PolicyAnswer,
                       language: str = CHINESE) -> Optional[str]:
    """Send one answer in ``language``; return the ``unanswered`` value it leaves
    (``partial`` or None)."""
    lead = ""
    if reply.listed is True:
        lead = user_text("policy.listed", language, term=reply.listed_term)
    elif reply.listed is False:
        lead = user_text("policy.not_listed", language, term=reply.listed_term)
    dispatcher.utter_message(text=format_answer(reply.entry, language, reply.facts, lead))
    if reply.uncovered:
        dispatcher.utter_message(response="utter_policy_partial", parts=join_list(reply.uncovered, language))
    return None if reply.complete else UNANSWERED_PARTIAL


async def answer_in_context(dispatcher: CollectingDispatcher, tracker: Tracker, question: str,
                            *, follow_up_only: bool = False) -> Optional[List[Dict[Text, Any]]]:
    """Answer ``question`` against the conversation's last entry (or afresh); the slot
    events, or None when the knowledge base has nothing on it. With ``follow_up_only``
    only a follow-up of the last entry is answered (messages NLU did not read as
    policy questions)."""
    knowledge_base: KnowledgeBase = await asyncio.to_thread(KNOWLEDGE_BASE.get)
    topic = last_policy_topic(tracker)
    if follow_up_only and not topic:
        return None
    reply = await asyncio.to_thread(answers.answer, knowledge_base, question, topic.get("id"),
                                    topic.get("question", ""))
    if reply is None or (follow_up_only and not reply.follow_up):
        return None
    language = tracker_language(tracker)
    unanswered = send_policy_answer(dispatcher, reply, language)
    if not reply.follow_up:
        related = [m.entry for m in await asyncio.to_thread(knowledge_base.search, question)][1:]
        if related:
            dispatcher.utter_message(response="utter_policy_related",
                                     buttons=[policy_button(e, language) for e in related])
    # A follow-up keeps the question that named the programme, so the next one can build on it.
    kept_question = topic.get("question", "") if reply.follow_up and not answers.comparison_term(question) else question
    return topic_events(reply.entry, kept_question or question, unanswered)


class ActionAnswerPolicy(Action):
    """Answer a policy question (free text, or an entry chosen by button)."""

    def name(self) -> Text:
        return "action_answer_policy"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        knowledge_base = await asyncio.to_thread(KNOWLEDGE_BASE.get)
        chosen = entity_text(tracker, "policy_id")
        if chosen is not None and chosen in knowledge_base.by_id:
            entry = knowledge_base.by_id[chosen]
            dispatcher.utter_message(text=format_answer(entry, tracker_language(tracker)))
            return [SlotSet("policy_id", None), *topic_events(entry, entry.title)]
        text = message_text(tracker)
        # (Imported here: the matching and publishing actions use this module's answers.)
        from actions.publishing import answered_form_question

        answered = answered_form_question(tracker, text)
        if answered is not None:
            # 「四川或者重庆都行」 answering the form's question: the form, run next, takes it.
            return [SlotSet(answered, text)]
        if tracker.get_slot("topic") in ("supplier", "expert"):
            # 「那德阳呢」「第二家的产能呢」 after a match list follow that list, and so do bare
            # constraints the policy material happens to share words with (「四川的」
            # 「除了电子科技大学的」).
            from actions.conversation import conversation_follow_up
            from actions.matching import refine_with_constraints_only

            refined = await refine_with_constraints_only(dispatcher, tracker, text)
            if refined is not None:
                return [SlotSet("policy_id", None), *refined]
            if not await asyncio.to_thread(knowledge_base.search, text):
                follow_up = await conversation_follow_up(dispatcher, tracker, text)
                if follow_up is not None:
                    return follow_up
        if looks_like_gibberish(text):
            return [SlotSet("policy_id", None), *await cannot_handle(dispatcher, tracker)]
        events = await answer_in_context(dispatcher, tracker, text)
        if events is None:
            dispatcher.utter_message(response="utter_policy_not_found")
            events = [SlotSet("unanswered", UNANSWERED_NOT_FOUND)]
        return [SlotSet("policy_id", None), *events]


#: Words that point back at what was just said (「他们」「双方」「这个」): such a message
#: continues the conversation's last entry.
_REFERS_BACK = re.compile(
    r"他们|她们|它们|双方|两家|两者|这两|他|她|它|这个|那个|该项|其中|\b(?:they|them|it|this|that)\b", re.IGNORECASE)


#: A question about one thing (how many, when, who, whether), not for a list (哪些).
_ASKS_ONE_THING = re.compile(r"几|多少|多大|哪年|哪天|何时|什么时候|谁|是否|吗|\b(?:how (?:many|much)|when|who)\b",
                             re.IGNORECASE)
#: How much of a message read as something else (a search, a list request) the best entry
#: must cover for the message to be answered as a question about it.
POLICY_COVERAGE = 0.6


#: Words any list request uses (「川渝有几个合作项目」): naming only these asks about the list.
_LIST_WORDS = frozenset(
    "川渝 成渝 两地 双城 经济圈 合作 合作项目 项目 政策 项 policies policy programmes projects".split())


def covers_well(knowledge_base: KnowledgeBase, text: str) -> bool:
    """Whether the best entry covers at least :data:`POLICY_COVERAGE` of ``text``."""
    matches = knowledge_base.search(text)
    return bool(matches) and matches[0].coverage >= POLICY_COVERAGE


def _names_one_entry(knowledge_base: KnowledgeBase, text: str) -> bool:
    """Whether ``text`` names something of one entry beyond the words of any list request,
    and that entry covers it well."""
    return bool(set(informative_words(text)) - _LIST_WORDS) and covers_well(knowledge_base, text)


class ActionListPolicies(Action):
    """Show the topics of the knowledge base as buttons."""

    def name(self) -> Text:
        return "action_list_policies"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        knowledge_base = await asyncio.to_thread(KNOWLEDGE_BASE.get)
        text = message_text(tracker)
        subjects: List[str] = [] if text.startswith("/") else await asyncio.to_thread(
            knowledge_base.uncovered_subjects, text)
        if subjects:
            # 「成渝的人才落户政策是怎样的」 names a subject: answered as a question (honestly
            # "not found" when the material does not cover it), not with the list.
            events = await answer_in_context(dispatcher, tracker, text)
            if events is None:
                dispatcher.utter_message(response="utter_policy_not_found")
                events = [SlotSet("unanswered", UNANSWERED_NOT_FOUND)]
            return events
        asks_one_thing = _ASKS_ONE_THING.search(text) is not None
        if asks_one_thing and await asyncio.to_thread(_names_one_entry, knowledge_base, text):
            # 「一揽子合作项目是几加几」 asks about one entry, even if it says 项目: answer it.
            events = await answer_in_context(dispatcher, tracker, text)
            if events is not None:
                return events
        if _REFERS_BACK.search(text):
            # 「他们打算在哪些领域合作」 right after an answer asks about that entry, not for the list.
            events = await answer_in_context(dispatcher, tracker, text, follow_up_only=True)
            if events is not None:
                return events
        entries = knowledge_base.entries
        language = tracker_language(tracker)
        dispatcher.utter_message(
            response="utter_policy_list", count=len(entries), buttons=[policy_button(e, language) for e in entries]
        )
        return [SlotSet("unanswered", None)]
