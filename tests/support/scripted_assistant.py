"""A scripted stand-in for Rasa, for the channel tests (Telegram, WeChat, WeCom).

:class:`ScriptedAssistant` is given to a channel's ``blueprint`` as Rasa's
``on_new_message``: it records each user message and answers through the message's
real output channel the way Rasa does (``send_response``). :func:`staff_reply_through_rasa`
delivers a staff reply the way Rasa's HTTP API does for the console.
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, Awaitable, Dict, List

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.server import _get_output_channel
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.common import staff_reply_event

#: A Rasa button payload longer than Telegram's 64-byte callback_data limit.
SUPPLIER_PAYLOAD = '/find_supplier{"product": "铝合金轮毂", "city": "重庆", "certification": "IATF 16949"}'
SUPPLIER_MATCHES = {
    "type": "supplier_matches",
    "items": [
        {"company_id": "C001", "name": "重庆渝轮铝业有限公司", "product_id": "P01",
         "region": "重庆", "city": "渝北区", "reasons": ["产品：铝合金轮毂", "具备 IATF 16949"]},
        {"company_id": "C002", "name": "成都蜀达汽车零部件有限公司", "product_id": "P07",
         "region": "四川", "city": "成都", "reasons": ["产品：铝合金轮毂", "四川供应商，跨区域可选"]},
    ],
}
#: How the matching actions send a list: as text, then as a payload for widgets.
SUPPLIER_LIST_TEXT = "为您找到 2 家供应商：\n1. 重庆渝轮铝业有限公司\n2. 成都蜀达汽车零部件有限公司"


def greeting() -> Dict[str, Any]:
    """The answer to ``/greet`` (a new dict each time: output channels consume it)."""
    return {"text": "您好！我可以帮您：", "buttons": [
        {"title": "政策咨询", "payload": "/ask_policy"},
        {"title": "找供应商", "payload": SUPPLIER_PAYLOAD},
    ]}


def english_greeting() -> Dict[str, Any]:
    """The answer to ``Hello there`` (an English conversation's greeting)."""
    return {"text": "Hello! I can help you with:", "buttons": [
        {"title": "Policies", "payload": "/ask_policy"},
        {"title": "Find suppliers", "payload": SUPPLIER_PAYLOAD},
    ]}


def answer_to(text: str) -> str:
    """The scripted answer to any other message."""
    return f"关于「{text}」的回答"


class ScriptedAssistant:
    """Plays Rasa's part. The script:

    ``/greet`` → a greeting with two buttons (``Hello there``: in English); the supplier button's payload → a match
    list sent only as a payload; ``找供应商`` → the list as text, then as a payload;
    ``出错`` → the turn fails; ``长答案`` → :attr:`long_answer`; anything else →
    :func:`answer_to`. Each answer comes ``answer_delay`` seconds after the message.
    """

    def __init__(self, long_answer: str = "", answer_delay: float = 0.0) -> None:
        self.long_answer = long_answer
        self.answer_delay = answer_delay
        self.received: List[UserMessage] = []

    @property
    def texts(self) -> List[str]:
        """The texts of the user messages received so far."""
        return [message.text for message in self.received]

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await asyncio.sleep(self.answer_delay)
        reply: Dict[str, Any]
        if message.text == "/greet":
            reply = greeting()
        elif message.text == "Hello there":
            reply = english_greeting()
        elif message.text == SUPPLIER_PAYLOAD:
            reply = {"custom": SUPPLIER_MATCHES}
        elif message.text == "找供应商":
            await message.output_channel.send_response(message.sender_id, {"text": SUPPLIER_LIST_TEXT})
            reply = {"custom": SUPPLIER_MATCHES}
        elif message.text == "出错":
            raise RuntimeError("the assistant failed")
        elif message.text == "长答案":
            reply = {"text": self.long_answer}
        else:
            reply = {"text": answer_to(message.text)}
        await message.output_channel.send_response(message.sender_id, reply)


def staff_reply_through_rasa(
    channel: InputChannel, sender_id: str, text: str, staff: str
) -> Awaitable[None]:
    """What Rasa's ``POST /conversations/{id}/tracker/events?output_channel=latest
    &execute_side_effects=true`` does with the console's staff event: find the output
    channel of the channel the user last wrote on, and send the event through it."""
    channel_name = sender_id.split(":", 1)[0]
    tracker = DialogueStateTracker.from_events(
        sender_id, [UserUttered("转人工", input_channel=channel_name)]
    )
    request = SimpleNamespace(
        args={"output_channel": "latest"},
        app=SimpleNamespace(ctx=SimpleNamespace(input_channels=[channel])),
    )
    output_channel = _get_output_channel(request, tracker)
    event = Event.from_parameters(staff_reply_event(text, staff))
    return MessageProcessor._send_bot_messages([event], tracker, output_channel)
