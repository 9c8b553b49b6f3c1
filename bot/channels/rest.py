"""The REST channel (``POST /webhooks/rest/webhook``) for integrations, tests and benchmarks.

Request ``{"sender": "<id>", "message": "<text>", "metadata": {…}}``; answer: the bot's
messages as a JSON list (Rasa's REST format). Compared with Rasa's own REST channel:

* **who may call**: with ``REST_API_KEY`` set, every call must carry it
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``); without one, only callers
  on this machine (loopback, e.g. ``make run``'s demo and local tests) are served.
  Anything else is refused with 401/403 and a reason;
* **whose conversation**: the caller's ``sender`` lives in its own namespace
  (``rest:<sender>``), so a REST caller can never name a widget, Telegram or WeChat
  user's conversation, and ``input_channel`` is always ``rest`` (a caller cannot make
  staff replies go to another network). A sender with characters a conversation id
  cannot hold (spaces, commas, Chinese: :func:`bot.channels.common.is_valid_channel_user_id`)
  gets a stable id of its own (``rest:h-<hash>``). A missing, empty, non-text, overlong
  (over 128 characters) or unstorable sender is refused (400) instead of sharing one
  ``default`` conversation. The answer names the sender as the caller sent it;
* **what may go in**: a body that is not a JSON object, metadata that is not an object
  (or holds text that cannot be stored), an invalid sender: 400 with the reason. A
  message that is empty, too long or holds a lone surrogate gets the same clear reply
  as on every other channel (:func:`bot.channels.common.checked_user_text`).

The rules of a call (who, what, whose conversation) live in :mod:`bot.channels.rest_calls`,
which the web gateway applies too. A message the gateway has already shown in the staff
console arrives with its id (:data:`~bot.channels.rest_calls.CONSOLE_MESSAGE_ID_HEADER`),
which the message keeps; the answer confirms it (``X-Console-Message-Taken``) once the
assistant has taken the turn.

REST is request–response: staff replies cannot be pushed to it later.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import REST_CHANNEL_PREFIX, checked_user_text
from bot.channels.payloads import conversation_language, payload_answer
from bot.channels.rest_calls import (
    CONSOLE_MESSAGE_ID_HEADER,
    CONSOLE_MESSAGE_TAKEN_HEADER,
    RestRequestRefused,
    is_console_message_id,
    read_call,
)
from bot.channels.service import BusyNotice
from bot.messages import user_text
from bot.metrics import instrumented
from bot.settings import get_settings

logger = logging.getLogger(__name__)


class CheckedRestInput(InputChannel):
    """The REST input channel with the checks of the module doc."""

    @classmethod
    def name(cls) -> Text:
        return REST_CHANNEL_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint("custom_webhook_CheckedRestInput", __name__)
        on_new_message = instrumented(on_new_message, self.name())
        busy = BusyNotice(self.name())
        if not get_settings().rest_api_key:
            logger.warning("REST_API_KEY is not set: the REST webhook serves callers on this machine only")

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                call = read_call(request.headers, request.ip or "", request.body, get_settings().rest_api_key)
            except RestRequestRefused as refused:
                return response.json({"error": refused.reason}, status=refused.status)
            sender_id = call.conversation_id
            agent = getattr(request.app.ctx, "agent", None)
            collector = CollectingOutputChannel()
            answer_headers: Dict[str, str] = {}
            text, rejection = checked_user_text(call.message)
            rejection = rejection or await payload_answer(text, sender_id, agent)
            if rejection:
                await collector.send_text_message(sender_id, rejection)
            else:
                message_id = request.headers.get(CONSOLE_MESSAGE_ID_HEADER)
                shown = is_console_message_id(message_id)
                message = UserMessage(
                    text,
                    collector,
                    sender_id,
                    input_channel=self.name(),
                    message_id=message_id if shown else None,
                    metadata=call.metadata,
                )
                try:
                    await busy.handle(on_new_message, message)
                    if shown and agent is not None and agent.is_ready():
                        answer_headers[CONSOLE_MESSAGE_TAKEN_HEADER] = message.message_id
                except Exception:
                    logger.exception("REST turn of %s failed", sender_id)
                    language = await conversation_language(sender_id, agent, text)
                    await collector.send_text_message(sender_id, user_text("channel.turn_failed", language))
            return response.json(_as_sent_to(collector.messages, call.sender), headers=answer_headers)

        return webhook


def _as_sent_to(messages: List[Dict[str, Any]], sender: str) -> List[Dict[str, Any]]:
    """The bot's messages addressed to the sender id the caller used."""
    return [{**message, "recipient_id": sender} for message in messages]
