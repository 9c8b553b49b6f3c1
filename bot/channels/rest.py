"""The REST channel (``POST /webhooks/rest/webhook``) with the project's input checks.

Rasa's own REST channel passes any text to the assistant. This one first refuses what
no assistant should process (empty, non-text or oversized messages) with a clear reply,
exactly like the other channels do (:func:`bot.channels.common.rejection_for_user_text`).
REST is request–response: it is meant for integrations, tests and benchmarks; staff
replies cannot be pushed to it later.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

from bot.channels.common import rejection_for_user_text
from bot.metrics import instrumented


class CheckedRestInput(RestInput):
    """REST input channel that answers bad input itself instead of passing it on."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def _extract_message(self, req: Request) -> Optional[Text]:
        message = (req.json or {}).get("message")
        return message if isinstance(message, str) else None  # numbers, lists: refused

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[None]]
    ) -> Blueprint:
        async def checked_on_new_message(message: UserMessage) -> None:
            rejection = rejection_for_user_text(message.text)
            if rejection:
                await message.output_channel.send_text_message(message.sender_id, rejection)
                return
            await on_new_message(message)

        return super().blueprint(instrumented(checked_on_new_message, self.name()))
