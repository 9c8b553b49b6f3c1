"""What every channel does when the assistant's services cannot answer a user.

When the action server is down, Rasa logs the failed custom action and ends the turn
without a word: the user waits for an answer that never comes. :class:`BusyNotice`
runs a turn and, when it sent the user nothing and the action server does not answer
its health check, tells the user plainly that the service is busy
(``service.busy`` in :mod:`bot.messages`) and records it for staff (an audit entry
``service_busy`` in the console's log and a figure on its figures page). The check
costs nothing on turns that answered, and the next turn after the action server is
back is answered normally. A turn that raises is left to the channel (Rasa does not
raise for a failed action).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict

import aiohttp
from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.channels.payloads import conversation_language, running_agent
from bot.messages import user_text
from bot.settings import get_settings

logger = logging.getLogger(__name__)

#: How long one health check of the action server may take.
HEALTH_TIMEOUT_S = 2.0
#: A failed check is reused this long, so a burst of silent turns checks once.
DOWN_REMEMBERED_S = 1.0
#: Audit action recorded for staff each time users were told the service is busy.
AUDIT_ACTION = "service_busy"
#: Who the audit entry names.
AUDIT_ACTOR = "assistant"


def action_server_health_url(webhook_url: str) -> str:
    """``http://host:5055/webhook`` → ``http://host:5055/health`` (rasa_sdk's health route)."""
    base = webhook_url.rstrip("/")
    if base.endswith("/webhook"):
        base = base[: -len("/webhook")]
    return f"{base}/health"


class _SendWatch:
    """Tells whether an output channel sent anything since it was watched."""

    def __init__(self, output: OutputChannel) -> None:
        self.sent = False
        send_response = output.send_response

        async def watched_send_response(recipient_id: str, message: Dict[str, Any]) -> None:
            self.sent = True
            await send_response(recipient_id, message)

        output.send_response = watched_send_response


class BusyNotice:
    """Runs turns of one channel and answers the ones the services left silent."""

    def __init__(self, channel_name: str) -> None:
        self.channel_name = channel_name
        #: How many users were told the service is busy (this process).
        self.notices_sent = 0
        self._down_until = 0.0
        self._store: Any = None

    async def handle(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage
    ) -> None:
        """Run ``message``'s turn; see the module doc for what a silent turn gets."""
        output = message.output_channel
        watch = _SendWatch(output)
        await on_new_message(message)  # failures are the channel's to answer
        if not watch.sent and not await self._action_server_up():
            language = await conversation_language(message.sender_id, running_agent(), message.text)
            await self._tell_busy(output, message.sender_id, language)

    async def _action_server_up(self) -> bool:
        if time.monotonic() < self._down_until:
            return False
        url = action_server_health_url(get_settings().action_server_url)
        try:
            timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
        self._down_until = time.monotonic() + DOWN_REMEMBERED_S
        return False

    async def _tell_busy(self, output: OutputChannel, sender_id: str, language: str) -> None:
        logger.warning("%s: the action server is down; told %s the service is busy", self.channel_name, sender_id)
        self.notices_sent += 1
        await output.send_text_message(sender_id, user_text("service.busy", language))
        try:
            await asyncio.to_thread(self._record, sender_id)
        except Exception:  # the user has the notice; staff's count is best effort
            logger.exception("could not record a busy notice for staff")

    def _record(self, sender_id: str) -> None:
        from bot.handoff.store import HandoffStore

        if self._store is None:
            settings = get_settings()
            self._store = HandoffStore(settings.handoff_database_url, settings.office_timezone)
        self._store.audit(AUDIT_ACTOR, AUDIT_ACTION, sender_id, detail=self.channel_name)

