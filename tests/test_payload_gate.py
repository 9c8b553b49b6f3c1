"""A user may send only the payloads of buttons offered to them, never while staff hold
the conversation: typed ``/restart`` or ``/inform{…}`` reach no intent, action or slot."""
from __future__ import annotations

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.payloads import conversation_language, payload_answer, payload_refusal, refusal_for_events
from bot.messages import user_text

pytestmark = pytest.mark.asyncio

BUTTONS = {
    "buttons": [{"title": "查政策", "payload": "/ask_policy"}, {"title": "找供应商", "payload": "/find_supplier"}]
}


class Agent:
    def __init__(self, tracker):
        self.tracker_store = self
        self._tracker = tracker

    async def retrieve(self, sender_id):
        return self._tracker


def tracker(*events):
    return DialogueStateTracker.from_events("web:u", list(events))


async def test_offered_buttons_pass_and_typed_payloads_are_refused():
    offered = tracker(
        ActionExecuted("action_listen"), UserUttered("你好"), BotUttered("请选择", data=BUTTONS)
    )
    agent = Agent(offered)
    assert await payload_refusal("/ask_policy", "web:u", agent) is None
    assert await payload_refusal("查政策", "web:u", agent) is None  # text is never affected
    for typed in ("/restart", '/inform{"company": "x"}', "/ask_policy{\"topic\": \"x\"}", " /session_start"):
        assert await payload_refusal(typed, "web:u", agent) == user_text("input.payload_not_offered")
    assert await payload_refusal("/greet", "web:u", Agent(None)) is None  # the widget's opening payload


async def test_the_opening_payload_may_carry_the_page_language_and_nothing_else():
    assert refusal_for_events('/greet{"language":"en"}', [], paused=False) is None
    assert refusal_for_events('/greet{"language": "zh"}', [], paused=False) is None
    for forged in ('/greet{"language":"fr"}', '/greet{"company":"x"}', '/greet{"language":"en","topic":"x"}',
                   '/greet{language}', '/greeting'):
        assert refusal_for_events(forged, [], paused=False) == user_text("input.payload_not_offered"), forged


async def test_buttons_expire_once_the_user_wrote_again():
    events = [
        BotUttered("请选择", data=BUTTONS).as_dict(),
        UserUttered("我自己说吧").as_dict(),
        BotUttered("好的").as_dict(),
    ]
    assert refusal_for_events("/ask_policy", events, paused=False) == user_text("input.payload_not_offered")


async def test_no_payload_passes_while_staff_hold_the_conversation():
    held = tracker(UserUttered("转人工"), BotUttered("请选择", data=BUTTONS), ConversationPaused())
    agent = Agent(held)
    for payload in ("/restart", "/ask_policy"):
        assert await payload_refusal(payload, "web:u", agent) == user_text("input.payload_while_staff")
    assert await payload_refusal("我还在等", "web:u", agent) is None


async def test_an_english_conversation_is_refused_and_thanked_in_english():
    from rasa.shared.core.events import SlotSet

    english = tracker(SlotSet("language", "en"), UserUttered("Find seat suppliers"), BotUttered("Which?", data=BUTTONS))
    agent = Agent(english)
    assert await payload_refusal("/restart", "web:u", agent) == user_text("input.payload_not_offered", "en")
    held = Agent(tracker(SlotSet("language", "en"), UserUttered("talk to staff"), ConversationPaused()))
    assert await payload_refusal("/ask_policy", "web:u", held) == user_text("input.payload_while_staff", "en")
    # a rating the assistant cannot read is explained in the conversation's language too
    assert await payload_answer('/rate_service{"score": 9}', "web:u", agent) == user_text("rating.invalid", "en")
    assert await payload_answer('/rate_service{"score": 9}', "web:u", Agent(tracker())) == user_text("rating.invalid")


async def test_the_language_of_a_new_message_comes_before_the_conversations():
    chinese = Agent(tracker(UserUttered("你好")))
    assert await conversation_language("web:u", chinese, "Find seat suppliers in Chengdu") == "en"
    assert await conversation_language("web:u", chinese, "16949") == "zh"
    assert await conversation_language("web:u", None) == "zh"
