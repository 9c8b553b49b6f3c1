"""Policy questions: answered by retrieval over the knowledge base, with the source."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from actions.inputs import entity_text, message_text
from bot.knowledge.base import KnowledgeBase, KnowledgeBaseFile, PolicyEntry, format_answer
from bot.settings import get_settings

#: Reloaded automatically when staff edit the file: no retraining needed.
KNOWLEDGE_BASE = KnowledgeBaseFile(get_settings().knowledge_base_path)


def policy_button(entry: PolicyEntry) -> Dict[str, str]:
    """A button that asks for one entry by id."""
    payload = "/ask_policy" + json.dumps({"policy_id": entry.id}, ensure_ascii=False)
    return {"title": entry.title, "payload": payload}


async def answer_question(
    dispatcher: CollectingDispatcher, knowledge_base: KnowledgeBase, question: str
) -> bool:
    """Answer ``question`` from the knowledge base; return False when nothing fits."""
    matches = await asyncio.to_thread(knowledge_base.search, question)
    if not matches:
        return False
    dispatcher.utter_message(text=format_answer(matches[0].entry))
    if len(matches) > 1:
        dispatcher.utter_message(
            response="utter_policy_related", buttons=[policy_button(m.entry) for m in matches[1:]]
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
        chosen = entity_text(tracker, "policy_id")
        if chosen is not None and chosen in knowledge_base.by_id:
            dispatcher.utter_message(text=format_answer(knowledge_base.by_id[chosen]))
        elif not await answer_question(
            dispatcher, knowledge_base, message_text(tracker)
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
        dispatcher.utter_message(
            response="utter_policy_list", count=len(entries), buttons=[policy_button(e) for e in entries]
        )
        return []
