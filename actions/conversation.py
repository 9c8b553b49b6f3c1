"""Conversation basics that need code: the fallback for messages not understood (the
second miss in a row hands the user to staff), and restarting with a confirmation."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import Restarted
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import REASON_FALLBACK, handoff_on_failure, start_handoff
from actions.policy import KNOWLEDGE_BASE, LIST_BUTTON
from bot.knowledge.base import format_answer

NLU_FALLBACK = "nlu_fallback"
#: A fallback message may still be a policy question in unusual words; answer it only
#: when the knowledge base covers nearly all of it (never a random policy answer).
CONFIDENT_COVERAGE = 0.8

HELP_BUTTON = {"title": "使用帮助", "payload": "/help"}
NOT_UNDERSTOOD_TEXT = "抱歉，我没有理解您的意思。可以换个说法再问一次吗？例如「联合研发项目支持哪些领域」。"
RESTARTED_TEXT = "对话已重新开始。请问有什么可以帮您？"


def misses_in_a_row(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    misses = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") != NLU_FALLBACK:
            break
        misses += 1
    return misses


class ActionFallback(Action):
    """Polite fallback; the second miss in a row is treated as a request for help:
    the user is handed to staff (with office hours and queue place)."""

    def name(self) -> Text:
        return "action_fallback"

    @handoff_on_failure
    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        text = tracker.latest_message.get("text") or ""
        matches = KNOWLEDGE_BASE.get().search(text)
        if matches and matches[0].coverage >= CONFIDENT_COVERAGE:
            dispatcher.utter_message(text=format_answer(matches[0].entry))
            return []
        if misses_in_a_row(tracker) >= 2:
            return start_handoff(dispatcher, tracker, REASON_FALLBACK)
        dispatcher.utter_message(text=NOT_UNDERSTOOD_TEXT, buttons=[LIST_BUTTON, HELP_BUTTON])
        return []


class ActionRestart(Action):
    """Rasa's restart, confirmed to the user (replaces the default action_restart)."""

    def name(self) -> Text:
        return "action_restart"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(text=RESTARTED_TEXT)
        return [Restarted()]
