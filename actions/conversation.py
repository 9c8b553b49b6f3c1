"""Conversation basics that need code: the fallback for messages not understood (the
second miss in a row hands the user to staff), and restarting with a confirmation."""
from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import handoff_on_failure
from actions.inputs import message_text
from actions.matching import matching_follow_up, refine_if_it_changes, refine_with_constraints_only
from actions.misses import cannot_handle
from actions.policy import KNOWLEDGE_BASE, UNANSWERED_OUT_OF_SCOPE, answer_in_context, topic_events
from bot.gibberish import is_gibberish, is_word_heap, knows_no_word
from bot.knowledge.base import format_answer
from bot.language import tracker_language

#: A fallback message may still be a policy question in unusual words; answer it only
#: when the knowledge base covers nearly all of it (never a random policy answer).
CONFIDENT_COVERAGE = 0.8


class ActionFallback(Action):
    """Polite fallback; the second miss in a row is treated as a request for help:
    the user is handed to staff (with office hours and queue place)."""

    def name(self) -> Text:
        return "action_fallback"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        follow_up = await conversation_follow_up(dispatcher, tracker, text)
        if follow_up is not None:
            return follow_up
        knowledge_base = await asyncio.to_thread(KNOWLEDGE_BASE.get)
        matches = await asyncio.to_thread(knowledge_base.search, text)
        if matches and matches[0].coverage >= CONFIDENT_COVERAGE:
            dispatcher.utter_message(text=format_answer(matches[0].entry, tracker_language(tracker)))
            return topic_events(matches[0].entry, text)
        return await cannot_handle(dispatcher, tracker)


async def conversation_follow_up(dispatcher: CollectingDispatcher, tracker: Tracker,
                                 text: str) -> Optional[List[Dict[Text, Any]]]:
    """Answer ``text`` as a follow-up of the current topic (the last policy entry, the
    last match list); None when it is not one. A message without a single word
    (「asdkjh qwe」), or of letters the assistant knows no word of, follows up nothing."""
    if is_gibberish(text) or knows_no_word(text):
        return None
    topic = tracker.get_slot("topic")
    if topic == "policy":
        return await answer_in_context(dispatcher, tracker, text, follow_up_only=True)
    if topic in ("supplier", "expert"):
        return (await matching_follow_up(dispatcher, tracker, text)
                or await refine_with_constraints_only(dispatcher, tracker, text)
                or await refine_if_it_changes(dispatcher, tracker, text))
    return None


class ActionOutOfScope(Action):
    """A message NLU reads as out of scope may still follow up the current topic
    (「那新基建算吗」 after a question about the fund); a heap of words asking nothing is
    not understood; otherwise say what we cover."""

    def name(self) -> Text:
        return "action_out_of_scope"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        follow_up = await conversation_follow_up(dispatcher, tracker, text)
        if follow_up is not None:
            return follow_up
        if await asyncio.to_thread(is_word_heap, text):
            # 「鹅卵石拖拉机紫色星期八」 asks nothing, so it is not understood rather than out of scope.
            return await cannot_handle(dispatcher, tracker)
        dispatcher.utter_message(response="utter_out_of_scope")
        return [SlotSet("unanswered", UNANSWERED_OUT_OF_SCOPE)]


#: Words that show a message is about the assistant itself (「你是机器人吗」「Are you a bot?」);
#: 「是谁组织的」 without them asks about the topic of the conversation.
_ABOUT_THE_ASSISTANT = re.compile(
    r"你|您|机器人|真人|人工智能|AI|助手|客服|自动回复|程序|\b(?:you|your|bot|robot|human|person)\b", re.IGNORECASE)


class AboutTheAssistant(ABC):
    """A question about the assistant itself, answered by :meth:`answer`; a message
    NLU read so that does not address the assistant (:attr:`addresses_assistant`) may
    follow up the conversation's topic instead, and then answers that. (A mixin, not an
    ``Action``: the action server registers every subclass of ``Action``.)"""

    #: Words that show the message is about the assistant, whatever the topic.
    addresses_assistant: "re.Pattern[str]" = _ABOUT_THE_ASSISTANT

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        text = message_text(tracker)
        if not self.addresses_assistant.search(text):
            follow_up = await conversation_follow_up(dispatcher, tracker, text)
            if follow_up is not None:
                return follow_up
        self.answer(dispatcher)
        return [SlotSet("unanswered", None)]

    @abstractmethod
    def answer(self, dispatcher: CollectingDispatcher) -> None:
        """Send the answer to the question about the assistant."""


class ActionBotChallenge(AboutTheAssistant, Action):
    """「你是谁」「你是机器人还是真人」: say what the assistant is. A who-question about
    the conversation's topic (「是谁组织的」 after a policy answer) is answered instead."""

    def answer(self, dispatcher: CollectingDispatcher) -> None:
        dispatcher.utter_message(response="utter_bot_challenge")

    def name(self) -> Text:
        return "action_bot_challenge"


class ActionHelp(AboutTheAssistant, Action):
    """「你能做什么」: what the assistant does. A message NLU reads as asking for help that
    does not address the assistant (「我们公司能申请吗，门槛是什么」 after a policy answer)
    follows up the topic instead; 「怎么用」「有什么功能」 is a request for help in any context."""

    addresses_assistant = re.compile(
        _ABOUT_THE_ASSISTANT.pattern + r"|怎么用|如何用|使用|功能|帮助|菜单|说明|能问|问什么|不会用"
        r"|\b(?:help|menu|how to use)\b",
        re.IGNORECASE,
    )

    def answer(self, dispatcher: CollectingDispatcher) -> None:
        dispatcher.utter_message(response="utter_help")

    def name(self) -> Text:
        return "action_help"


class ActionDeny(Action):
    """「不要重庆的」 after a match list is an exclusion, not a "no": refine the list when the
    message changes its request; otherwise acknowledge the "no"."""

    def name(self) -> Text:
        return "action_deny"

    @handoff_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        if tracker.get_slot("topic") in ("supplier", "expert"):
            refined = await refine_if_it_changes(dispatcher, tracker, message_text(tracker))
            if refined is not None:
                return refined
        dispatcher.utter_message(response="utter_deny_ack")
        return []


class ActionRestart(Action):
    """Rasa's restart, confirmed to the user (replaces the default action_restart)."""

    def name(self) -> Text:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(response="utter_restarted")
        return [Restarted()]
