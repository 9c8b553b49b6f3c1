"""Policy questions: answered by retrieval over the knowledge base, with the source."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from bot.knowledge.base import KnowledgeBase, KnowledgeBaseFile, PolicyEntry, format_answer
from bot.language import CHINESE, tracker_language
from bot.settings import get_settings

#: Reloaded automatically when staff edit the file: no retraining needed.
KNOWLEDGE_BASE = KnowledgeBaseFile(get_settings().knowledge_base_path)


def policy_button(entry: PolicyEntry, language: str = CHINESE) -> Dict[str, str]:
    """A button that asks for one entry by id (titled in the user's language)."""
    payload = "/ask_policy" + json.dumps({"policy_id": entry.id}, ensure_ascii=False)
    return {"title": entry.title_in(language), "payload": payload}


async def answer_question(
    dispatcher: CollectingDispatcher, knowledge_base: KnowledgeBase, question: str, language: str = CHINESE
) -> bool:
    """Answer ``question`` from the knowledge base in ``language``; return False when nothing fits."""
    matches = await asyncio.to_thread(knowledge_base.search, question)
    if not matches:
        return False
    dispatcher.utter_message(text=format_answer(matches[0].entry, language))
    if len(matches) > 1:
        dispatcher.utter_message(
            response="utter_policy_related", buttons=[policy_button(m.entry, language) for m in matches[1:]]
        )
    return True


class ActionAnswerPolicy(Action):
    """Answer a policy question (free text, or an entry chosen by button)."""

    def name(self) -> Text:
        return "action_answer_policy"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        knowledge_base = await asyncio.to_thread(KNOWLEDGE_BASE.get)
        language = tracker_language(tracker)
        chosen: Optional[str] = next(tracker.get_latest_entity_values("policy_id"), None)
        if chosen in knowledge_base.by_id:
            dispatcher.utter_message(text=format_answer(knowledge_base.by_id[chosen], language))
        elif not await answer_question(
            dispatcher, knowledge_base, tracker.latest_message.get("text") or "", language
        ):
            dispatcher.utter_message(response="utter_policy_not_found")
        return [SlotSet("policy_id", None)]


class ActionListPolicies(Action):
    """Show the topics of the knowledge base as buttons."""

    def name(self) -> Text:
        return "action_list_policies"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        entries = (await asyncio.to_thread(KNOWLEDGE_BASE.get)).entries
        language = tracker_language(tracker)
        dispatcher.utter_message(
            response="utter_policy_list", count=len(entries), buttons=[policy_button(e, language) for e in entries]
        )
        return []
