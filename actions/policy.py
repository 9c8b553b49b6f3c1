"""Policy questions: answered by retrieval over the knowledge base, with the source."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from bot.knowledge.base import KnowledgeBase, KnowledgeBaseFile, PolicyEntry, format_answer
from bot.settings import get_settings

NOT_FOUND_TEXT = (
    "抱歉，我的政策知识库中没有找到与您问题相符的内容，我不想给您不准确的信息。\n"
    "您可以换个说法、查看政策列表，或输入「转人工」咨询工作人员。"
)
LIST_BUTTON = {"title": "了解合作政策", "payload": "/list_policies"}

#: Reloaded automatically when staff edit the file: no retraining needed.
KNOWLEDGE_BASE = KnowledgeBaseFile(get_settings().knowledge_base_path)


def policy_button(entry: PolicyEntry) -> Dict[str, str]:
    """A button that asks for one entry by id."""
    payload = "/ask_policy" + json.dumps({"policy_id": entry.id}, ensure_ascii=False)
    return {"title": entry.title, "payload": payload}


def answer_question(
    dispatcher: CollectingDispatcher, knowledge_base: KnowledgeBase, question: str
) -> bool:
    """Answer ``question`` from the knowledge base; return False when nothing fits."""
    matches = knowledge_base.search(question)
    if not matches:
        return False
    dispatcher.utter_message(text=format_answer(matches[0].entry))
    if len(matches) > 1:
        dispatcher.utter_message(
            text="您的问题也可能与下面这项内容有关，点击即可查看：",
            buttons=[policy_button(m.entry) for m in matches[1:]],
        )
    return True


class ActionAnswerPolicy(Action):
    """Answer a policy question (free text, or an entry chosen by button)."""

    def name(self) -> Text:
        return "action_answer_policy"

    @handoff_on_failure
    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        knowledge_base = KNOWLEDGE_BASE.get()
        chosen: Optional[str] = next(tracker.get_latest_entity_values("policy_id"), None)
        if chosen in knowledge_base.by_id:
            dispatcher.utter_message(text=format_answer(knowledge_base.by_id[chosen]))
        elif not answer_question(
            dispatcher, knowledge_base, tracker.latest_message.get("text") or ""
        ):
            dispatcher.utter_message(text=NOT_FOUND_TEXT, buttons=[LIST_BUTTON])
        return [SlotSet("policy_id", None)]


class ActionListPolicies(Action):
    """Show the topics of the knowledge base as buttons."""

    def name(self) -> Text:
        return "action_list_policies"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        entries = KNOWLEDGE_BASE.get().entries
        dispatcher.utter_message(
            text=f"目前可以为您解答以下{len(entries)}项川渝合作政策与成果，点击查看，或直接输入您的问题：",
            buttons=[policy_button(e) for e in entries],
        )
        return []
